//! Group commit: the writes that start, rotate and end refresh families, and
//! the insert of a new user, share one transaction and one fsync when they
//! arrive together.
//!
//! With `synchronous=FULL` every `COMMIT` waits for the disk, and SQLite
//! admits one writer at a time, so one transaction per refresh caps the
//! refresh rate at the disk's fsync rate. Instead, callers queue a [`Work`]
//! and wait for its answer; one task ([`run`]) takes the first queued job,
//! the writer connection, and then every job queued meanwhile (at most
//! [`MAX_BATCH`], never waiting for more), runs them one after the other in
//! one `BEGIN IMMEDIATE` transaction, commits once, and only then answers
//! every caller: an answer always reports a durable change.
//!
//! Each refresh-family job runs inside its own savepoint (the refresh
//! policy's [`FamilyWrite`](crate::store::refresh::FamilyWrite) over a
//! nested sqlx transaction), so a job that fails is rolled back alone and
//! answered with its own error while the others go on; an insert of a user
//! is one statement, which SQLite undoes alone when it fails (the duplicate
//! email of a register). Jobs run in the order they were queued, so two
//! presentations of one refresh token in one batch are decided one after
//! the other, each on what the previous one wrote, exactly as in two
//! transactions. A failure that may have ended the whole transaction (I/O,
//! disk full, busy: [`StoreError::Unavailable`]) stops the batch: nothing of
//! it is committed and every job in it is answered with an error, as when
//! the `COMMIT` itself fails.
//!
//! A caller that stops waiting (its request was dropped) does not stop its
//! job: the task owns the job and runs it to the end; the answer is then
//! dropped. A refresh rotated for nobody is what a lost answer is anyway,
//! and the reuse interval lets the client's retry get the same successor.
//!
//! The task takes the writer pool's one connection for each batch and gives
//! it back after the commit, so the other writes (throttles, clients,
//! administration of users), which take it directly, queue with the batches
//! and cannot deadlock with them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqlitePool;
use sqlx::{Connection, Sqlite, Transaction, TransactionManager};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::convert::{classify, encode_scopes, is_email_conflict, ts};
use super::families::FamilyTransaction;
use crate::store::refresh::{self, NewToken, RefreshOutcome, SessionOrigin, Successor};
use crate::store::{RefreshTokenState, StoreError, User};

/// Most jobs in one transaction: enough to cover every request a server
/// holds at once in a burst, few enough that one batch's transaction stays
/// short for the writes queued behind it.
pub(super) const MAX_BATCH: usize = 128;

/// A write to make in the next batch, with everything it needs owned.
pub(super) enum Work {
    /// [`refresh::rotate`] of a presented token not settled by reading it.
    Rotate {
        seen: Option<RefreshTokenState>,
        presented: Vec<u8>,
        successor_hash: Vec<u8>,
        successor_expires_at: DateTime<Utc>,
        sealed: Option<Vec<u8>>,
        now: DateTime<Utc>,
        reuse_interval: Duration,
    },
    /// [`refresh::revoke_family_of`] (logout).
    RevokeFamily {
        seen: Option<RefreshTokenState>,
        presented: Vec<u8>,
        now: DateTime<Utc>,
    },
    /// [`refresh::start_family`] (login, register).
    StartFamily {
        user_id: Uuid,
        scope: String,
        origin: SessionOrigin,
        first_hash: Vec<u8>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// The insert of a new user (register).
    CreateUser(User),
}

/// What a [`Work`] answers once its batch committed.
pub(super) enum Answer {
    Refresh(RefreshOutcome),
    FamilyRevoked(bool),
    FamilyStarted(Uuid),
    UserCreated(User),
}

type Reply = oneshot::Sender<Result<Answer, StoreError>>;

/// A queued [`Work`] and where its answer goes.
struct Job {
    work: Work,
    reply: Reply,
}

/// Counts of what the batch task did, for tests and the debug log.
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Jobs handed to the queue.
    pub(super) queued: AtomicU64,
    /// Batches whose `COMMIT` succeeded.
    pub(super) commits: AtomicU64,
    /// Jobs answered after a successful `COMMIT`.
    pub(super) committed_jobs: AtomicU64,
}

