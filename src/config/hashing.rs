//! Password-hashing settings: the argon2id cost (SPEC §5) with the bounds
//! each parameter is checked against, and how many hashes may run or wait.

/// Largest accepted memory cost (1 GiB): each hash in flight holds this much.
pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Largest accepted number of passes.
pub const MAX_ITERATIONS: u32 = 100;
/// Largest accepted number of lanes.
pub const MAX_PARALLELISM: u32 = 64;
/// argon2 needs at least this much memory per lane, in KiB.
pub const MIN_MEMORY_KIB_PER_LANE: u32 = 8;

/// argon2id cost parameters (SPEC §5). Defaults follow OWASP: m=19456 KiB, t=2, p=1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Argon2Cost {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// How password hashing is run: its cost and how much of it may happen at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashingSettings {
    /// argon2id parameters for new hashes.
    pub cost: Argon2Cost,
    /// Hashes computed at the same time (each on a blocking thread).
    pub concurrency: usize,
    /// Hashes allowed to wait for a free slot; beyond that, 503 + `Retry-After`.
    pub queue: usize,
}

/// Hashes computed at once when `SIGIL_HASH_CONCURRENCY` is not set: one per CPU.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
