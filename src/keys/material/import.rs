//! What an operator's key must be before sigil signs with it: everything a
//! loaded key must be (PKCS#8, RSA of 2048 to 8192 bits or Ed25519), and,
//! for RSA, a public exponent of at least 65537, since a small exponent
//! makes PKCS#1 v1.5 signatures forgeable against sloppy verifiers.

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::KeyPair as _;

use super::{KeyError, KeyMeta, KeyState, Pair, SigningKey, now, parse_pkcs8, pem_codec};

/// The smallest RSA public exponent accepted on import (F4, what OpenSSL,
/// aws-lc and every common tool use), big-endian.
const MIN_RSA_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

impl SigningKey {
    /// Imports an operator's key whose kid is not known yet: algorithm and
    /// kid are derived from the key, `created_at` is now. Refuses what
    /// loading refuses and a weak RSA public exponent.
    pub fn import_pkcs8_pem(pem: &str, state: KeyState) -> Result<SigningKey, KeyError> {
        let der = pem_codec::decode_private_key(pem)?;
        let parsed = parse_pkcs8(&der)?;
        let meta = KeyMeta::new(parsed.jwk.kid.clone(), parsed.alg, state, now());
        let mut key = SigningKey::assemble(meta, parsed, &der);
        key.check_exponent()?;
        key.set_state(state, key.meta.created_at);
        Ok(key)
    }

    /// RSA: the public exponent is odd and at least 65537.
    fn check_exponent(&self) -> Result<(), KeyError> {
        let Pair::Rsa(pair) = &self.pair else {
            return Ok(());
        };
        let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        if is_strong_exponent(&components.e) {
            Ok(())
        } else {
            Err(KeyError::InvalidKey(
                "the RSA public exponent is smaller than 65537 (or even), too weak to sign \
                 with; make a new key, e.g. `openssl genpkey -algorithm RSA -pkeyopt \
                 rsa_keygen_bits:2048`"
                    .into(),
            ))
        }
    }
}

/// Whether the big-endian exponent `e` is odd and at least 65537.
fn is_strong_exponent(e: &[u8]) -> bool {
    let first = e.iter().position(|&b| b != 0).unwrap_or(e.len());
    let e = &e[first..];
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    let large = match e.len().cmp(&MIN_RSA_EXPONENT.len()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => e >= &MIN_RSA_EXPONENT[..],
        std::cmp::Ordering::Greater => true,
    };
    odd && large
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_below_65537_or_even_are_weak_and_leading_zeros_do_not_matter() {
        for strong in [
            &[1u8, 0, 1][..],
            &[0, 0, 1, 0, 1],
            &[1, 0, 3],
            &[1, 0, 0, 0, 1],
        ] {
            assert!(is_strong_exponent(strong), "{strong:?}");
        }
        for weak in [
            &[][..],
            &[0],
            &[1],
            &[3],
            &[0, 0, 3],
            &[0xff, 0xff],
            &[1, 0, 0],
            &[1, 0, 0, 0, 0],
        ] {
            assert!(!is_strong_exponent(weak), "{weak:?}");
        }
    }
}
