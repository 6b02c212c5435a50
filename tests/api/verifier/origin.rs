//! Where the verifier takes keys from, and for how long: redirects only
//! within the JWK Set URL's origin, and no trust in a cached set past its
//! maximum staleness while the issuer stays unreachable.

use super::*;

/// A stand-in whose every answer is a redirect to `location`; returns its URL
/// and request counter.
async fn redirecting_issuer(location: String) -> (String, Arc<AtomicUsize>) {
    stand_in_issuer(move |_| {
        poem::Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location.as_str())
            .finish()
    })
    .await
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let jwks = jwks_of(&app).await;
    let (elsewhere, elsewhere_requests) =
        stand_in_issuer(move |_| jwks_response(&jwks, "max-age=300")).await;
    let (url, redirects) = redirecting_issuer(elsewhere).await;

    let result = verifier_at(&app, &url).verify(&access).await;

    assert_eq!(result, Err(VerifyError::KeysUnavailable));
    assert_eq!(redirects.load(Ordering::SeqCst), 1);
    assert_eq!(
        elsewhere_requests.load(Ordering::SeqCst),
        0,
        "the other origin (another port) was never asked for keys"
    );
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let jwks = jwks_of(&app).await;
    let (url, requests) = stand_in_issuer(move |n| {
        if n == 0 {
            poem::Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header("location", "/keys/current.json")
                .finish()
        } else {
            jwks_response(&jwks, "max-age=300")
        }
    })
    .await;

    let result = verifier_at(&app, &url).verify(&access).await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_redirect_loop_within_the_origin_ends_after_a_bounded_number_of_hops() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let (url, requests) = stand_in_issuer(|_| {
        poem::Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/jwks.json")
            .finish()
    })
    .await;

    let result = verifier_at(&app, &url).verify(&access).await;

    assert_eq!(result, Err(VerifyError::KeysUnavailable));
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1 + sigil::verify::MAX_REDIRECTS,
        "the request and MAX_REDIRECTS hops, then the fetch failed"
    );
}

#[tokio::test]
async fn past_the_maximum_staleness_an_unreachable_issuer_makes_cached_keys_unavailable() {
    let app = spawn_app().await;
    let (_, access, _) = app.signed_up_user().await;
    let jwks = jwks_of(&app).await;
    // The first answer is the set; from then on the issuer is down.
    let (url, requests) = stand_in_issuer(move |n| {
        if n == 0 {
            jwks_response(&jwks, "max-age=300")
        } else {
            server_error()
        }
    })
    .await;
    let staleness = Duration::from_millis(500);
    let verifier = verifier_at(&app, &url).max_staleness(staleness);
    // Whether this first check lands within 500 ms of the fetch depends on
    // the machine, so its outcome is not asserted; that the set was fetched
    // and cached is (the unit tests of `verify::cache` pin the boundary).
    let _ = verifier.verify(&access).await;
    let cached = format!("{verifier:?}");
    assert!(cached.contains(&app.active_kid()), "{cached}");

    // Past the staleness for sure: the set must no longer be trusted.
    tokio::time::sleep(staleness + Duration::from_millis(100)).await;
    let stale = verifier.verify(&access).await;
    let requests_after_stale = requests.load(Ordering::SeqCst);
    let malformed = verifier.verify("not.a.token").await;

    assert_eq!(stale, Err(VerifyError::KeysUnavailable));
    assert_eq!(
        requests_after_stale, 2,
        "the stale set was revalidated once before giving up"
    );
    assert_eq!(
        malformed,
        Err(VerifyError::Invalid(JwsError::Malformed.into())),
        "a token that cannot be valid is still invalid"
    );
}
