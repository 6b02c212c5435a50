//! The downstream verifier (`sigil::verify::JwksVerifier`) against a real
//! server: tokens sigil issued, checked with nothing but the published JWK Set.
//! Where a test needs the issuer to misbehave (fail, omit a key, forbid
//! caching), a stand-in serves the real server's JWK Set the way it says.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use poem::http::StatusCode;
use serde_json::{Value, json};
use sigil::keys::Algorithm;
use sigil::token::access::TokenError;
use sigil::token::jws::JwsError;
use sigil::verify::{JwksVerifier, VerifyError};

use crate::helpers::{Options, TestApp, b64, spawn_app, spawn_app_with};

/// A verifier for `app`'s tokens that fetches the JWK Set from `jwks_url`.
fn verifier_at(app: &TestApp, jwks_url: &str) -> JwksVerifier {
    JwksVerifier::new(jwks_url.parse().unwrap(), &app.issuer, &app.issuer)
}

/// A verifier for `app`'s tokens with its JWK Set.
fn verifier_for(app: &TestApp) -> JwksVerifier {
    verifier_at(app, &app.url("/.well-known/jwks.json"))
}

/// `token` with its header replaced by one that names `kid` (the signature no
/// longer matches, but the kid is looked up first).
fn with_kid(token: &str, kid: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", b64(header.to_string().as_bytes()))
}

async fn jwks_of(app: &TestApp) -> Value {
    app.get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap()
}

/// A stand-in for the issuer's JWKS endpoint: answers request number `n`
/// (from 0) with `respond(n)`. Returns its URL and the request counter.
async fn stand_in_issuer(
    respond: impl Fn(usize) -> poem::Response + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let endpoint =
        poem::endpoint::make_sync(move |_| respond(counter.fetch_add(1, Ordering::SeqCst)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    (url, requests)
}

fn jwks_response(body: &Value, cache_control: &str) -> poem::Response {
    poem::Response::builder()
        .content_type("application/json")
        .header("cache-control", cache_control)
        .body(body.to_string())
}

fn server_error() -> poem::Response {
    poem::Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .finish()
}

#[tokio::test]
async fn a_token_sigil_issued_verifies_and_the_jwk_set_is_fetched_once_within_max_age() {
    let app = spawn_app().await;
    let tokens = app.register(&crate::helpers::unique_email()).await;
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = app.get("/me", Some(access)).await.json().await.unwrap();
    let (_, other_access, _) = app.signed_up_user().await;
    let verifier = verifier_for(&app);

    let claims = verifier.verify(access).await.unwrap();
    for _ in 0..5 {
        verifier.verify(access).await.unwrap();
    }
    verifier.verify(&other_access).await.unwrap();

    assert_eq!(claims.sub, me["id"].as_str().unwrap());
    assert_eq!(claims.scope, tokens["scope"].as_str().unwrap());
    assert_eq!(claims.iss, app.issuer);
    assert_eq!(
        verifier.fetches(),
        1,
        "one fetch serves every token within max-age"
    );
    assert_eq!(verifier.not_modified(), 0);
}

#[tokio::test]
async fn an_eddsa_token_verifies_with_the_published_okp_key() {
    let app = spawn_app_with(Options {
        alg: Algorithm::EdDsa,
        ..Options::default()
    })
    .await;
    let (_, access, _) = app.signed_up_user().await;

    let claims = verifier_for(&app).verify(&access).await.unwrap();

    assert_eq!(claims.scope, "profile");
}

#[tokio::test]
async fn a_verifier_expecting_another_issuer_or_audience_finds_the_token_invalid() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let jwks_url = app.url("/.well-known/jwks.json").parse().unwrap();
    let other_issuer = JwksVerifier::new(
        app.url("/.well-known/jwks.json").parse().unwrap(),
        "https://someone-else.example",
        &app.issuer,
    );
    let other_audience = JwksVerifier::new(jwks_url, &app.issuer, "https://other-api.example");

    let by_issuer = other_issuer.verify(&access).await;
    let by_audience = other_audience.verify(&access).await;

    assert_eq!(by_issuer, Err(VerifyError::Invalid(TokenError::Issuer)));
    assert_eq!(by_audience, Err(VerifyError::Invalid(TokenError::Audience)));
}

#[tokio::test]
async fn a_tampered_token_is_invalid() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let verifier = verifier_for(&app);
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut claims = crate::helpers::segment(&access, 1);
    claims["scope"] = json!("profile admin");
    parts[1] = b64(claims.to_string().as_bytes());
    let tampered = parts.join(".");
    let mut header = crate::helpers::segment(&access, 0);
    header["alg"] = json!("none");
    let unsigned = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        access.split('.').nth(1).unwrap()
    );

    let tampered = verifier.verify(&tampered).await;
    let unsigned = verifier.verify(&unsigned).await;

    assert_eq!(
        tampered,
        Err(VerifyError::Invalid(JwsError::BadSignature.into()))
    );
    assert_eq!(
        unsigned,
        Err(VerifyError::Invalid(JwsError::AlgorithmMismatch.into()))
    );
}

