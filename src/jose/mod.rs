//! JOSE for sigil's tokens, with no server in sight: base64url, the signing
//! [`Algorithm`]s, public JWKs and their thumbprints ([`jwk`]), keys built
//! from a JWK alone ([`PublicKey`]), compact JWS ([`jws`]) and the checks on
//! access-token claims ([`access`]).
//!
//! This is the bottom of the crate: it uses no other sigil module, and both
//! the server (`keys`, `token`) and the downstream verifier ([`crate::verify`])
//! build on it. It holds no private key type; signing goes through the
//! [`Signer`] trait, which the server's keys implement.

#![warn(missing_docs)]

pub mod access;
pub mod jwk;
pub mod jws;
mod public;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

pub use access::{ACCESS_TOKEN_TYPE, AccessClaims, TokenError, Validation};
pub use jwk::{Jwk, JwkSet, thumbprint};
pub use jws::{JwsError, Signer};
pub use public::{PublicKey, VerifyingKey};

/// Leeway applied to `exp`, `nbf` and `iat` when verifying access tokens (SPEC §3).
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

/// base64url without padding (RFC 7515 §2), as every JOSE member uses.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: no padding, no whitespace, no stray trailing bits.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Why a JOSE value was refused. The messages name the value, never key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// An algorithm name sigil does not support.
    #[error("unknown signing algorithm {0:?}: expected \"RS256\" or \"EdDSA\"")]
    UnknownAlgorithm(String),
    /// A JWK that cannot be used as a verification key, and why.
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

/// A JWS signing algorithm supported by sigil.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    #[serde(rename = "RS256")]
    Rs256,
    /// EdDSA over Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl Algorithm {
    /// The JOSE name: `"RS256"` or `"EdDSA"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = JoseError;

    /// Case-insensitive; `Ed25519` is accepted as an alias of `EdDSA`
    /// because operators often name the curve rather than the JOSE algorithm.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("RS256") {
            Ok(Algorithm::Rs256)
        } else if s.eq_ignore_ascii_case("EdDSA") || s.eq_ignore_ascii_case("Ed25519") {
            Ok(Algorithm::EdDsa)
        } else {
            Err(JoseError::UnknownAlgorithm(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_through_display_from_str_and_serde() {
        for alg in [Algorithm::Rs256, Algorithm::EdDsa] {
            assert_eq!(alg.to_string().parse::<Algorithm>().unwrap(), alg);
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{alg}\""));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
        }
        assert_eq!("rs256".parse::<Algorithm>().unwrap(), Algorithm::Rs256);
        assert_eq!("EDDSA".parse::<Algorithm>().unwrap(), Algorithm::EdDsa);
        assert_eq!("ed25519".parse::<Algorithm>().unwrap(), Algorithm::EdDsa);
        assert_eq!(
            "HS256".parse::<Algorithm>(),
            Err(JoseError::UnknownAlgorithm("HS256".into()))
        );
    }

    #[test]
    fn base64url_is_unpadded_and_decoding_is_strict() {
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(base64url_decode("-_8="), None, "padding");
        assert_eq!(base64url_decode("-_9"), None, "stray trailing bits");
        assert_eq!(base64url_decode("+/8"), None, "standard alphabet");
    }
}
