//! Opaque refresh tokens: 256 bits from the operating system's CSPRNG, handed
//! out once and stored only as their SHA-256 hash.
//!
//! A plain hash (no salt, no argon2) is enough here: the token has 256 bits of
//! entropy, so there is nothing to brute-force, and a fast hash keeps refresh cheap.
//!
//! # Sealed successors
//!
//! Within the reuse interval a used-up token presented again gets the same
//! successor as the first time (SPEC §3), yet the database must never hold a
//! usable token. So the successor is kept only sealed: AES-256-GCM under a key
//! derived from the *presented* token with HKDF-SHA256 and a label of its own
//! ([`seal_successor`], [`open_successor`]). The stored hash is SHA-256 of the
//! token; the key is HKDF-Extract, an HMAC keyed by the label, of the token, then
//! HKDF-Expand: neither can be computed from the other, so a copy of the
//! database (hashes and sealed bytes) opens nothing, and only a client that
//! holds the presented token itself can. The presented token's hash is the
//! associated data, which ties the sealed bytes to the row they are stored on.
//! Each seal draws a fresh random 96-bit nonce, stored in front of the
//! ciphertext.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// HKDF salt: sets the sealing key apart from every other use of a token.
const SEAL_SALT: &[u8] = b"sigil refresh-token successor seal v1";
/// HKDF info: what the expanded key is for.
const SEAL_INFO: &[u8] = b"aes-256-gcm key";

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

/// Seals `successor` for `presented`: only [`open_successor`] with the same
/// presented token can read it. `row` (the presented token's stored hash) is
/// bound as associated data.
pub fn seal_successor(presented: &str, successor: &SecretString, row: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("the operating system's random number generator failed");
    let mut sealed = successor.expose_secret().as_bytes().to_vec();
    sealing_key(presented)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(row),
            &mut sealed,
        )
        .expect("AES-256-GCM seals a 43-byte token");
    [nonce.as_slice(), &sealed].concat()
}

/// Opens what [`seal_successor`] sealed for `presented` on the row `row`;
/// `None` for any other token, row or a damaged seal.
pub fn open_successor(presented: &str, sealed: &[u8], row: &[u8]) -> Option<SecretString> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plain = sealing_key(presented)
        .open_in_place(nonce, Aad::from(row), &mut in_out)
        .ok()?;
    let token = String::from_utf8(plain.to_vec()).ok()?;
    looks_valid(&token).then(|| SecretString::from(token))
}

/// The AES-256-GCM key that `presented` yields for sealing its successor.
fn sealing_key(presented: &str) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA256, SEAL_SALT).extract(presented.as_bytes());
    let okm = prk
        .expand(&[SEAL_INFO], &AES_256_GCM)
        .expect("HKDF-SHA256 yields a 32-byte key");
    LessSafeKey::new(UnboundKey::from(okm))
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
    fn a_sealed_successor_opens_only_with_the_presented_token_on_its_row() {
        let presented = generate();
        let successor = generate();
        let token = presented.token.expose_secret();
        let sealed = seal_successor(token, &successor.token, &presented.hash);

        let opened = open_successor(token, &sealed, &presented.hash).unwrap();
        assert_eq!(opened.expose_secret(), successor.token.expose_secret());

        let other = generate();
        assert!(open_successor(other.token.expose_secret(), &sealed, &presented.hash).is_none());
        assert!(open_successor(token, &sealed, &other.hash).is_none());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(open_successor(token, &damaged, &presented.hash).is_none());
        assert!(open_successor(token, &sealed[..NONCE_LEN], &presented.hash).is_none());
        assert!(open_successor(token, &[], &presented.hash).is_none());
    }

    #[test]
    fn the_stored_hash_opens_nothing_and_the_seal_shows_nothing_of_the_successor() {
        let presented = generate();
        let successor = generate();
        let sealed = seal_successor(
            presented.token.expose_secret(),
            &successor.token,
            &presented.hash,
        );
        // Someone with a copy of the database has the hash, not the token.
        let hash_as_text = crate::token::base64url(&presented.hash);
        assert!(open_successor(&hash_as_text, &sealed, &presented.hash).is_none());
        let secret = successor.token.expose_secret().as_bytes();
        assert!(!sealed.windows(secret.len()).any(|w| w == secret));
        assert!(!sealed.windows(32).any(|w| w == successor.hash));
        // A fresh nonce each time: two seals of one successor differ.
        let again = seal_successor(
            presented.token.expose_secret(),
            &successor.token,
            &presented.hash,
        );
        assert_ne!(sealed, again);
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let t = generate();
        assert_eq!(t.hash, hash(t.token.expose_secret()));
        assert_ne!(&t.hash[..], t.token.expose_secret().as_bytes());
    }
}
