//! argon2id itself, on the calling thread: hashing with a fresh salt,
//! verifying in memory kept from one verification to the next, and telling
//! whether a stored hash was made with the current cost.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroize as _;

use super::HashError;
use crate::config::Argon2Cost;

fn params(cost: Argon2Cost) -> Result<Params, HashError> {
    Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Memory for argon2, kept from one verification to the next: allocating
/// ~20 MiB afresh for every login, which the kernel maps and zeroes page by
/// page, cost a quarter of a login's CPU time (the crypto bench in
/// tests/bench/crypto.rs and scripts/bench.sh measure it).
///
/// It holds what argon2 derived from passwords, so it is wiped (zeroed in a
/// way the compiler may not elide) before it is given back to the allocator:
/// when a hashing thread ends, when a worker replaces it after a panic, and
/// when it grows (a reallocation would free the old buffer as it was).
#[derive(Default)]
pub struct Argon2Memory(Vec<Block>);

impl Argon2Memory {
    /// The first `count` blocks, growing the memory if needed.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            // Dropping the old memory wipes it; `Vec::resize` would not.
            *self = Argon2Memory(vec![Block::default(); count]);
        }
        &mut self.0[..count]
    }

    /// Zeroes every block.
    fn wipe(&mut self) {
        for block in &mut self.0 {
            block.as_mut().zeroize();
        }
    }
}

impl Drop for Argon2Memory {
    fn drop(&mut self) {
        self.wipe();
    }
}

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
    verify_with_work(memory, password, hash).matches
}

/// What a verification found, and the argon2 work it took (see [`work_of`]).
pub(super) struct Verification {
    /// The password matches the hash.
    pub matches: bool,
    /// Zero when the hash was refused before any argon2 run (malformed, not
    /// argon2).
    pub work: u64,
}

/// [`verify_now`], also telling the work done.
pub(super) fn verify_with_work(
    memory: &mut Argon2Memory,
    password: &SecretString,
    hash: &PasswordHash<'_>,
) -> Verification {
    let mut work = 0;
    let matches =
        verify_in(memory, password.expose_secret().as_bytes(), hash, &mut work).unwrap_or(false);
    Verification { matches, work }
}

/// argon2's own `verify_password`, but in memory that outlives the call;
/// adds the work of its argon2 run, once done, to `work`.
fn verify_in(
    memory: &mut Argon2Memory,
    password: &[u8],
    hash: &PasswordHash<'_>,
    work: &mut u64,
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
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let mut computed = [0u8; Output::MAX_LENGTH];
    let computed = &mut computed[..expected.len()];
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        salt,
        computed,
        memory.blocks(blocks),
    )?;
    *work += work_of(&params);
    // `Output` compares in constant time.
    Ok(Output::new(computed)? == *expected)
}

/// Hashes `password` under `cost` with a fresh salt, on this thread, in
/// memory of its own (wiped when done).
pub fn hash_now(cost: Argon2Cost, password: &SecretString) -> Result<String, HashError> {
    hash_in(&mut Argon2Memory::default(), cost, password)
}

/// Hashes `password` under `cost` with a fresh salt, working in `memory`.
pub(super) fn hash_in(
    memory: &mut Argon2Memory,
    cost: Argon2Cost,
    password: &SecretString,
) -> Result<String, HashError> {
    let failed = |e: argon2::password_hash::Error| HashError::Failed(e.to_string());
    // 16 random bytes from the operating system, as the PHC format recommends.
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| HashError::Failed("no randomness".into()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(failed)?;
    let params = params(cost)?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            &bytes,
            &mut output,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| HashError::Failed(e.to_string()))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(failed)?),
    };
    Ok(hash.to_string())
}

/// argon2's work for one run of `params`: blocks filled, times passes. The
/// time a run takes is proportional to it, whatever the algorithm variant.
pub(super) fn work_of(params: &Params) -> u64 {
    u64::from(params.m_cost()).saturating_mul(u64::from(params.t_cost()))
}

/// The work of one run under `cost` (see [`work_of`]).
pub(super) fn cost_work(cost: Argon2Cost) -> u64 {
    u64::from(cost.memory_kib).saturating_mul(u64::from(cost.iterations))
}

/// Runs argon2id for at least `work` (and less than `work` plus one pass
/// of the minimum memory more) with `cost`'s passes, throwing the result
/// away: the padding that makes a cheap verification cost what a current
/// one costs. Returns the work done.
pub(super) fn burn(memory: &mut Argon2Memory, cost: Argon2Cost, work: u64) -> u64 {
    if work == 0 {
        return 0;
    }
    let passes = cost.iterations.max(1);
    let blocks = work
        .div_ceil(u64::from(passes))
        .max(u64::from(Params::MIN_M_COST));
    let Ok(blocks) = u32::try_from(blocks) else {
        return 0;
    };
    let Ok(params) = Params::new(blocks, passes, 1, None) else {
        return 0;
    };
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let run = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            b"padding",
            b"padding-salt-16b",
            &mut output,
            memory.blocks(params.block_count()),
        );
    if run.is_err() {
        return 0;
    }
    work_of(&params)
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
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
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

    #[test]
    fn wiping_zeroes_every_block_and_keeps_the_memory() {
        let mut memory = Argon2Memory::default();
        let stored = hash_now(cheap(), &secret("correct horse")).unwrap();
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(verify_now(&mut memory, &secret("correct horse"), &parsed));
        let nonzero = |m: &Argon2Memory| {
            m.0.iter()
                .flat_map(|block| block.as_ref().iter())
                .filter(|word| **word != 0)
                .count()
        };
        assert!(nonzero(&memory) > 0, "argon2 left nothing to wipe");

        memory.wipe();

        assert_eq!(nonzero(&memory), 0, "words left after the wipe");
        assert_eq!(memory.0.len(), 64);
    }

    #[test]
    fn hashes_made_in_kept_memory_verify_with_argon2_itself() {
        use argon2::password_hash::PasswordVerifier as _;
        let mut memory = Argon2Memory::default();
        let stored = hash_in(&mut memory, cheap(), &secret("correct horse")).unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
    }
}
