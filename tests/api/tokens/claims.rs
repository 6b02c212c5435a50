//! The access token's shape: exactly the specified header and claims, the
//! issuer and audience the settings chose, a fresh `jti` each time. What
//! makes a token rejected is in `rejections.rs`.

use serde_json::{Value, json};

use super::helpers::{Options, now, segment, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_access_token_has_exactly_the_specified_header_and_claims() {
    let Some(app) = spawn_app().await else { return };
    let before = now();

    let (_, access, _) = app.signed_up_user().await;

    let header = segment(&access, 0);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "at+jwt", "kid": app.active_kid()})
    );
    let c = segment(&access, 1);
    let mut names: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        ["aud", "client_id", "exp", "iat", "iss", "jti", "nbf", "scope", "sub"]
    );
    assert_eq!(c["client_id"], "sigil", "the public client (RFC 9068 §2.2)");
    // Not the issuer the server reports: by default it is `http://` + the
    // address the server listens on, which is the one this test dialed.
    assert_eq!(c["iss"], app.address, "the default issuer");
    assert_eq!(
        c["aud"], app.address,
        "the documented default audience is the issuer"
    );
    assert!(uuid::Uuid::parse_str(c["sub"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok());
    assert_eq!(c["scope"], "profile");
    let iat = c["iat"].as_i64().unwrap();
    assert!(iat >= before && iat <= now());
    assert_eq!(c["nbf"].as_i64().unwrap(), iat);
    assert_eq!(
        c["exp"].as_i64().unwrap(),
        iat + 900,
        "15 minutes by default"
    );
}

#[tokio::test]
async fn a_configured_issuer_and_audience_are_the_iss_and_aud_of_every_access_token() {
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.issuer = Some(CONFIGURED_ISSUER.to_owned());
            s.audience = Some(CONFIGURED_AUDIENCE.to_owned());
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };

    let (_, access, refresh) = app.signed_up_user().await;
    let refreshed: Value = app.refresh(&refresh).await.json().await.unwrap();

    for token in [access.as_str(), refreshed["access_token"].as_str().unwrap()] {
        let c = segment(token, 1);
        assert_eq!(c["iss"], CONFIGURED_ISSUER);
        assert_eq!(c["aud"], CONFIGURED_AUDIENCE);
    }
    assert_eq!(app.get("/me", Some(&access)).await.status(), 200);
}

/// Chosen by the test, unlike anything the server would make up.
const CONFIGURED_ISSUER: &str = "https://issuer.test/tenant-a";
const CONFIGURED_AUDIENCE: &str = "https://api.test";

#[tokio::test]
async fn every_token_gets_a_fresh_jti() {
    let Some(app) = spawn_app().await else { return };
    let (_, a, refresh) = app.signed_up_user().await;
    let body: Value = app.refresh(&refresh).await.json().await.unwrap();

    let b = body["access_token"].as_str().unwrap();

    assert_ne!(segment(&a, 1)["jti"], segment(b, 1)["jti"]);
}
