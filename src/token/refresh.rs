//! Opaque refresh tokens: 256 bits from the operating system's CSPRNG, handed
//! out once and stored only as their SHA-256 hash.
//!
//! A plain hash (no salt, no argon2) is enough here: the token has 256 bits of
//! entropy, so there is nothing to brute-force, and a fast hash keeps refresh cheap.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// A freshly made refresh token and the hash to store for it.
pub struct NewRefreshToken {
    /// The token for the client; `Debug` prints `[REDACTED]`.
    pub token: SecretString,
    /// SHA-256 of the token, as stored.
    pub hash: [u8; 32],
}

/// Makes a new refresh token: 32 random bytes, base64url (43 characters).
pub fn generate() -> NewRefreshToken {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator failed");
    let token = SecretString::from(super::base64url(&bytes));
    let hash = hash(token.expose_secret());
    NewRefreshToken { token, hash }
}

/// The stored form of a presented token.
pub fn hash(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `token` has the shape of a token sigil made (43 base64url characters);
/// anything else is refused before touching the database.
pub fn looks_valid(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_carry_256_bits_and_differ_each_time() {
        let a = generate();
        let b = generate();
        let raw = crate::token::base64url_decode(a.token.expose_secret()).unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(a.token.expose_secret(), b.token.expose_secret());
        assert!(looks_valid(a.token.expose_secret()));
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let t = generate();
        assert_eq!(t.hash, hash(t.token.expose_secret()));
        assert_ne!(&t.hash[..], t.token.expose_secret().as_bytes());
    }
}
