//! The serialized JWK Set the server publishes, with its ETag. The JWK type
//! and thumbprints themselves live in [`crate::jose::jwk`] (re-exported here
//! so `keys::Jwk` keeps working), since downstream verifiers need them too.

use aws_lc_rs::digest::{SHA256, digest};
use serde::Serialize;

use crate::jose::base64url;
pub use crate::jose::jwk::{Jwk, JwkSet, thumbprint};

use super::KeyError;

/// Serializes `{"keys":[...]}` in the given order.
pub(crate) fn jwks_body<'a>(keys: impl Iterator<Item = &'a Jwk>) -> Result<Vec<u8>, KeyError> {
    #[derive(Serialize)]
    struct Body<'a> {
        keys: Vec<&'a Jwk>,
    }
    serde_json::to_vec(&Body {
        keys: keys.collect(),
    })
    .map_err(|e| KeyError::InvalidSet(format!("cannot serialize the JWK Set: {e}")))
}

/// Strong ETag of a JWK Set body: the quoted base64url SHA-256 of the bytes.
pub(crate) fn etag(body: &[u8]) -> String {
    format!("\"{}\"", base64url(digest(&SHA256, body).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_is_a_quoted_base64url_sha256() {
        let tag = etag(b"{\"keys\":[]}");
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert_eq!(tag.len(), 43 + 2);
        assert_eq!(tag, etag(b"{\"keys\":[]}"));
        assert_ne!(tag, etag(b"{\"keys\":[{}]}"));
    }
}
