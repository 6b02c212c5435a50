//! Client ids and secrets: how they are made, stored and compared.
//!
//! A secret is 32 bytes (256 bits) from the operating system's CSPRNG,
//! base64url (43 characters), shown once and stored only as its SHA-256
//! hash. A fast hash is the right one here: argon2 exists to slow down
//! guessing of low-entropy passwords, and nobody can guess 256 random bits,
//! fast hash or not. The presented secret's hash is compared with every
//! stored hash in constant time (`aws_lc_rs::constant_time`), and an unknown
//! client's is compared with a dummy hash, so the work does not depend on
//! which part was wrong.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// What a client id starts with, so that one reads as a client's in logs.
const ID_PREFIX: &str = "svc_";
/// Random characters after the prefix: 16 × 5 bits = 80 bits.
const ID_RANDOM_CHARS: usize = 16;
/// Lower-case letters and digits without `l`, `o`, `0`, `1`: 32 characters
/// nobody misreads.
const ID_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Length of a secret sigil makes (32 bytes in base64url).
pub const SECRET_LEN: usize = 43;
/// Longest client id worth looking up: anything longer is no client's.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// Hash of nothing anyone can present, compared against for unknown clients.
const DUMMY_HASH: [u8; 32] = [0x5a; 32];

/// A new secret and the hash to store for it.
pub struct NewSecret {
    /// The secret, shown once; `Debug` prints `[REDACTED]`.
    pub secret: SecretString,
    /// SHA-256 of the secret, as stored.
    pub hash: [u8; 32],
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

/// A new client id, e.g. `svc_k3m9x2q7w4b8n6t5`: only characters that
/// form-urlencoding leaves as they are, so HTTP Basic needs no escaping.
pub fn new_client_id() -> String {
    let random: [u8; ID_RANDOM_CHARS] = random_bytes();
    let mut id = String::with_capacity(ID_PREFIX.len() + ID_RANDOM_CHARS);
    id.push_str(ID_PREFIX);
    id.extend(
        random
            .iter()
            .map(|b| ID_ALPHABET[usize::from(b & 31)] as char),
    );
    id
}

/// A new secret: 256 bits, base64url.
pub fn new_secret() -> NewSecret {
    let random: [u8; 32] = random_bytes();
    let secret = SecretString::from(crate::jose::base64url(&random));
    let hash = hash(secret.expose_secret());
    NewSecret { secret, hash }
}

/// The stored form of a presented secret.
pub fn hash(secret: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `presented` (a hash) equals one of `stored`; `None` (no such
/// client) compares against a dummy and is always false. Every stored hash is
/// compared, each in constant time.
pub fn matches(presented: &[u8; 32], stored: Option<&[Vec<u8>]>) -> bool {
    match stored {
        Some(stored) => stored.iter().fold(false, |found, candidate| {
            verify_slices_are_equal(presented, candidate).is_ok() | found
        }),
        None => {
            let _ = verify_slices_are_equal(presented, &DUMMY_HASH);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_256_bits_and_differ_each_time() {
        let a = new_secret();
        let b = new_secret();
        let raw = crate::jose::base64url_decode(a.secret.expose_secret()).unwrap();
        assert_eq!(raw.len(), 32);
        assert_eq!(a.secret.expose_secret().len(), SECRET_LEN);
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert_eq!(a.hash, hash(a.secret.expose_secret()));
    }

    #[test]
    fn client_ids_are_readable_and_differ_each_time() {
        let id = new_client_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("svc_"));
        assert!(id[4..].bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert_ne!(id, new_client_id());
    }

    #[test]
    fn a_secret_matches_any_of_its_clients_hashes_and_nothing_else() {
        let old = new_secret();
        let new = new_secret();
        let stored = vec![old.hash.to_vec(), new.hash.to_vec()];
        assert!(matches(&old.hash, Some(&stored)));
        assert!(matches(&new.hash, Some(&stored)));
        assert!(!matches(&hash("guess"), Some(&stored)));
        assert!(!matches(&old.hash, Some(&[])));
        assert!(!matches(&DUMMY_HASH, None));
    }
}
