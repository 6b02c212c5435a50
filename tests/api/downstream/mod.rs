//! `sigil::verify` as another service uses it: a downstream app (axum with
//! the tower layer, poem with the middleware) protects its routes with
//! sigil's tokens, checked against a real sigil's JWK Set. Both apps go
//! through the same scenario, so they answer alike, and alike to sigil's own
//! routes. `lightness` checks that the verifier features pull in nothing of
//! the server.

mod lightness;
mod poem_app;
mod readme_program;
mod tower_app;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Response;
use serde_json::{Value, json};
use sigil::keys::{KeyFolder, KeyState};
use sigil::token::access::ACCESS_TOKEN_TYPE;
use sigil::verify::JwksVerifier;

use crate::helpers::{TestApp, b64, now, segment};

/// The verifier a downstream service would build for `app`, with default
/// settings: keys are refetched for an unknown kid at most every 30 s.
fn verifier_for(app: &TestApp) -> Arc<JwksVerifier> {
    Arc::new(JwksVerifier::new(
        app.url("/.well-known/jwks.json").parse().unwrap(),
        &app.issuer,
        &app.issuer,
    ))
}

/// Claims a sigil token for `app` would carry, valid for ten minutes.
fn claims_for(app: &TestApp, scope: &str) -> Value {
    let t = now();
    json!({
        "iss": app.issuer, "sub": uuid::Uuid::new_v4().to_string(), "aud": app.issuer,
        "exp": t + 600, "iat": t, "nbf": t,
        "jti": uuid::Uuid::new_v4().to_string(), "scope": scope
    })
}

/// Signs `claims` as an access token with the server's key in `state`, read
/// from the server's keys folder: for tokens sigil would not issue itself
/// (expired, another audience, signed by the `next` key).
fn sign_with_key(app: &TestApp, state: KeyState, claims: &Value) -> String {
    let set = KeyFolder::new(&app.keys_dir).load().unwrap();
    let key = set
        .keys()
        .iter()
        .find(|key| key.state() == state)
        .unwrap_or_else(|| panic!("the server has a {state} key"));
    sigil::token::jws::sign(key, ACCESS_TOKEN_TYPE, claims)
}

/// `token` with a header naming a kid nobody published.
fn with_unknown_kid(token: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "a-kid-nobody-published"});
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header.to_string().as_bytes()))
}

/// What a refusal looks like from outside: status, challenge, content type
/// and problem type and title.
#[derive(Debug, PartialEq)]
struct Refusal {
    status: u16,
    www_authenticate: Option<String>,
    content_type: String,
    problem_type: Value,
    title: Value,
}

async fn refusal(resp: Response) -> Refusal {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let www_authenticate = header("www-authenticate");
    let content_type = header("content-type").unwrap_or_default();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    Refusal {
        status,
        www_authenticate,
        content_type,
        problem_type: body["type"].clone(),
        title: body["title"].clone(),
    }
}

async fn get(base: &str, path: &str, authorization: Option<&str>) -> Response {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// A verifier whose issuer cannot be reached: no key set can ever be fetched.
fn verifier_without_keys(app: &TestApp) -> Arc<JwksVerifier> {
    Arc::new(JwksVerifier::new(
        "http://127.0.0.1:1/.well-known/jwks.json".parse().unwrap(),
        &app.issuer,
        &app.issuer,
    ))
}

/// With no key set to check against, the app behind the middleware at
/// `base` answers a bearer request 503, without a challenge (the token may be
/// fine).
async fn assert_answers_503_without_keys(app: &TestApp, base: &str) {
    let (_, user, _) = app.signed_up_user().await;

    let resp = get(base, "/whoami", Some(&format!("Bearer {user}"))).await;

    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("www-authenticate").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "urn:sigil:problem:unavailable");
}

