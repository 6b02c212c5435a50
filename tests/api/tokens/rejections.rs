//! Every way a bearer token is refused, and the control that a correctly
//! made one is accepted: RFC 6750 §3 answers on bearer-protected routes
//! (missing, unreadable, garbage, refresh token as bearer, missing scope,
//! disabled user), and each rejection rule of SPEC §3 with tokens the test
//! crafts and signs itself (header and claim rules, leeway, `alg: none`,
//! HMAC with the public key, tampering, duplicate members). Forgeries with
//! the wrong key or algorithm are in `forgery.rs`; random mutations of issued
//! tokens in `mutations/`. Over 400 lines on purpose: every rule that
//! refuses a token at `/me` is in this one file, so a missing one shows.

use serde_json::{Value, json};

use super::helpers::{TestApp, assert_oauth_error, assert_problem, b64, now, segment, spawn_app};

async fn user_and_token(app: &TestApp) -> (String, String) {
    let (_, access, _) = app.signed_up_user().await;
    let sub = segment(&access, 1)["sub"].as_str().unwrap().to_owned();
    (sub, access)
}

fn claims(app: &TestApp, sub: &str) -> Value {
    app.valid_claims(sub)
}

fn header(app: &TestApp) -> Value {
    json!({"alg": "RS256", "typ": "at+jwt", "kid": app.active_kid()})
}

async fn assert_rejected(app: &TestApp, token: &str, case: &str) {
    let resp = app.get("/me", Some(token)).await;
    assert_eq!(resp.status(), 401, "case {case:?} was not rejected");
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "case {case:?}"
    );
}


#[tokio::test]
async fn me_returns_the_signed_in_user() {
    let Some(app) = spawn_app().await else { return };
    let (email, access, _) = app.signed_up_user().await;

    let resp = app.get("/me", Some(&access)).await;

    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], "Test User");
    assert_eq!(body["scopes"], serde_json::json!(["profile"]));
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(
        body.as_object().unwrap().len(),
        4,
        "no hash or other member: {body}"
    );
}

#[tokio::test]
async fn no_authorization_header_is_a_401_with_a_bare_bearer_challenge() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.get("/me", None).await;

    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn an_unreadable_authorization_header_is_a_401_with_a_bare_bearer_challenge() {
    let Some(app) = spawn_app().await else { return };

    for value in ["Basic dXNlcjpwYXNz", "Bearer", "token-without-scheme"] {
        let resp = app
            .client
            .get(app.url("/me"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer",
            "for {value:?}"
        );
        assert_problem(resp, 401).await;
    }
}

#[tokio::test]
async fn a_garbage_token_is_a_401_invalid_token() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.get("/me", Some("not.a.token")).await;

    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_refresh_token_sent_as_bearer_is_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, refresh) = app.signed_up_user().await;

    let resp = app.get("/me", Some(&refresh)).await;

    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_token_without_the_admin_scope_gets_403_insufficient_scope_on_admin_routes() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, _) = app.signed_up_user().await;

    let resp = app.get("/admin/users", Some(&access)).await;

    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="admin""#
    );
    assert_problem(resp, 403).await;
}

#[tokio::test]
async fn a_disabled_users_still_valid_token_gets_401() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (_, access, refresh) = app.signed_up_user().await;
    let me: Value = app.get("/me", Some(&access)).await.json().await.unwrap();

    let patch = app
        .client
        .patch(app.url(&format!("/admin/users/{}", me["id"].as_str().unwrap())))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);

    let resp = app.get("/me", Some(&access)).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
    assert_oauth_error(app.refresh(&refresh).await, 401).await;
}

#[tokio::test]
async fn a_token_the_test_signs_correctly_is_accepted_so_the_rejections_below_mean_something() {
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;

    let token = app.sign_with_active_key(&header(&app), &claims(&app, &sub));

    assert_eq!(app.get("/me", Some(&token)).await.status(), 200);
}

#[tokio::test]
async fn a_token_signed_by_the_published_next_key_is_accepted() {
    // SPEC: the next key is published before it signs, and verifies as soon
    // as it is published (a token from an instance that rotated first).
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;
    let next = app.kid_in_state("next");
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": next});

    let token = app.sign_with_key(
        &next,
        sigil::keys::Algorithm::Rs256,
        &header.to_string(),
        &claims(&app, &sub).to_string(),
    );

    let me = app.get("/me", Some(&token)).await;
    assert_eq!(me.status(), 200);
    let body: Value = me.json().await.unwrap();
    assert_eq!(body["id"], sub.as_str());
}

