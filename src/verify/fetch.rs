//! One conditional GET of the issuer's JWK Set: `If-None-Match` with the
//! cached `ETag`, a bounded body, and the keys the verifier can use.
//!
//! A JWK the verifier cannot use (another algorithm, an HMAC secret, a `kid`
//! that is not its thumbprint…) is skipped rather than failing the whole set,
//! so an issuer that adds, say, an ES256 key does not lock every verifier out.

use std::time::Duration;

use reqwest::header::{ACCEPT, ETAG, IF_NONE_MATCH};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;

use super::cache;
use crate::jose::{Jwk, PublicKey};

/// What the caller decides about a fetch, fixed at construction.
pub(super) struct Limits {
    /// Whole-request timeout, connecting included.
    pub timeout: Duration,
    /// Largest body read; more is an error.
    pub max_bytes: usize,
    /// Least time a set is used before revalidating.
    pub min_lifetime: Duration,
    /// Most time a set is used before revalidating.
    pub max_lifetime: Duration,
}

/// A successful answer.
pub(super) enum Fetched {
    /// 200: a new set.
    Modified {
        /// The usable keys; never empty.
        keys: Vec<PublicKey>,
        /// Its `ETag`, if any.
        etag: Option<String>,
        /// How long to use it before revalidating.
        lifetime: Duration,
    },
    /// 304: the cached set is still current.
    NotModified {
        /// The `ETag` repeated by the server, if any.
        etag: Option<String>,
        /// How long to use the cached set from now on.
        lifetime: Duration,
    },
}

/// Why a fetch gave no usable answer. Logged, never shown to token holders.
#[derive(Debug, thiserror::Error)]
pub(super) enum FetchError {
    /// Connecting, sending or reading failed (including the timeout).
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// Neither 200 nor (when asked) 304.
    #[error("unexpected status {0}")]
    Status(StatusCode),
    /// The body is over the bound.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not `{"keys":[...]}`.
    #[error("not a JWK Set: {0}")]
    NotAJwkSet(serde_json::Error),
    /// Not one key of the set can verify sigil's tokens.
    #[error("no usable key in the JWK Set")]
    NoUsableKey,
}

/// GETs `url`, revalidating with `etag` when there is one.
pub(super) async fn fetch_jwks(
    client: &Client,
    url: &Url,
    etag: Option<&str>,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    let mut request = client
        .get(url.clone())
        .timeout(limits.timeout)
        .header(ACCEPT, "application/jwk-set+json, application/json");
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let mut response = request.send().await?;
    let lifetime = cache::lifetime(response.headers(), limits.min_lifetime, limits.max_lifetime);
    let new_etag = response
        .headers()
        .get(ETAG)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match response.status() {
        StatusCode::NOT_MODIFIED if etag.is_some() => Ok(Fetched::NotModified {
            etag: new_etag,
            lifetime,
        }),
        StatusCode::OK => {
            let body = read_bounded(&mut response, limits.max_bytes).await?;
            Ok(Fetched::Modified {
                keys: usable_keys(&body)?,
                etag: new_etag,
                lifetime,
            })
        }
        status => Err(FetchError::Status(status)),
    }
}

/// Reads the body chunk by chunk and stops as soon as it passes `max_bytes`,
/// so a misbehaving server cannot make the verifier buffer without end.
async fn read_bounded(
    response: &mut reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, FetchError> {
    let too_large = FetchError::TooLarge(max_bytes);
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The keys of a JWK Set that [`PublicKey::from_jwk`] accepts, first of each
/// kid kept. Each JWK is read on its own: [`Jwk`] only knows sigil's
/// algorithms, and one unknown `alg` must not fail the set.
fn usable_keys(body: &[u8]) -> Result<Vec<PublicKey>, FetchError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let set: RawSet = serde_json::from_slice(body).map_err(FetchError::NotAJwkSet)?;
    let mut keys: Vec<PublicKey> = Vec::with_capacity(set.keys.len());
    for raw in set.keys {
        let kid = raw
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = serde_json::from_value::<Jwk>(raw)
            .map_err(|e| e.to_string())
            .and_then(|jwk| PublicKey::from_jwk(&jwk).map_err(|e| e.to_string()));
        match key {
            Ok(key) if keys.iter().any(|k| k.kid() == key.kid()) => {
                tracing::debug!(kid, "JWK skipped: its kid appears twice in the set");
            }
            Ok(key) => keys.push(key),
            Err(why) => tracing::debug!(kid, %why, "JWK skipped: the verifier cannot use it"),
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    use super::*;

    #[test]
    fn keys_of_other_algorithms_and_broken_keys_are_skipped_not_fatal() {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        let good = serde_json::to_value(&jwk).unwrap();
        let mut forged = good.clone();
        forged["kid"] = "not-the-thumbprint".into();
        let body = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "ec",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "oct", "alg": "HS256", "kid": "hmac", "k": "c2VjcmV0"},
            forged,
            good,
            good,
        ]});

        let keys = usable_keys(body.to_string().as_bytes()).unwrap();

        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), jwk.kid);
    }

    #[test]
    fn a_set_without_any_usable_key_or_without_keys_is_an_error() {
        let hmac_only = br#"{"keys":[{"kty":"oct","alg":"HS256","kid":"h","k":"c2VjcmV0"}]}"#;
        assert!(matches!(
            usable_keys(hmac_only),
            Err(FetchError::NoUsableKey)
        ));
        assert!(matches!(
            usable_keys(b"{\"keys\":[]}"),
            Err(FetchError::NoUsableKey)
        ));
        assert!(matches!(usable_keys(b"[]"), Err(FetchError::NotAJwkSet(_))));
        assert!(matches!(
            usable_keys(b"<html>"),
            Err(FetchError::NotAJwkSet(_))
        ));
    }
}