#[tokio::test]
async fn after_max_age_the_next_verification_revalidates_and_gets_304() {
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.jwks_max_age = Duration::from_secs(1)),
        ..Options::default()
    })
    .await;
    let (_, access, _) = app.signed_up_user().await;
    let verifier = verifier_for(&app);
    verifier.verify(&access).await.unwrap();
    assert_eq!((verifier.fetches(), verifier.not_modified()), (1, 0));

    // Past max-age for sure: the next verification must revalidate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&access).await.unwrap();

    assert_eq!(
        verifier.fetches(),
        2,
        "stale after max-age: one revalidation"
    );
    assert_eq!(verifier.not_modified(), 1, "the unchanged set answered 304");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_within_the_cooldown_costs_at_most_one_fetch() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let verifier = verifier_for(&app);
    verifier.verify(&access).await.unwrap();
    let forged: Vec<String> = (0..200)
        .map(|_| with_kid(&access, &uuid::Uuid::new_v4().to_string()))
        .collect();

    let mut results = Vec::new();
    for token in &forged[..100] {
        results.push(verifier.verify(token).await);
    }
    let at_once = forged[100..].iter().map(|token| verifier.verify(token));
    results.extend(futures_util::future::join_all(at_once).await);

    for result in results {
        assert_eq!(
            result,
            Err(VerifyError::Invalid(JwsError::UnknownKey.into()))
        );
    }
    assert!(verifier.fetches() <= 2, "fetches: {}", verifier.fetches());
    verifier.verify(&access).await.unwrap();
}

#[tokio::test]
async fn an_unknown_kid_after_the_cooldown_triggers_exactly_one_revalidation() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    // A zero cooldown has always passed, so every unknown kid may refetch:
    // the counts below depend on no clock. (Within a cooldown, no refetch:
    // see the flood test above.)
    let verifier = verifier_for(&app).cooldown(Duration::ZERO);
    verifier.verify(&access).await.unwrap();
    let forged = with_kid(&access, "a-kid-nobody-published");

    let first = verifier.verify(&forged).await;
    let second = verifier.verify(&forged).await;

    assert_eq!(
        first,
        Err(VerifyError::Invalid(JwsError::UnknownKey.into()))
    );
    assert_eq!(second, first);
    assert_eq!(
        verifier.fetches(),
        3,
        "the first fetch, then one refetch per unknown kid, never a second retry"
    );
    assert_eq!(
        verifier.not_modified(),
        2,
        "each refetch revalidated with If-None-Match"
    );
}

#[tokio::test]
async fn a_key_published_after_the_first_fetch_is_found_by_refetching_for_its_kid() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let full = jwks_of(&app).await;
    let active = app.active_kid();
    let mut without_active = full.clone();
    without_active["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["kid"] != active.as_str());
    // First the set as it was before the active key was published, then the full one.
    let (url, requests) = stand_in_issuer(move |n| {
        let body = if n == 0 { &without_active } else { &full };
        jwks_response(body, "public, max-age=300")
    })
    .await;
    // A zero cooldown has always passed, so the outcome depends on no clock.
    let verifier = verifier_at(&app, &url).cooldown(Duration::ZERO);

    let result = verifier.verify(&access).await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "the first fetch lacked the kid; the refetch for it found it"
    );
    assert_eq!(verifier.fetches(), 2);
}