/// The queue of a store's batched writes, and the task that runs them.
pub(super) struct GroupCommit {
    writer: SqlitePool,
    /// The queue into the running task; replaced when that task is gone
    /// (its runtime shut down), so a store outlives the runtime it was
    /// opened on.
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    stats: Arc<Stats>,
    /// Test only: a pause before each `COMMIT`, which widens the moment in
    /// which a caller answered too early would see its change missing.
    #[cfg(test)]
    pub(super) pause_before_commit: Arc<Mutex<Duration>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Batches writes on `writer`, the pool of the one writing connection.
    pub(super) fn new(writer: SqlitePool) -> GroupCommit {
        GroupCommit {
            writer,
            queue: Mutex::new(None),
            stats: Arc::default(),
            #[cfg(test)]
            pause_before_commit: Arc::default(),
        }
    }

    /// What the batch task did so far.
    #[cfg(test)]
    pub(super) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Queues `work` and waits for its answer, which comes after the commit
    /// of its batch.
    pub(super) async fn submit(&self, work: Work) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job { work, reply });
        answer.await.unwrap_or_else(|_| Err(task_gone()))
    }

    fn enqueue(&self, job: Job) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let job = match queue.as_ref() {
            Some(running) => match running.send(job) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(
            self.writer.clone(),
            receiver,
            Arc::clone(&self.stats),
            #[cfg(test)]
            Arc::clone(&self.pause_before_commit),
        ));
        // The receiver is alive: it was just made and moved into the task.
        if sender.send(job).is_ok() {
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
        }
        *queue = Some(sender);
    }
}

/// The answer of a caller whose job was lost with its task (a runtime shut
/// down with the job queued).
fn task_gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::WorkerCrashed)
}

/// The batch task: one batch after another until every sender is gone.
async fn run(
    writer: SqlitePool,
    mut queue: mpsc::UnboundedReceiver<Job>,
    stats: Arc<Stats>,
    #[cfg(test)] pause_before_commit: Arc<Mutex<Duration>>,
) {
    while let Some(first) = queue.recv().await {
        // The connection first, then whatever queued while waiting for it.
        let conn = writer.acquire().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                fail_all(batch, &classify(e));
                continue;
            }
        };
        #[cfg(test)]
        let pause = *pause_before_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        run_batch(
            conn,
            batch,
            &stats,
            #[cfg(test)]
            pause,
        )
        .await;
    }
}

/// Runs `batch` in one transaction on `conn` and answers every job.
async fn run_batch(
    mut conn: PoolConnection<Sqlite>,
    batch: Vec<Job>,
    stats: &Stats,
    #[cfg(test)] pause_before_commit: Duration,
) {
    let size = batch.len();
    let mut outer = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(outer) => outer,
        Err(e) => {
            fail_all(batch, &classify(e));
            return;
        }
    };
    let mut answers = Vec::with_capacity(size);
    let mut broken = None;
    for Job { work, reply } in batch {
        if let Some(error) = &broken {
            answers.push((reply, Err(copy_error(error))));
            continue;
        }
        let answer = run_job(&mut outer, work).await;
        if let Err(e @ StoreError::Unavailable(_)) = &answer {
            broken = Some(copy_error(e));
        } else if answer.is_err() && !settled(&mut outer).await {
            // A savepoint left open (its rollback failed): committing now
            // would only release it.
            broken = Some(StoreError::Other(sqlx::Error::Protocol(
                "a savepoint of the batch stayed open".into(),
            )));
        }
        answers.push((reply, answer));
    }
    if let Some(error) = broken {
        // Nothing of the batch is kept: the transaction may already have
        // ended, and the connection's idea of it with it.
        drop(outer);
        conn.close_on_drop();
        tracing::warn!(jobs = size, error = %error, "a batch of writes failed and was rolled back");
        for (reply, answer) in answers {
            let _ = reply.send(Err(match answer {
                Err(e) => e,
                Ok(_) => copy_error(&error),
            }));
        }
        return;
    }
    #[cfg(test)]
    if !pause_before_commit.is_zero() {
        tokio::time::sleep(pause_before_commit).await;
    }
    match outer.commit().await {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats
                .committed_jobs
                .fetch_add(size as u64, Ordering::Relaxed);
            tracing::debug!(jobs = size, "group commit");
            for (reply, answer) in answers {
                // A caller that stopped waiting is not told.
                let _ = reply.send(answer);
            }
        }
        Err(e) => {
            let error = classify(e);
            conn.close_on_drop();
            tracing::warn!(jobs = size, error = %error, "the commit of a batch of writes failed");
            for (reply, _) in answers {
                let _ = reply.send(Err(copy_error(&error)));
            }
        }
    }
}

