//! Password hashing: argon2id in PHC strings, run off the async runtime with a
//! bounded number of hashes in flight and a bounded queue behind them.
//!
//! Why bounded: argon2 is deliberately expensive (≈20 MiB and tens of
//! milliseconds per hash). Unbounded, a login flood would take every core and
//! every blocking thread, and `/me` or `/.well-known/jwks.json` would starve.
//! With a fixed number of workers and a short queue, excess logins are refused
//! at once with 503 + `Retry-After` instead.
//!
//! The workers are dedicated threads that run at a lower CPU priority than the
//! threads that serve requests (nice +10 on Linux). A full hashing queue keeps
//! every worker busy; at equal priority the scheduler would split the cores
//! evenly between hashing and requests, and `/me` waited tens of milliseconds
//! for a turn. Idle cores still go to hashing, so logins lose nothing when
//! nothing else runs. Each worker keeps its argon2 memory from one hash to
//! the next.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::config::{Argon2Cost, HashingSettings};

/// Largest accepted memory cost (1 GiB): each hash in flight holds this much.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;

/// Why hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full: try again shortly.
    #[error("password hashing queue is full")]
    Busy,
    /// argon2 itself failed (should not happen with checked parameters).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The result of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The password does not match (or there was no user: the dummy hash never matches).
    Mismatch,
    /// The password matches. `upgraded_hash` holds a new hash when the stored one
    /// was made with other parameters than the current ones.
    Match {
        /// A replacement hash under the current parameters, if one is due.
        upgraded_hash: Option<String>,
    },
}

/// Checks argon2id parameters, naming the setting at fault as `(variable, flag, problem)`.
pub fn check_cost(cost: Argon2Cost) -> Result<(), (&'static str, &'static str, String)> {
    if cost.parallelism == 0 || cost.parallelism > 64 {
        return Err((
            "SIGIL_ARGON2_PARALLELISM",
            "argon2-parallelism",
            "must be between 1 and 64".into(),
        ));
    }
    if cost.iterations == 0 || cost.iterations > 100 {
        return Err((
            "SIGIL_ARGON2_ITERATIONS",
            "argon2-iterations",
            "must be between 1 and 100".into(),
        ));
    }
    if cost.memory_kib < 8 * cost.parallelism || cost.memory_kib > MAX_MEMORY_KIB {
        return Err((
            "SIGIL_ARGON2_MEMORY_KIB",
            "argon2-memory-kib",
            format!("must be between 8 × parallelism and {MAX_MEMORY_KIB}"),
        ));
    }
    Ok(())
}

fn argon2(cost: Argon2Cost) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords with the configured argon2id cost.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: Argon2Cost,
    /// Slots for hashes running or waiting; `try_acquire` failing means "queue full".
    admission: Arc<Semaphore>,
    /// Slots for hashes running; one blocking thread each.
    workers: Arc<Semaphore>,
    /// Initial permits of `admission`.
    capacity: usize,
    /// Initial permits of `workers`.
    concurrency: usize,
    /// A hash of a random password under the current cost: verifying an unknown
    /// email against it costs what a wrong password costs.
    dummy_hash: Arc<str>,
    /// Where the hashing threads take their work from; they stop when the
    /// last clone of the hasher is dropped.
    jobs: mpsc::Sender<Job>,
}

/// Work for a hashing thread, given that thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Argon2Memory) + Send>;

/// Niceness of the hashing threads relative to the process.
pub const HASHING_NICENESS: i32 = 10;

