//! Unit tests of the verifier's own rules: caching, staleness, redirects.

use super::origin::redirect_allowed;
use super::*;

fn verifier() -> JwksVerifier {
    JwksVerifier::new(
        "http://127.0.0.1:1/.well-known/jwks.json".parse().unwrap(),
        "https://issuer.example",
        "https://api.example",
    )
}

#[test]
fn verification_can_run_in_any_tokio_task() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<JwksVerifier>();
    let verifier = verifier();
    assert_send(&verifier.verify("token"));
}

#[test]
fn debug_shows_the_configuration_and_no_key_material() {
    let text = format!("{:?}", verifier().cooldown(Duration::from_millis(200)));
    assert!(text.contains("https://issuer.example"), "{text}");
    assert!(text.contains("200ms"), "{text}");
    assert!(text.contains("cached_kids: []"), "{text}");
}

#[test]
fn redirects_are_followed_only_within_the_origin_and_only_a_few_times() {
    let url = |text: &str| text.parse::<Url>().unwrap();
    let jwks = url("https://issuer.example/.well-known/jwks.json");

    let same_origin = redirect_allowed(&jwks, &url("https://issuer.example:443/keys"), 0);
    let other_host = redirect_allowed(&jwks, &url("https://evil.example/keys"), 0);
    let sub_domain = redirect_allowed(&jwks, &url("https://keys.issuer.example/"), 0);
    let downgrade = redirect_allowed(&jwks, &url("http://issuer.example/keys"), 0);
    let other_port = redirect_allowed(&jwks, &url("https://issuer.example:8443/keys"), 0);
    let last_allowed = redirect_allowed(&jwks, &jwks, MAX_REDIRECTS - 1);
    let one_too_many = redirect_allowed(&jwks, &jwks, MAX_REDIRECTS);

    assert!(same_origin);
    assert!(!other_host);
    assert!(!sub_domain);
    assert!(!downgrade);
    assert!(!other_port);
    assert!(last_allowed);
    assert!(!one_too_many);
}

#[test]
fn a_cache_ceiling_below_the_floor_counts_as_the_floor() {
    let v = verifier().cache_lifetime(Duration::from_secs(5), Duration::from_secs(1));
    assert_eq!(v.limits.min_lifetime, Duration::from_secs(5));
    assert_eq!(v.limits.max_lifetime, Duration::from_secs(5));
}

#[tokio::test]
async fn a_malformed_token_is_invalid_even_without_keys_and_costs_no_second_fetch() {
    let v = verifier();

    let malformed = v.verify("not-a-token").await;
    let again = v.verify("not-a-token").await;

    assert_eq!(
        malformed,
        Err(VerifyError::Invalid(JwsError::Malformed.into()))
    );
    assert_eq!(again, Err(VerifyError::Invalid(JwsError::Malformed.into())));
    assert_eq!(
        v.fetches(),
        1,
        "a failed fetch is retried after the floor, not per token"
    );
}
