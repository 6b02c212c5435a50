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
//! the next, and wipes it when the thread ends.
//!
//! A request that goes away (its client hung up, so its handler future was
//! dropped) cannot leave work behind that outlives the bound: a job holds
//! its queue slot and its worker slot until a worker has run it or skipped
//! it, and a worker skips a job whose caller is gone. The totals of both
//! are in `/metrics`.
//!
//! `argon` holds the argon2id work itself (run on this thread), `check` one
//! verification with its upgrade and its padding (every refusal costs what
//! the dummy hash costs), `workers` the low-priority threads that run them.

mod argon;
mod check;
mod workers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::config::{Argon2Cost, HashingSettings};
pub use argon::{Argon2Memory, hash_now, verify_now};
pub use workers::HASHING_NICENESS;
use workers::{Job, start_hashing_threads};

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
    /// What the hashing threads did with the jobs they took.
    tally: Arc<Tally>,
}

/// Jobs the hashing threads computed or skipped, since start.
#[derive(Debug, Default)]
struct Tally {
    computed: AtomicU64,
    skipped: AtomicU64,
}

/// The hashing queue at one moment, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashingLoad {
    /// Hashes being computed now.
    pub running: usize,
    /// Hashes admitted and waiting for a worker.
    pub waiting: usize,
    /// Hashes computed since start (verifications and new hashes).
    pub computed: u64,
    /// Jobs skipped since start because their caller had gone.
    pub skipped: u64,
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
        let dummy_password = SecretString::from(URL_SAFE_NO_PAD.encode(random));
        let dummy_hash = hash_now(settings.cost, &dummy_password)?;
        Ok(PasswordHasher {
            cost: settings.cost,
            admission: Arc::new(Semaphore::new(settings.concurrency + settings.queue)),
            workers: Arc::new(Semaphore::new(settings.concurrency)),
            capacity: settings.concurrency + settings.queue,
            concurrency: settings.concurrency,
            dummy_hash: dummy_hash.into(),
            jobs: start_hashing_threads(settings.concurrency)?,
            tally: Arc::default(),
        })
    }

    /// [`PasswordHasher::new`] on a blocking thread, so the one argon2 run of
    /// the dummy hash does not hold up the async runtime.
    pub async fn start(settings: &HashingSettings) -> Result<PasswordHasher, HashError> {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || PasswordHasher::new(&settings))
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?
    }

    /// Hashes a new password under the current cost.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let cost = self.cost;
        self.run(move |memory| argon::hash_in(memory, cost, &password))
            .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there
    /// is no user, so both cost the same. A match under outdated parameters
    /// that `may_upgrade` (the user may log in) also returns the upgraded
    /// hash, computed in the same slot. Any refusal costs at least what the
    /// dummy costs (see `check`).
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
        may_upgrade: bool,
    ) -> Result<Verdict, HashError> {
        let cost = self.cost;
        let is_real = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        self.run(move |memory| {
            check::check(memory, cost, &password, &stored, is_real, may_upgrade)
                .map(|checked| checked.verdict)
        })
        .await?
    }

    /// The queue now and the jobs done since start, for metrics.
    pub fn load(&self) -> HashingLoad {
        let running = self.running();
        HashingLoad {
            running,
            waiting: self.in_flight().saturating_sub(running),
            computed: self.computed(),
            skipped: self.skipped(),
        }
    }

    /// Hashes computed since start (verifications and new hashes).
    pub fn computed(&self) -> u64 {
        self.tally.computed.load(Ordering::Relaxed)
    }

    /// Jobs skipped since start because their caller had gone.
    pub fn skipped(&self) -> u64 {
        self.tally.skipped.load(Ordering::Relaxed)
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
    ///
    /// The job owns both slots. A caller that goes away (its HTTP client
    /// hung up, so the handler future was dropped) gives up its slots only
    /// if it leaves before it got a worker; once its job is sent, the slots
    /// go back when the job is done or skipped. A job whose caller is gone
    /// by the time a worker takes it is skipped. So abandoned requests can
    /// never queue more hashes than the slots allow, and no hash is spent
    /// on an answer nobody reads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Argon2Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let queued = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let running = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Failed("hasher closed".into()))?;
        let span = tracing::Span::current();
        let (reply, result) = tokio::sync::oneshot::channel();
        let tally = self.tally.clone();
        let job: Job = Box::new(move |memory| {
            let slots = (queued, running);
            if reply.is_closed() {
                tally.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let outcome = span.in_scope(|| work(memory));
            tally.computed.fetch_add(1, Ordering::Relaxed);
            // Free before answering: a caller that has its answer holds no slot.
            drop(slots);
            let _ = reply.send(outcome);
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
                .verify(secret("correct horse"), Some(hash.clone()), true)
                .await
                .unwrap(),
            Verdict::Match {
                upgraded_hash: None
            }
        );
        assert_eq!(
            hasher
                .verify(secret("wrong horse"), Some(hash), true)
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn no_stored_hash_never_matches_even_the_dummy_password() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        assert_eq!(
            hasher.verify(secret(""), None, true).await.unwrap(),
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
            .verify(secret("correct horse"), Some(hash), true)
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

    #[tokio::test]
    async fn a_user_who_may_not_log_in_gets_no_upgraded_hash() {
        let old = PasswordHasher::new(&cheap()).unwrap();
        let hash = old.hash(secret("correct horse")).await.unwrap();
        let mut settings = cheap();
        settings.cost.iterations = 2;
        let new = PasswordHasher::new(&settings).unwrap();

        let verdict = new
            .verify(secret("correct horse"), Some(hash), false)
            .await
            .unwrap();

        assert_eq!(
            verdict,
            Verdict::Match {
                upgraded_hash: None
            }
        );
    }

    /// Occupies the one hashing thread of `hasher` without taking a slot,
    /// so that the next job waits in the channel; sending on the returned
    /// channel lets the thread go.
    fn block_the_hashing_thread(hasher: &PasswordHasher) -> mpsc::Sender<()> {
        let (release, blocked) = mpsc::channel::<()>();
        hasher
            .jobs
            .send(Box::new(move |_| {
                let _ = blocked.recv();
            }))
            .unwrap();
        release
    }

    /// Starts a hash and leaves after `patience`, as an HTTP client hanging
    /// up mid-login does (its handler future is dropped).
    async fn abandon(hasher: &PasswordHasher, patience: std::time::Duration) {
        let outcome = tokio::time::timeout(patience, hasher.hash(secret("x"))).await;
        assert!(outcome.is_err(), "the hash finished before its caller left");
    }

    /// Waits (at most 10 s) until no hash is running or waiting.
    async fn drained(hasher: &PasswordHasher) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hasher.in_flight() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the queue never drained"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_keeps_its_slots_until_a_worker_skips_it() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let release = block_the_hashing_thread(&hasher);

        abandon(&hasher, std::time::Duration::from_millis(50)).await;

        assert_eq!(hasher.in_flight(), 1, "the queued job holds its slot");
        assert_eq!(hasher.running(), 1, "and its worker slot");
        release.send(()).unwrap();
        drained(&hasher).await;
        assert_eq!((hasher.computed(), hasher.skipped()), (0, 1));
    }

    #[tokio::test]
    async fn abandoned_callers_never_queue_more_jobs_than_the_slots() {
        let hasher = PasswordHasher::new(&cheap()).unwrap();
        let release = block_the_hashing_thread(&hasher);

        for _ in 0..10 {
            abandon(&hasher, std::time::Duration::from_millis(20)).await;
            assert!(hasher.in_flight() <= hasher.capacity);
        }
        release.send(()).unwrap();
        drained(&hasher).await;

        let reached_a_worker = hasher.computed() + hasher.skipped();
        assert!(
            reached_a_worker <= hasher.capacity as u64,
            "{} computed + {} skipped jobs from 10 abandoned callers, {} slots",
            hasher.computed(),
            hasher.skipped(),
            hasher.capacity
        );
        // And the queue still serves the next caller.
        hasher.hash(secret("x")).await.unwrap();
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
}
