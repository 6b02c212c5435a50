//! sigil's own signing keys seen through the JOSE traits: a [`SigningKey`]
//! verifies (as [`VerifyingKey`]) and signs compact JWS (as [`Signer`]).
//! Keys built from a published JWK alone are [`PublicKey`]s, in
//! [`crate::jose`].

use crate::jose::{Algorithm, Signer};
pub use crate::jose::{PublicKey, VerifyingKey};

use super::SigningKey;

impl VerifyingKey for SigningKey {
    fn alg(&self) -> Algorithm {
        SigningKey::alg(self)
    }
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        SigningKey::verify(self, message, signature)
    }
}

impl Signer for SigningKey {
    fn alg(&self) -> Algorithm {
        SigningKey::alg(self)
    }
    fn kid(&self) -> &str {
        SigningKey::kid(self)
    }
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        SigningKey::sign(self, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_from_the_jwk_verifies_what_the_signing_key_signed() {
        let key = SigningKey::generate(Algorithm::EdDsa, 2048).unwrap();
        let public = PublicKey::from_jwk(key.jwk()).unwrap();
        let signature = Signer::sign(&key, b"message");
        assert!(VerifyingKey::verify(&public, b"message", &signature));
        assert!(VerifyingKey::verify(&key, b"message", &signature));
        assert!(!VerifyingKey::verify(&public, b"other", &signature));
        assert_eq!(public.kid(), Signer::kid(&key));
    }
}