/// Starts `count` hashing threads that take jobs from one queue.
fn start_hashing_threads(count: usize) -> Result<mpsc::Sender<Job>, HashError> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..count {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("sigil-hash-{n}"))
            .spawn(move || {
                lower_priority();
                let mut memory = Argon2Memory::default();
                loop {
                    let next = receiver
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok(job) = next else { return };
                    // A panicking job fails its own request (its reply is
                    // dropped) and leaves the thread serving the next one.
                    let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
                    if std::panic::catch_unwind(run).is_err() {
                        memory = Argon2Memory::default();
                    }
                }
            })
            .map_err(|e| HashError::Failed(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
}

/// Lowers the calling thread's CPU priority by [`HASHING_NICENESS`]. Linux
/// gives each thread its own nice value; elsewhere this does nothing.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered = getpriority_process(me)
            .and_then(|nice| setpriority_process(me, nice.saturating_add(HASHING_NICENESS)));
        if let Err(e) = lowered {
            tracing::warn!(error = %e, "cannot lower the priority of a hashing thread");
        }
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds the hasher, computing its dummy hash (one argon2 run, on this thread).
    pub fn new(settings: &HashingSettings) -> Result<PasswordHasher, HashError> {
        let mut random = [0u8; 32];
        aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut random)
            .map_err(|_| HashError::Failed("no randomness".into()))?;
        let dummy_password = SecretString::from(crate::token::base64url(&random));
        let dummy_hash = hash_now(settings.cost, &dummy_password)?;
        Ok(PasswordHasher {
            cost: settings.cost,
            admission: Arc::new(Semaphore::new(settings.concurrency + settings.queue)),
            workers: Arc::new(Semaphore::new(settings.concurrency)),
            capacity: settings.concurrency + settings.queue,
            concurrency: settings.concurrency,
            dummy_hash: dummy_hash.into(),
            jobs: start_hashing_threads(settings.concurrency)?,
        })
    }

    /// Hashes a new password under the current cost.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let cost = self.cost;
        self.run(move |_| hash_now(cost, &password)).await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there
    /// is no user, so both cost the same. A match under outdated parameters also
    /// returns the upgraded hash, computed in the same slot.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verdict, HashError> {
        let cost = self.cost;
        let is_real = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        self.run(move |memory| {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                tracing::error!("a stored password hash is not a valid PHC string");
                return Ok(Verdict::Mismatch);
            };
            let matches = verify_now(memory, &password, &parsed);
            if !(matches && is_real) {
                return Ok(Verdict::Mismatch);
            }
            let upgraded_hash = if is_current(&parsed, cost) {
                None
            } else {
                Some(hash_now(cost, &password)?)
            };
            Ok(Verdict::Match { upgraded_hash })
        })
        .await?
    }

    /// Hashes currently running or waiting (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        // Permits are only ever returned, never added, so this cannot underflow.
        self.capacity - self.admission.available_permits()
    }

    /// Hashes currently running on a worker thread.
    pub fn running(&self) -> usize {
        self.concurrency - self.workers.available_permits()
    }

    /// Takes a queue slot (or fails at once), waits for a worker, runs `work` on a
    /// hashing thread inside the caller's span.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Argon2Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _queued = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let _running = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed("hasher closed".into()))?;
        let span = tracing::Span::current();
        let (reply, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = reply.send(span.in_scope(|| work(memory)));
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("the hashing threads stopped".into()))?;
        result
            .in_current_span()
            .await
            .map_err(|_| HashError::Failed("a hashing job failed".into()))
    }
}

/// Memory for argon2, kept from one verification to the next: allocating
/// ~20 MiB afresh for every login, which the kernel maps and zeroes page by
/// page, cost a quarter of a login's CPU time (the crypto bench and
/// scripts/bench.sh measure it).
#[derive(Default)]
pub struct Argon2Memory(Vec<Block>);

/// Checks `password` against a parsed PHC hash, on this thread, at the cost
/// (algorithm, version, parameters) the hash names, working in `memory`. This
/// is what [`PasswordHasher::verify`] runs on its workers; public so that
/// the crypto bench (tests/bench/crypto.rs) measures this very code. Any
/// malformed hash is a mismatch.
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
fn is_current(hash: &PasswordHash<'_>, cost: Argon2Cost) -> bool {
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

    fn cheap() -> HashingSettings {
        HashingSettings {
            cost: Argon2Cost {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            concurrency: 1,
            queue: 1,
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let hash = hasher.hash(secret("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_eq!(
            hasher
                .verify(secret("correct horse"), Some(hash.clone()))
                .await
                .unwrap(),
            Verdict::Match {
                upgraded_hash: None
            }
        );
        assert_eq!(
            hasher
                .verify(secret("wrong horse"), Some(hash))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn no_stored_hash_never_matches_even_the_dummy_password() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        assert_eq!(
            hasher.verify(secret(""), None).await.unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn a_hash_under_other_parameters_is_upgraded_on_match() {
        let old = PasswordHasher::new(&cheap()).unwrap();
        let hash = old.hash(secret("correct horse")).await.unwrap();
        let mut settings = cheap();
        settings.cost.iterations = 2;
        let new = PasswordHasher::new(&settings).unwrap();
        let Verdict::Match {
            upgraded_hash: Some(upgraded),
        } = new
            .verify(secret("correct horse"), Some(hash))
            .await
            .unwrap()
        else {
            panic!("expected an upgraded hash");
        };
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=64,t=2,p=1$"),
            "{upgraded}"
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        // Hold every admission slot, as a flood of requests would.
        let _held = hasher.admission.clone().try_acquire_many_owned(2).unwrap();
        assert_eq!(hasher.in_flight(), 2);
        assert!(matches!(
            hasher.hash(secret("x")).await,
            Err(HashError::Busy)
        ));
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
            hash_now(cheap().cost, &password).unwrap(),
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_a_lower_priority_than_the_caller() {
        use rustix::process::getpriority_process;
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let caller = getpriority_process(None).unwrap();
        let hashing = hasher
            .run(|_| getpriority_process(Some(rustix::thread::gettid())).unwrap())
            .await
            .unwrap();
        assert_eq!(hashing, (caller + HASHING_NICENESS).min(19));
    }

    #[test]
    fn cost_checks_name_the_setting_at_fault() {
        let bad = Argon2Cost {
            memory_kib: 4,
            iterations: 1,
            parallelism: 1,
        };
        assert_eq!(check_cost(bad).unwrap_err().0, "SIGIL_ARGON2_MEMORY_KIB");
        let bad = Argon2Cost {
            memory_kib: 64,
            iterations: 0,
            parallelism: 1,
        };
        assert_eq!(check_cost(bad).unwrap_err().0, "SIGIL_ARGON2_ITERATIONS");
        assert!(check_cost(Argon2Cost::default()).is_ok());
    }
}
