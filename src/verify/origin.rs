//! Where the verifier may fetch keys from: the redirect policy (same origin
//! only, bounded) and the warning about plain HTTP off this machine.

use reqwest::Url;

use super::MAX_REDIRECTS;

/// Whether a redirect from `original` (the JWK Set URL) to `next`, after
/// `hops` redirects already followed, may be followed: only to the same
/// origin (scheme, host and port), so neither another host nor a downgrade
/// from https to http can supply the keys, and only [`MAX_REDIRECTS`] times.
pub(super) fn redirect_allowed(original: &Url, next: &Url, hops: usize) -> bool {
    hops < MAX_REDIRECTS && original.origin() == next.origin()
}

/// The redirect policy of the verifier's own HTTP client: follow at most
/// [`MAX_REDIRECTS`] redirects, each within the origin of the JWK Set URL;
/// anything else fails the fetch. Use it when passing your own client to
/// [`JwksVerifier::http_client`].
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let previous = attempt.previous();
        let allowed = previous
            .first()
            .is_some_and(|original| redirect_allowed(original, attempt.url(), previous.len() - 1));
        if allowed {
            attempt.follow()
        } else {
            attempt.error("redirect refused: another origin, a downgrade to http, or too many")
        }
    })
}

/// Whether `url` points at this machine, where plain HTTP is no risk.
pub(super) fn is_loopback(url: &Url) -> bool {
    // IPv6 hosts come bracketed, as in the URL.
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
