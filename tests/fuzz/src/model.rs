//! SPEC §3 as a second, independent implementation: which header and claims
//! an access token may carry. The targets compare sigil's verdict with it.
//!
//! Written from the spec, not from sigil's code: members are read from the
//! JSON in document order (so repeats are seen), signatures are checked with
//! ring against the published JWK, and times are compared in `i128`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use sigil::jose::{AccessClaims, Jwk};

use crate::keys::{AUDIENCE, ISSUER, LEEWAY, NOW, key_set};

/// A JSON object's members in document order, repeats included.
#[derive(Debug, Clone, Default)]
pub struct Members(pub Vec<(String, Value)>);

impl Members {
    /// The value of `name` (the first one, if repeated).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn has_repeats(&self) -> bool {
        let mut names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.windows(2).any(|w| w[0] == w[1])
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Compact JSON text, members in order.
    pub fn to_json(&self) -> String {
        let mut text = String::from("{");
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&Value::from(name.as_str()).to_string());
            text.push(':');
            text.push_str(&value.to_string());
        }
        text.push('}');
        text
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// Whether the header is acceptable for a signature by the key with `kid`.
pub fn header_ok(header: &Members, signer_kid: &str) -> bool {
    let Some(key) = key_set().by_kid(signer_kid) else {
        return false;
    };
    let forbidden = ["crit", "jku", "x5u", "x5c", "jwk"];
    let typ_ok = header.str("typ").is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    !header.has_repeats()
        && !header
            .0
            .iter()
            .any(|(n, _)| forbidden.contains(&n.as_str()))
        && typ_ok
        && header.str("kid") == Some(signer_kid)
        && header.str("alg") == Some(key.alg().as_str())
}

/// Whether the claims are acceptable at [`NOW`].
pub fn claims_ok(claims: &Members) -> bool {
    let time = |name: &str| claims.get(name).and_then(Value::as_i64).map(i128::from);
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(all)) => {
            all.iter().all(Value::is_string) && all.iter().any(|a| a == AUDIENCE)
        }
        _ => false,
    };
    let (Some(exp), Some(iat), Some(nbf)) = (time("exp"), time("iat"), time("nbf")) else {
        return false;
    };
    let now = i128::from(NOW);
    let leeway = i128::from(LEEWAY);
    !claims.has_repeats()
        && claims.str("iss") == Some(ISSUER)
        && ["sub", "jti", "scope"]
            .iter()
            .all(|n| claims.str(n).is_some())
        && aud_ok
        && now < exp + leeway
        && nbf - leeway <= now
        && iat - leeway <= now
}

/// Whether `signature` over `input` verifies under the published `jwk`,
/// checked with ring directly.
pub fn signature_ok(jwk: &Jwk, input: &[u8], signature: &[u8]) -> bool {
    let decode = |m: &Option<String>| URL_SAFE_NO_PAD.decode(m.as_deref().unwrap_or("")).ok();
    match jwk.kty.as_str() {
        "RSA" => match (decode(&jwk.n), decode(&jwk.e)) {
            (Some(n), Some(e)) => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, input, signature)
                .is_ok(),
            _ => false,
        },
        "OKP" => decode(&jwk.x).is_some_and(|x| {
            ring::signature::UnparsedPublicKey::new(&ED25519, x)
                .verify(input, signature)
                .is_ok()
        }),
        _ => false,
    }
}

/// Panics unless `token`, which sigil accepted with `claims`, obeys every
/// rule: canonical base64url, a header naming a key of the set whose
/// signature verifies, acceptable claims, and claims returned as written.
pub fn assert_acceptable(token: &str, claims: &AccessClaims) {
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3, "accepted a token without three segments");
    let bytes: Vec<Vec<u8>> = segments
        .iter()
        .map(|s| {
            URL_SAFE_NO_PAD
                .decode(s)
                .expect("accepted a segment that is not base64url")
        })
        .collect();
    for (segment, decoded) in segments.iter().zip(&bytes) {
        assert_eq!(
            *segment,
            URL_SAFE_NO_PAD.encode(decoded),
            "accepted a non-canonical base64url segment"
        );
    }
    let header: Members =
        serde_json::from_slice(&bytes[0]).expect("accepted a header that is not an object");
    let payload: Members =
        serde_json::from_slice(&bytes[1]).expect("accepted claims that are not an object");
    let kid = header
        .str("kid")
        .expect("accepted a header without a string kid");
    let key = key_set().by_kid(kid).expect("accepted an unknown kid");
    assert!(
        header_ok(&header, kid),
        "accepted a header that breaks a rule: {header:?}"
    );
    let input_len = segments[0].len() + 1 + segments[1].len();
    assert!(
        signature_ok(key.jwk(), &token.as_bytes()[..input_len], &bytes[2]),
        "accepted a signature ring refuses"
    );
    assert_claims_match(&payload, claims);
}

/// Panics unless the claims are acceptable and `claims` repeats them.
pub fn assert_claims_match(payload: &Members, claims: &AccessClaims) {
    assert!(
        claims_ok(payload),
        "accepted claims that break a rule: {payload:?}"
    );
    assert_eq!(payload.str("iss"), Some(claims.iss.as_str()));
    assert_eq!(payload.str("sub"), Some(claims.sub.as_str()));
    assert_eq!(payload.str("jti"), Some(claims.jti.as_str()));
    assert_eq!(payload.str("scope"), Some(claims.scope.as_str()));
    assert_eq!(claims.aud, AUDIENCE);
    for (name, value) in [
        ("exp", claims.exp),
        ("iat", claims.iat),
        ("nbf", claims.nbf),
    ] {
        assert_eq!(
            payload.get(name).and_then(Value::as_i64),
            Some(value),
            "{name}"
        );
    }
}
