//! argon2id itself, on the calling thread: hashing with a fresh salt,
//! verifying in memory kept from one verification to the next, and telling
//! whether a stored hash was made with the current cost.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use super::HashError;
use crate::config::Argon2Cost;

fn argon2(cost: Argon2Cost) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Memory for argon2, kept from one verification to the next: allocating
/// ~20 MiB afresh for every login, which the kernel maps and zeroes page by
/// page, cost a quarter of a login's CPU time (the crypto bench in
/// tests/bench/crypto.rs and scripts/bench.sh measure it).
#[derive(Default)]
pub struct Argon2Memory(Vec<Block>);

/// Checks `password` against a parsed PHC hash, on this thread, at the cost
/// (algorithm, version, parameters) the hash names, working in `memory`. This
/// is what [`PasswordHasher::verify`](super::PasswordHasher::verify) runs on
/// its workers; public so that the crypto bench (tests/bench/crypto.rs)
/// measures this very code. Any malformed hash is a mismatch.
pub fn verify_now(
    memory: &mut Argon2Memory,
    password: &SecretString,
    hash: &PasswordHash<'_>,
) -> bool {
    verify_in(memory, password.expose_secret().as_bytes(), hash).unwrap_or(false)
}

/// argon2's own `verify_password`, but in memory that outlives the call.
fn verify_in(
    memory: &mut Argon2Memory,
    password: &[u8],
    hash: &PasswordHash<'_>,
) -> Result<bool, argon2::password_hash::Error> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(hash.algorithm)?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(hash)?;
    let blocks = params.block_count();
    if memory.0.len() < blocks {
        memory.0.resize(blocks, Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let mut computed = [0u8; Output::MAX_LENGTH];
    let computed = &mut computed[..expected.len()];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        computed,
        &mut memory.0[..blocks],
    )?;
    // `Output` compares in constant time.
    Ok(Output::new(computed)? == *expected)
}

/// Hashes `password` under `cost` with a fresh salt, on this thread.
pub fn hash_now(cost: Argon2Cost, password: &SecretString) -> Result<String, HashError> {
    // 16 random bytes from the operating system, as the PHC format recommends.
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| HashError::Failed("no randomness".into()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError::Failed(e.to_string()))?;
    argon2(cost)?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Whether `hash` is argon2id v19 with exactly the current cost.
pub(super) fn is_current(hash: &PasswordHash<'_>, cost: Argon2Cost) -> bool {
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.version != Some(Version::V0x13.into())
    {
        return false;
    }
    match Params::try_from(hash) {
        Ok(p) => {
            p.m_cost() == cost.memory_kib
                && p.t_cost() == cost.iterations
                && p.p_cost() == cost.parallelism
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn cheap() -> Argon2Cost {
        Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn verifying_in_reused_memory_agrees_with_argon2s_own_verification() {
        use argon2::password_hash::PasswordVerifier as _;
        let mut memory = Argon2Memory::default();
        let password = secret("correct horse");
        // Other algorithms, versions and sizes than the current cost, in an
        // order that makes the memory grow and shrink.
        let other = |algorithm, version, params| {
            let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
            Argon2::new(algorithm, version, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string()
        };
        let hashes = [
            hash_now(cheap(), &password).unwrap(),
            other(
                Algorithm::Argon2i,
                Version::V0x13,
                Params::new(256, 2, 2, None).unwrap(),
            ),
            other(
                Algorithm::Argon2d,
                Version::V0x10,
                Params::new(128, 1, 1, Some(16)).unwrap(),
            ),
        ];
        for stored in &hashes {
            let parsed = PasswordHash::new(stored).unwrap();
            assert!(verify_now(&mut memory, &password, &parsed), "{stored}");
            for candidate in ["correct horse", "wrong horse", ""] {
                let expected = Argon2::default()
                    .verify_password(candidate.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(
                    verify_now(&mut memory, &secret(candidate), &parsed),
                    expected,
                    "{stored} with {candidate:?}"
                );
            }
        }
    }
}