#[tokio::test]
async fn tokens_failing_any_header_rule_are_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;
    let good_claims = claims(&app, &sub);
    let kid = app.active_kid();

    let cases: Vec<(&str, Value)> = vec![
        (
            "unknown kid",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "not-a-kid"}),
        ),
        ("no kid", json!({"alg": "RS256", "typ": "at+jwt"})),
        (
            "kid path traversal",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "../../etc/passwd"}),
        ),
        (
            "jku",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "jku": "http://127.0.0.1:1/jwks.json"}),
        ),
        (
            "x5u",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "x5u": "http://127.0.0.1:1/cert.pem"}),
        ),
        (
            "jwk",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "jwk": {"kty": "oct", "k": "AAAA"}}),
        ),
        (
            "crit",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "crit": ["exp"]}),
        ),
        (
            "null jku still present",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "jku": null}),
        ),
        ("missing typ", json!({"alg": "RS256", "kid": kid})),
        ("typ JWT", json!({"alg": "RS256", "typ": "JWT", "kid": kid})),
        (
            "alg claims EdDSA for an RSA key",
            json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid}),
        ),
        (
            "alg PS256",
            json!({"alg": "PS256", "typ": "at+jwt", "kid": kid}),
        ),
    ];
    for (case, h) in cases {
        let token = app.sign_with_active_key(&h, &good_claims);
        assert_rejected(&app, &token, case).await;
    }
}

#[tokio::test]
async fn tokens_failing_any_claim_rule_are_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;
    let t = now();
    let with = |member: &str, value: Value| {
        let mut c = claims(&app, &sub);
        c[member] = value;
        c
    };
    let without = |member: &str| {
        let mut c = claims(&app, &sub);
        c.as_object_mut().unwrap().remove(member);
        c
    };

    let cases: Vec<(&str, Value)> = vec![
        ("wrong iss", with("iss", json!("http://evil.example"))),
        ("wrong aud", with("aud", json!("another-service"))),
        ("aud array without us", with("aud", json!(["a", "b"]))),
        ("expired beyond leeway", with("exp", json!(t - 61))),
        (
            "nbf in the future beyond leeway",
            with("nbf", json!(t + 120)),
        ),
        (
            "iat in the future beyond leeway",
            with("iat", json!(t + 120)),
        ),
        ("no exp", without("exp")),
        ("no iss", without("iss")),
        ("no aud", without("aud")),
        ("exp as string", with("exp", json!((t + 600).to_string()))),
        (
            "sub not a user",
            with("sub", json!(uuid::Uuid::new_v4().to_string())),
        ),
        ("sub not a uuid", with("sub", json!("admin"))),
    ];
    for (case, c) in cases {
        let token = app.sign_with_active_key(&header(&app), &c);
        assert_rejected(&app, &token, case).await;
    }
}

#[tokio::test]
async fn leeway_of_60_seconds_is_honoured() {
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;
    let mut c = claims(&app, &sub);
    c["exp"] = json!(now() - 30);
    c["nbf"] = json!(now() + 30);

    let token = app.sign_with_active_key(&header(&app), &c);

    assert_eq!(app.get("/me", Some(&token)).await.status(), 200);
}

#[tokio::test]
async fn alg_none_and_hmac_signed_with_the_public_key_are_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;
    let body = b64(&serde_json::to_vec(&claims(&app, &sub)).unwrap());
    let kid = app.active_kid();

    let none_header =
        b64(&serde_json::to_vec(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})).unwrap());
    assert_rejected(
        &app,
        &format!("{none_header}.{body}."),
        "alg none, empty signature",
    )
    .await;

    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let public_jwk = serde_json::to_vec(&jwks["keys"][0]).unwrap();
    let modulus = super::helpers::b64(&base64_decode(jwks["keys"][0]["n"].as_str().unwrap()));
    for secret in [public_jwk.clone(), modulus.into_bytes()] {
        let h = b64(
            &serde_json::to_vec(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})).unwrap(),
        );
        let input = format!("{h}.{body}");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let tag = ring::hmac::sign(&key, input.as_bytes());
        assert_rejected(
            &app,
            &format!("{input}.{}", b64(tag.as_ref())),
            "HS256 with public key",
        )
        .await;
    }
}

#[tokio::test]
async fn a_tampered_payload_or_mangled_encoding_is_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (_, access) = user_and_token(&app).await;
    let parts: Vec<&str> = access.split('.').collect();

    let mut c = segment(&access, 1);
    c["scope"] = json!("profile admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&c).unwrap()),
        parts[2]
    );
    assert_rejected(&app, &tampered, "tampered payload").await;

    let cases = [
        (
            "padding on the header",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        ),
        ("four segments", format!("{access}.x")),
        ("two segments", format!("{}.{}", parts[0], parts[1])),
        (
            "signature cut short",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 4]
            ),
        ),
        (
            "standard base64 alphabet",
            access.replace('-', "+").replace('_', "/"),
        ),
    ];
    for (case, token) in cases {
        if token == access {
            continue; // the replacement changed nothing for this token
        }
        assert_rejected(&app, &token, case).await;
    }
}

#[tokio::test]
async fn duplicate_members_in_header_or_claims_are_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (sub, _) = user_and_token(&app).await;
    let kid = app.active_kid();
    let c = serde_json::to_string(&claims(&app, &sub)).unwrap();

    // Build the JSON by hand: serde_json cannot write a member twice.
    let dup_header = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","typ":"JWT"}}"#);
    let token = app.sign_raw_with_active_key(&dup_header, &c);
    assert_rejected(&app, &token, "duplicate typ in header").await;

    let dup_claims = format!(r#"{},"aud":"{}"}}"#, c.trim_end_matches('}'), "another");
    let h = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}"}}"#);
    let token = app.sign_raw_with_active_key(&h, &dup_claims);
    assert_rejected(&app, &token, "duplicate aud in claims").await;
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}