#[tokio::test]
async fn within_the_cooldown_an_unknown_kid_is_refused_without_refetching() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let full = jwks_of(&app).await;
    let active = app.active_kid();
    let mut without_active = full.clone();
    without_active["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["kid"] != active.as_str());
    let (url, requests) = stand_in_issuer(move |n| {
        let body = if n == 0 { &without_active } else { &full };
        jwks_response(body, "public, max-age=300")
    })
    .await;
    // An hour of cooldown cannot pass during the test.
    let verifier = verifier_at(&app, &url).cooldown(Duration::from_secs(3600));

    let result = verifier.verify(&access).await;

    assert_eq!(
        result,
        Err(VerifyError::Invalid(JwsError::UnknownKey.into()))
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_jwks_url_that_refuses_connections_makes_verification_report_keys_unavailable() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    // A floor of ten minutes: the retry after the failure cannot come due
    // during the test.
    let verifier = verifier_at(&app, "http://127.0.0.1:1/.well-known/jwks.json")
        .cache_lifetime(Duration::from_secs(600), Duration::from_secs(3600));

    let result = verifier.verify(&access).await;
    let malformed = verifier.verify("not.a.token").await;

    assert_eq!(result, Err(VerifyError::KeysUnavailable));
    assert_eq!(
        malformed,
        Err(VerifyError::Invalid(JwsError::Malformed.into())),
        "a token that cannot be valid is invalid whatever the keys"
    );
    assert_eq!(
        verifier.fetches(),
        1,
        "failures are retried after a floor, not per token"
    );
}

#[tokio::test]
async fn the_verifier_keeps_using_its_cached_keys_when_the_issuer_fails_later() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let jwks = jwks_of(&app).await;
    let (url, requests) = stand_in_issuer(move |n| {
        if n == 0 {
            jwks_response(&jwks, "public, max-age=1")
        } else {
            server_error()
        }
    })
    .await;
    let verifier = verifier_at(&app, &url);
    verifier.verify(&access).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale = verifier.verify(&access).await;
    let again = verifier.verify(&access).await;

    assert!(stale.is_ok(), "{stale:?}");
    assert!(again.is_ok(), "{again:?}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "after a failure the stale set is used without retrying per token"
    );
}

#[tokio::test]
async fn a_max_age_of_zero_cannot_make_the_verifier_fetch_for_every_token() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let jwks = jwks_of(&app).await;
    let (url, requests) =
        stand_in_issuer(move |_| jwks_response(&jwks, "no-store, max-age=0")).await;
    // A floor of ten minutes cannot pass during the loop.
    let verifier =
        verifier_at(&app, &url).cache_lifetime(Duration::from_secs(600), Duration::from_secs(3600));

    for _ in 0..20 {
        verifier.verify(&access).await.unwrap();
    }

    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn keys_the_verifier_cannot_use_are_skipped_and_the_others_still_verify() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let mut jwks = jwks_of(&app).await;
    let keys = jwks["keys"].as_array_mut().unwrap();
    keys.insert(
        0,
        json!({"kty": "oct", "alg": "HS256", "kid": "hmac", "k": "c2VjcmV0"}),
    );
    keys.insert(
        0,
        json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "ec",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}),
    );
    let (url, _) = stand_in_issuer(move |_| jwks_response(&jwks, "max-age=300")).await;

    let result = verifier_at(&app, &url).verify(&access).await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_jwk_set_over_the_size_bound_is_refused() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let verifier = verifier_for(&app).max_jwks_bytes(100);

    let result = verifier.verify(&access).await;

    assert_eq!(result, Err(VerifyError::KeysUnavailable));
}

#[tokio::test]
async fn the_verifier_debug_output_names_its_issuer_and_kids_but_no_token() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let verifier = verifier_for(&app);
    verifier.verify(&access).await.unwrap();

    let text = format!("{verifier:?}");

    assert!(text.contains(&app.issuer), "{text}");
    assert!(text.contains(&app.active_kid()), "{text}");
    assert!(!text.contains(&access), "{text}");
}

mod origin;
