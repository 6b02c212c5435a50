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
//!
//! `argon` holds the argon2id work itself (run on this thread), `workers` the
//! low-priority threads that run it.

mod argon;
mod workers;

use std::sync::Arc;
use std::sync::mpsc;

use argon2::password_hash::PasswordHash;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::config::{Argon2Cost, HashingSettings};
use argon::is_current;
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