/// Whether the batch's transaction is still open and outside every
/// savepoint after a job failed: the failed job's savepoint is rolled back
/// by sqlx when it is dropped, in the background, so a round trip (a ping,
/// queued behind that rollback) comes first; then sqlx's count of nested
/// transactions must be 1.
async fn settled(outer: &mut Transaction<'_, Sqlite>) -> bool {
    (**outer).ping().await.is_ok()
        && <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(outer) == 1
}

/// Runs one job inside the batch's transaction `outer`.
async fn run_job(outer: &mut Transaction<'_, Sqlite>, work: Work) -> Result<Answer, StoreError> {
    match work {
        Work::Rotate {
            seen,
            presented,
            successor_hash,
            successor_expires_at,
            sealed,
            now,
            reuse_interval,
        } => {
            let successor = Successor {
                hash: &successor_hash,
                expires_at: successor_expires_at,
                sealed: sealed.as_deref(),
            };
            refresh::rotate(
                seen,
                savepoint(outer),
                &presented,
                successor,
                now,
                reuse_interval,
            )
            .await
            .map(Answer::Refresh)
        }
        Work::RevokeFamily {
            seen,
            presented,
            now,
        } => refresh::revoke_family_of(seen, savepoint(outer), &presented, now)
            .await
            .map(Answer::FamilyRevoked),
        Work::StartFamily {
            user_id,
            scope,
            origin,
            first_hash,
            expires_at,
            now,
        } => {
            let first = NewToken {
                hash: &first_hash,
                expires_at,
            };
            refresh::start_family(
                savepoint(outer).await?,
                user_id,
                &scope,
                &origin,
                first,
                now,
            )
            .await
            .map(Answer::FamilyStarted)
        }
        Work::CreateUser(user) => insert_user(outer, user).await.map(Answer::UserCreated),
    }
}

/// Opens a savepoint in `outer`, for the refresh policy to write in.
async fn savepoint<'a>(
    outer: &'a mut Transaction<'_, Sqlite>,
) -> Result<FamilyTransaction<'a>, StoreError> {
    Connection::begin(&mut **outer)
        .await
        .map(FamilyTransaction)
        .map_err(classify)
}

/// Inserts `user`: one statement, undone alone by SQLite if it fails.
async fn insert_user(outer: &mut Transaction<'_, Sqlite>, user: User) -> Result<User, StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, email_lower, name, password_hash, scopes, disabled, \
         created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
    )
    .bind(user.id.to_string())
    .bind(&user.email)
    .bind(user.email.to_lowercase())
    .bind(&user.name)
    .bind(&user.password_hash)
    .bind(encode_scopes(&user.scopes)?)
    .bind(ts(user.created_at))
    .execute(&mut **outer)
    .await
    .map_err(|e| {
        if is_email_conflict(&e) {
            StoreError::EmailTaken
        } else {
            classify(e)
        }
    })?;
    Ok(user)
}

/// Answers every job of `batch` with `error`, none of them run.
fn fail_all(batch: Vec<Job>, error: &StoreError) {
    tracing::warn!(jobs = batch.len(), error = %error, "a batch of writes could not start");
    for job in batch {
        let _ = job.reply.send(Err(copy_error(error)));
    }
}

/// The same kind of error as `error`, for one more caller: a database error
/// cannot be cloned, so the copy carries its text.
fn copy_error(error: &StoreError) -> StoreError {
    let text = || match std::error::Error::source(error) {
        Some(source) => source.to_string(),
        None => error.to_string(),
    };
    match error {
        StoreError::EmailTaken => StoreError::EmailTaken,
        StoreError::LastAdmin => StoreError::LastAdmin,
        StoreError::Unavailable(_) => {
            StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(text())))
        }
        StoreError::Other(_) => StoreError::Other(sqlx::Error::Protocol(text())),
    }
}

#[cfg(test)]
mod tests;
