//! Compact JWS (RFC 7515): signing with any [`Signer`] and verification that
//! trusts nothing the token says about itself.
//!
//! Verification picks the key by `kid` from the key set and checks the header's
//! `alg` against that key's own algorithm, so `alg: none`, HMAC with a public key
//! as secret, or an EdDSA key asked to check an "RS256" token all fail. Headers
//! that point elsewhere for keys (`jku`, `x5u`, `x5c`, `jwk`) or demand extensions
//! (`crit`) are refused, and so is any JSON object with a member twice.

use std::collections::HashSet;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Algorithm, VerifyingKey, base64url, base64url_decode};

/// Longest token considered at all; ours are well under 2 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a compact JWS was refused. Only ever logged, never sent to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than [`MAX_TOKEN_LEN`].
    #[error("token too long")]
    TooLong,
    /// Not three base64url segments of JSON objects.
    #[error("token malformed")]
    Malformed,
    /// A JSON object has the same member twice.
    #[error("duplicate JSON member")]
    DuplicateMember,
    /// The header carries a member sigil refuses (`crit`, `jku`, `x5u`, `x5c`, `jwk`).
    #[error("forbidden header member")]
    ForbiddenHeader,
    /// `typ` missing or not the expected type.
    #[error("wrong typ")]
    WrongType,
    /// `kid` missing or not in the key set.
    #[error("unknown kid")]
    UnknownKey,
    /// `alg` is not the algorithm of the key named by `kid`.
    #[error("alg does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// A private key that signs compact JWS with one fixed algorithm, named by
/// its `kid`. The server's signing keys implement it (in `keys`); this module
/// never sees private key material.
pub trait Signer {
    /// The algorithm of every signature this key makes.
    fn alg(&self) -> Algorithm;
    /// The key id put in the header.
    fn kid(&self) -> &str;
    /// The signature over `message`.
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

#[derive(Serialize)]
struct OutHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// Signs `claims` with `key` as `typ`, returning the compact serialization.
pub fn sign(key: &(impl Signer + ?Sized), typ: &str, claims: &impl Serialize) -> String {
    let header = OutHeader {
        alg: key.alg().as_str(),
        typ,
        kid: key.kid(),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    let header = serde_json::to_vec(&header).expect("header serializes");
    let claims = serde_json::to_vec(claims).expect("claims serialize");
    let mut token = String::with_capacity(1024);
    token.push_str(&base64url(&header));
    token.push('.');
    token.push_str(&base64url(&claims));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&base64url(&signature));
    token
}

/// The parts of a header sigil reads. A member's presence is what matters for
/// the forbidden ones, so they are flags (`"jku": null` counts as present).
#[derive(Deserialize)]
struct InHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Verifies `token` with the key that `find_key` returns for its `kid`, and
/// returns its payload bytes (JSON, checked for duplicate members but not yet
/// parsed into claims).
///
/// `typ` must match one of `accepted_types`, compared without case.
pub fn verify<'k, K: VerifyingKey + ?Sized + 'k>(
    token: &str,
    find_key: impl FnOnce(&str) -> Option<&'k K>,
    accepted_types: &[&str],
) -> Result<Vec<u8>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let header_json = base64url_decode(header_b64).ok_or(JwsError::Malformed)?;
    let header: InHeader = parse_object(&header_json)?;
    if header.crit || header.jku || header.x5u || header.x5c || header.jwk {
        return Err(JwsError::ForbiddenHeader);
    }
    let typ_ok = header
        .typ
        .as_deref()
        .is_some_and(|typ| accepted_types.iter().any(|t| t.eq_ignore_ascii_case(typ)));
    if !typ_ok {
        return Err(JwsError::WrongType);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(find_key)
        .ok_or(JwsError::UnknownKey)?;
    // The key decides the algorithm; the header may only agree with it.
    if header.alg != key.alg().as_str() {
        return Err(JwsError::AlgorithmMismatch);
    }
    let signature = base64url_decode(signature_b64).ok_or(JwsError::Malformed)?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    if !key.verify(&token.as_bytes()[..signing_input_len], &signature) {
        return Err(JwsError::BadSignature);
    }
    let payload = base64url_decode(payload_b64).ok_or(JwsError::Malformed)?;
    ensure_unique_members(&payload)?;
    Ok(payload)
}

/// Parses a JSON object into `T` after checking that no member appears twice
/// (serde_json alone would keep the last one, and another parser the first).
pub fn parse_object<T: DeserializeOwned>(json: &[u8]) -> Result<T, JwsError> {
    ensure_unique_members(json)?;
    serde_json::from_slice(json).map_err(|_| JwsError::Malformed)
}

fn ensure_unique_members(json: &[u8]) -> Result<(), JwsError> {
    match serde_json::from_slice::<UniqueMembers>(json) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().starts_with(DUPLICATE) => Err(JwsError::DuplicateMember),
        Err(_) => Err(JwsError::Malformed),
    }
}

const DUPLICATE: &str = "duplicate member";

/// A JSON object whose top-level members are all distinct.
struct UniqueMembers;

impl<'de> Deserialize<'de> for UniqueMembers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMembers, A::Error> {
                let mut seen = HashSet::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !seen.insert(name) {
                        return Err(de::Error::custom(DUPLICATE));
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(UniqueMembers)
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    use super::*;
    use crate::jose::{Jwk, PublicKey};

    /// A signer made of nothing but aws-lc-rs, as a downstream crate could
    /// write one.
    struct TestSigner {
        pair: Ed25519KeyPair,
        kid: String,
    }

    impl Signer for TestSigner {
        fn alg(&self) -> Algorithm {
            Algorithm::EdDsa
        }
        fn kid(&self) -> &str {
            &self.kid
        }
        fn sign(&self, message: &[u8]) -> Vec<u8> {
            self.pair.sign(message).as_ref().to_vec()
        }
    }

    fn signer_and_public_key() -> (TestSigner, PublicKey) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        let public = PublicKey::from_jwk(&jwk).unwrap();
        (TestSigner { pair, kid: jwk.kid }, public)
    }

    #[test]
    fn what_a_signer_signs_verifies_with_the_key_its_kid_names() {
        let (signer, public) = signer_and_public_key();
        let token = sign(&signer, "at+jwt", &serde_json::json!({"sub": "u"}));

        let payload = verify(
            &token,
            |kid| (kid == public.kid()).then_some(&public),
            &["at+jwt"],
        );

        assert_eq!(payload.unwrap(), br#"{"sub":"u"}"#);
        let other_kid = verify::<PublicKey>(&token, |_| None, &["at+jwt"]);
        assert_eq!(other_kid, Err(JwsError::UnknownKey));
        let other_type = verify(&token, |_| Some(&public), &["JWT"]);
        assert_eq!(other_type, Err(JwsError::WrongType));
    }
}