/// The downstream app at `base` serves `/whoami` to any valid token and
/// `/admin` to tokens with the `admin` scope, answering with the claims it
/// was handed as `{"sub", "scope"}`. Checks every case of the issue against
/// it, then rotates the server's keys and checks again.
async fn assert_protects_routes_like_sigil(app: &TestApp, base: &str) {
    let (_, user, _) = app.signed_up_user().await;
    let me: Value = app.get("/me", Some(&user)).await.json().await.unwrap();
    let bearer = |token: &str| format!("Bearer {token}");

    // A valid token: the handler sees its claims.
    let resp = get(base, "/whoami", Some(&bearer(&user))).await;
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["sub"], me["id"], "the handler got the token's claims");
    assert_eq!(seen["scope"], "profile");

    // No token, or another scheme: 401 `Bearer`, as sigil answers.
    for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
        let downstream = refusal(get(base, "/whoami", authorization).await).await;
        let sigil = refusal(get(&app.address, "/me", authorization).await).await;
        assert_eq!(downstream.www_authenticate.as_deref(), Some("Bearer"));
        assert_eq!(downstream, sigil, "{authorization:?}");
    }

    // Tokens that fail a check: 401 `invalid_token`, as sigil answers.
    let mut expired = claims_for(app, "profile");
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 4200);
    expired["nbf"] = expired["iat"].clone();
    let mut wrong_audience = claims_for(app, "profile");
    wrong_audience["aud"] = json!("https://another-api.example");
    let failing = [
        ("expired", sign_with_key(app, KeyState::Active, &expired)),
        (
            "wrong audience",
            sign_with_key(app, KeyState::Active, &wrong_audience),
        ),
        ("unknown kid", with_unknown_kid(&user)),
    ];
    for (case, token) in &failing {
        let downstream = refusal(get(base, "/whoami", Some(&bearer(token))).await).await;
        let sigil = refusal(app.get("/me", Some(token)).await).await;
        assert_eq!(
            downstream.www_authenticate.as_deref(),
            Some(r#"Bearer error="invalid_token""#),
            "{case}"
        );
        assert_eq!(downstream, sigil, "{case}");
    }

    // A valid token without the required scope: 403, as sigil answers.
    let downstream = refusal(get(base, "/admin", Some(&bearer(&user))).await).await;
    let sigil = refusal(app.get("/admin/users", Some(&user)).await).await;
    assert_eq!(
        downstream.www_authenticate.as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="admin""#)
    );
    assert_eq!(downstream, sigil);
    let admin = app.admin_token().await;
    let resp = get(base, "/admin", Some(&bearer(&admin))).await;
    assert_eq!(resp.status(), 200);

    // A token signed by the published `next` key is accepted already.
    let next = sign_with_key(app, KeyState::Next, &claims_for(app, "profile"));
    let resp = get(base, "/whoami", Some(&bearer(&next))).await;
    assert_eq!(resp.status(), 200, "a token of the next key");

    // Rotation: the next key signs, the old one retires. The downstream
    // verifier fetched its set before; it must accept both without a miss.
    let old_kid = segment(&user, 0)["kid"].as_str().unwrap().to_owned();
    sigil::keys::KeyFolder::new(&app.keys_dir)
        .rotate(sigil::keys::RotateOptions {
            alg: sigil::keys::Algorithm::EdDsa,
            rsa_bits: 2048,
            min_next_age: Duration::ZERO,
            force: false,
            grace: Duration::from_secs(960),
        })
        .unwrap();
    // The folder's watcher may reload first; either way the set is current after this.
    app.reloader
        .reload(sigil::reload::Trigger::Signal)
        .await
        .unwrap();
    let (_, after, _) = app.signed_up_user().await;
    assert_ne!(
        segment(&after, 0)["kid"],
        old_kid.as_str(),
        "a new key signs"
    );
    let resp = get(base, "/whoami", Some(&bearer(&after))).await;
    assert_eq!(resp.status(), 200, "a token of the new active key");
    let resp = get(base, "/whoami", Some(&bearer(&user))).await;
    assert_eq!(resp.status(), 200, "a still valid token of the retired key");
}
