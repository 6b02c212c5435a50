//! Shared test fixtures. RSA generation is slow in test builds, so the two
//! RSA keys the unit tests need are generated once and copied on demand.

use std::sync::OnceLock;

use super::{Algorithm, KeyState, SigningKey};

static RSA_A: OnceLock<SigningKey> = OnceLock::new();
static RSA_B: OnceLock<SigningKey> = OnceLock::new();

fn generate_rsa() -> SigningKey {
    SigningKey::generate(Algorithm::Rs256, 2048).expect("RSA generation")
}

/// A shared 2048-bit RS256 key in state `next`.
pub(crate) fn rsa_key() -> &'static SigningKey {
    RSA_A.get_or_init(generate_rsa)
}

/// A second shared RS256 key, different from [`rsa_key`].
pub(crate) fn rsa_key_2() -> &'static SigningKey {
    RSA_B.get_or_init(generate_rsa)
}

/// A fresh Ed25519 key (cheap) in `state`.
pub(crate) fn ed25519_key(state: KeyState) -> SigningKey {
    let mut key = SigningKey::generate(Algorithm::EdDsa, 0).expect("Ed25519 generation");
    key.set_state(state, key.meta().created_at);
    key
}

/// An owned copy of `key` (keys are not `Clone`) in `state`.
pub(crate) fn copy_with_state(key: &SigningKey, state: KeyState) -> SigningKey {
    let mut copy =
        SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem(), key.meta().clone()).expect("copy key");
    copy.set_state(state, key.meta().created_at);
    copy
}
