//! A key set that is the same on every run: an active RS256 key and a `next`
//! EdDSA key, both derived from fixed seeds. These keys sign nothing but
//! fuzz inputs.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rsa::pkcs8::EncodePrivateKey as _;
use sigil::jose::Validation;
use sigil::keys::{KeySet, KeyState, SigningKey};
use sigil::token::access::AccessTokens;

/// The instant fuzzed tokens are issued and verified at (2030-03-17), so
/// time never makes a committed seed expire.
pub const NOW: i64 = 1_900_000_000;
/// `iss` of the fuzz tokens.
pub const ISSUER: &str = "https://sigil.fuzz";
/// `aud` of the fuzz tokens.
pub const AUDIENCE: &str = "https://api.fuzz";
/// Clock leeway, as sigil configures it.
pub const LEEWAY: i64 = 60;

/// [`NOW`] as a date.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("NOW is a valid time")
}

/// Issuer, audience, leeway and a 15-minute lifetime.
pub fn access_tokens() -> AccessTokens {
    AccessTokens {
        validation: Validation {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            leeway: Duration::from_secs(LEEWAY as u64),
        },
        ttl: Duration::from_secs(900),
        public_client_id: "sigil".to_owned(),
    }
}

/// The shared key set: RS256 active, EdDSA next.
pub fn key_set() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(new_key_set)
}

/// A fresh copy of the same key set (sets are not `Clone`).
pub fn new_key_set() -> KeySet {
    let rsa = SigningKey::import_pkcs8_pem(&pem(&rsa_pkcs8()), KeyState::Active)
        .expect("the RSA fuzz key loads");
    let ed = SigningKey::import_pkcs8_pem(&pem(&ed25519_pkcs8()), KeyState::Next)
        .expect("the Ed25519 fuzz key loads");
    KeySet::new(vec![rsa, ed]).expect("a valid key set")
}

fn rsa_pkcs8() -> Vec<u8> {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(0x5161_1f0a);
        let key = rsa::PrivateKey::new(&mut rng, 2048).expect("RSA generation");
        key.to_pkcs8_der()
            .expect("PKCS#8 encoding")
            .as_bytes()
            .to_vec()
    })
    .clone()
}

/// PKCS#8 v1 (RFC 8410) of the Ed25519 key with a fixed 32-byte seed.
fn ed25519_pkcs8() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend((0u8..32).map(|i| i.wrapping_mul(37) ^ 0x5a));
    der
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut text = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        text.push('\n');
    }
    text.push_str("-----END PRIVATE KEY-----\n");
    text
}
