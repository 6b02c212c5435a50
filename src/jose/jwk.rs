//! Public JWKs (RFC 7517) and their RFC 7638 thumbprints, which are sigil's
//! kids.
//!
//! [`Jwk`] has no private members at all, so a JWK Set built from it cannot
//! leak `d`, `p`, `q`, `dp`, `dq` or `qi` whatever the caller does.

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use super::{Algorithm, base64url};

/// The public half of a signing key as a JSON Web Key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// Key type: `"RSA"` or `"OKP"` (RFC 8037).
    pub kty: String,
    /// Intended use; always `"sig"` for sigil keys.
    #[serde(rename = "use")]
    pub use_: String,
    /// Algorithm the key signs with.
    pub alg: Algorithm,
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// RSA modulus, base64url big-endian without leading zeros.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian without leading zeros.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// OKP curve: `"Ed25519"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// OKP public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
}

impl Jwk {
    /// An RS256 JWK from the big-endian modulus and exponent; the kid is
    /// computed from them.
    pub fn rsa(n: &[u8], e: &[u8]) -> Jwk {
        Jwk::with_kid(Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: Algorithm::Rs256,
            kid: String::new(),
            n: Some(base64url(strip_leading_zeros(n))),
            e: Some(base64url(strip_leading_zeros(e))),
            crv: None,
            x: None,
        })
    }

    /// An EdDSA JWK from the 32-byte Ed25519 public key; the kid is computed
    /// from it.
    pub fn ed25519(public_key: &[u8]) -> Jwk {
        Jwk::with_kid(Jwk {
            kty: "OKP".into(),
            use_: "sig".into(),
            alg: Algorithm::EdDsa,
            kid: String::new(),
            n: None,
            e: None,
            crv: Some("Ed25519".into()),
            x: Some(base64url(public_key)),
        })
    }

    fn with_kid(mut jwk: Jwk) -> Jwk {
        jwk.kid = thumbprint(&jwk);
        jwk
    }
}

/// `{"keys":[...]}`: a JWK Set as parsed back by clients and tests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JwkSet {
    /// The keys, in publication order.
    pub keys: Vec<Jwk>,
}

/// The RFC 7638 JWK thumbprint: base64url (no padding) SHA-256 of the
/// canonical JSON of the key's required public members.
///
/// The required members are `e`, `kty`, `n` for RSA and `crv`, `kty`, `x` for
/// OKP. This hashes exactly the members among `crv`, `e`, `kty`, `n`, `x` that
/// are present, in that (lexicographic) order, which is the required set for
/// every JWK this module builds; `kid`, `use` and `alg` never take part, so
/// the thumbprint depends on the key alone.
pub fn thumbprint(jwk: &Jwk) -> String {
    let members = [
        ("crv", jwk.crv.as_deref()),
        ("e", jwk.e.as_deref()),
        ("kty", Some(jwk.kty.as_str())),
        ("n", jwk.n.as_deref()),
        ("x", jwk.x.as_deref()),
    ];
    let mut canonical = String::from("{");
    for (name, value) in members
        .iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
    {
        if canonical.len() > 1 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":");
        // Values are base64url or fixed names in practice; going through
        // serde_json keeps the encoding canonical for anything else too.
        canonical.push_str(&serde_json::Value::from(value).to_string());
    }
    canonical.push('}');
    base64url(digest(&SHA256, canonical.as_bytes()).as_ref())
}

/// JWA (RFC 7518 §2) wants integers as the shortest big-endian octets.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::base64url_decode;

    /// The RSA key of RFC 7638 §3.1.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const RFC7638_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

    #[test]
    fn the_rfc_7638_example_key_has_the_published_thumbprint() {
        let jwk = Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: Algorithm::Rs256,
            kid: "2011-04-29".into(),
            n: Some(RFC7638_N.into()),
            e: Some("AQAB".into()),
            crv: None,
            x: None,
        };
        assert_eq!(thumbprint(&jwk), RFC7638_THUMBPRINT);
    }

    #[test]
    fn a_jwk_built_from_the_rfc_7638_modulus_gets_that_thumbprint_as_kid() {
        let n = base64url_decode(RFC7638_N).unwrap();
        // A leading zero octet (as in a DER INTEGER) must not change n.
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        let jwk = Jwk::rsa(&padded, &[0x01, 0x00, 0x01]);
        assert_eq!(jwk.n.as_deref(), Some(RFC7638_N));
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        assert_eq!(jwk.kid, RFC7638_THUMBPRINT);
    }

    #[test]
    fn jwks_serialize_only_the_members_of_their_key_type() {
        let okp = serde_json::to_value(Jwk::ed25519(&[7u8; 32])).unwrap();
        let mut names: Vec<_> = okp.as_object().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(okp["use"], "sig");
        assert_eq!(okp["alg"], "EdDSA");
        assert_eq!(okp["crv"], "Ed25519");
    }
}
