//! SQLite backend of [`Store`].
//!
//! All SQL and SQLite-specific behaviour lives here and in the child modules:
//! connection settings (WAL, `synchronous=FULL`, foreign keys, busy timeout),
//! the text encoding of ids and timestamps and the mapping of SQLite errors
//! onto [`StoreError`] (`convert`), the storage steps of refresh families
//! (`families`), a user's sessions (`sessions`), login attempts and the
//! addresses accounts logged in from (`throttle`), confidential clients (`clients`), and revoked access tokens
//! and the read-only look at a refresh token for introspection
//! (`revocations`). Every write goes through one writer connection, and
//! every writing transaction starts with `BEGIN IMMEDIATE`, so it holds the
//! database's write lock from its first read and concurrent writers queue up
//! instead of failing half-way. The writes of refresh families and of new
//! users that arrive together share one transaction and one fsync
//! (`group_commit`); each caller is answered after that commit.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

use crate::config::ThrottlePolicy;

use super::migrate::{self, migrate_error};
use super::refresh;
use super::{
    ADMIN_SCOPE, Attempt, Client, ClientPatch, ClientWithSecrets, LockSchedule, NewClient, NewUser,
    Purged, RefreshOutcome, RefreshTokenState, Session, SessionOrigin, Store, StoreError,
    Successor, User, UserPatch, failure_window_start, is_enabled_admin,
};

mod clients;
mod convert;
mod families;
mod group_commit;
mod revocations;
mod sessions;
mod throttle;

use convert::{classify, encode_scopes, prepare_file, user_from_row};
use families::revoke_families_of_user;
use group_commit::{Answer, GroupCommit, Work};

/// Pool size used by [`SqliteStore::connect`] for a database file.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// `SELECT` of every user column, followed by the rest of the query.
macro_rules! select_user {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, name, password_hash, scopes, disabled, created_at FROM users ",
            $rest
        )
    };
}

/// A [`Store`] kept in one SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connections that read. In WAL mode readers never wait for the writer.
    pool: SqlitePool,
    /// The one connection that writes (the same pool as `pool` for an
    /// in-memory database). SQLite admits one writer at a time: writers that
    /// wait here are woken the moment the previous one commits, whereas
    /// writers racing on several connections lose to `SQLITE_BUSY` and sleep
    /// in SQLite's busy handler for 1, 2, 5, 10… ms, which under a burst of
    /// refreshes cost both throughput and CPU (profiled for scripts/bench.sh).
    writer: SqlitePool,
    /// The batches of writes on `writer` that share one commit.
    batches: Arc<GroupCommit>,
}

impl SqliteStore {
    /// Opens (creating the file and its parent directory if missing) the
    /// database at `url`, e.g. `sqlite://data/sigil.db` or `sqlite::memory:`,
    /// and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like [`SqliteStore::connect`], with at most `max_connections` pooled
    /// connections (at least one). An in-memory database always gets a single
    /// connection that is never recycled, so every query sees the same data.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::Other)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // A connection to a local file does not go stale the way a network
        // connection can, so the ping before each use (one more round trip to
        // the connection's thread per query) buys nothing.
        let pool_options = || {
            SqlitePoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
        };
        let pool = if in_memory {
            pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options.clone())
                .await
        } else {
            prepare_file(options.get_filename()).await?;
            pool_options()
                .max_connections(max_connections.max(1))
                .connect_with(options.clone())
                .await
        }
        .map_err(classify)?;
        let migrator = migrate::SQLITE
            .migrator()
            .await
            .map_err(StoreError::Other)?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| migrate_error(e, classify))?;
        let writer = if in_memory {
            pool.clone()
        } else {
            pool_options()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(classify)?
        };
        tracing::debug!("sqlite store ready");
        let batches = Arc::new(GroupCommit::new(writer.clone()));
        Ok(SqliteStore {
            pool,
            writer,
            batches,
        })
    }

    /// Closes every pooled connection, waiting for running queries to end.
    /// Later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// The underlying pool, for tests that look at the schema directly.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a transaction holding the write lock from the start.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)
    }

    /// The writer pool, for tests that hold the writer connection.
    #[cfg(test)]
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The batches of writes, for tests that count commits.
    #[cfg(test)]
    fn batches(&self) -> &GroupCommit {
        &self.batches
    }
}

/// An answer of a kind the work queued never gets.
fn unexpected_answer() -> StoreError {
    StoreError::Other(sqlx::Error::Protocol(
        "unexpected answer from the batch of writes".into(),
    ))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        let user = User {
            id: Uuid::new_v4(),
            email: new.email,
            name: new.name,
            password_hash: new.password_hash,
            scopes: new.scopes,
            disabled: false,
            created_at: Utc::now().trunc_subsecs(6),
        };
        match self.batches.submit(Work::CreateUser(user)).await? {
            Answer::UserCreated(user) => Ok(user),
            _ => Err(unexpected_answer()),
        }
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE email_lower = ?"))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_user!("ORDER BY created_at, id LIMIT ? OFFSET ?"))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.try_into().unwrap_or(0))
    }

    async fn update_user(&self, id: Uuid, patch: UserPatch) -> Result<Option<User>, StoreError> {
        let scopes = patch.scopes.as_deref().map(encode_scopes).transpose()?;
        let id_text = id.to_string();
        // `BEGIN IMMEDIATE` holds the one write lock from here to the commit,
        // so the administrators counted below are the ones that will remain.
        let mut tx = self.begin_write().await?;
        let Some(before) = sqlx::query(select_user!("WHERE id = ?"))
            .bind(&id_text)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
        else {
            tx.rollback().await.map_err(classify)?;
            return Ok(None);
        };
        let was_admin = is_enabled_admin(&user_from_row(&before)?);
        sqlx::query(
            "UPDATE users SET scopes = COALESCE(?, scopes), disabled = COALESCE(?, disabled) \
             WHERE id = ?",
        )
        .bind(scopes)
        .bind(patch.disabled)
        .bind(&id_text)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let row = sqlx::query(select_user!("WHERE id = ?"))
            .bind(&id_text)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let user = user_from_row(&row)?;
        if was_admin && !is_enabled_admin(&user) {
            let admin_left: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM users WHERE disabled = 0 \
                 AND EXISTS (SELECT 1 FROM json_each(users.scopes) WHERE json_each.value = ?))",
            )
            .bind(ADMIN_SCOPE)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
            if !admin_left {
                tx.rollback().await.map_err(classify)?;
                return Err(StoreError::LastAdmin);
            }
        }
        if patch.disabled == Some(true) {
            revoke_families_of_user(&mut tx, id, Utc::now()).await?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(Some(user))
    }

    async fn create_refresh_family(
        &self,
        user_id: Uuid,
        scope: &str,
        token_hash: &[u8],
        expires_at: DateTime<Utc>,
        origin: &SessionOrigin,
    ) -> Result<Uuid, StoreError> {
        let work = Work::StartFamily {
            user_id,
            scope: scope.to_owned(),
            origin: origin.clone(),
            first_hash: token_hash.to_vec(),
            expires_at,
            now: Utc::now(),
        };
        match self.batches.submit(work).await? {
            Answer::FamilyStarted(family_id) => Ok(family_id),
            _ => Err(unexpected_answer()),
        }
    }

    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        successor: Successor<'_>,
        now: DateTime<Utc>,
        reuse_interval: Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        let seen = self.refresh_token_state(token_hash).await?;
        if let Some(outcome) = refresh::settled_by_reading(seen.as_ref(), now) {
            return Ok(outcome);
        }
        let work = Work::Rotate {
            seen,
            presented: token_hash.to_vec(),
            successor_hash: successor.hash.to_vec(),
            successor_expires_at: successor.expires_at,
            sealed: successor.sealed.map(<[u8]>::to_vec),
            now,
            reuse_interval,
        };
        match self.batches.submit(work).await? {
            Answer::Refresh(outcome) => Ok(outcome),
            _ => Err(unexpected_answer()),
        }
    }

    async fn revoke_family_of(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let seen = self.refresh_token_state(token_hash).await?;
        // Answered from the reader without queueing, as the policy would
        // (it decides again inside the batch).
        if let Some(found) = refresh::logout_settled_by_reading(seen.as_ref()) {
            return Ok(found);
        }
        let work = Work::RevokeFamily {
            seen,
            presented: token_hash.to_vec(),
            now,
        };
        match self.batches.submit(work).await? {
            Answer::FamilyRevoked(found) => Ok(found),
            _ => Err(unexpected_answer()),
        }
    }

    async fn revoke_user_families(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(classify)?;
        revoke_families_of_user(&mut conn, user_id, now).await
    }

    async fn record_throttle_event(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u32, StoreError> {
        throttle::record_failure(&self.writer, key, now, failure_window_start(now, window)).await
    }

    async fn throttle_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        throttle::lock(&self.writer, key, until).await
    }

    async fn throttle_locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        throttle::locked_until(&self.pool, key, now).await
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        throttle::clear(&self.writer, key).await
    }

    async fn purge_expired(
        &self,
        expired_before: DateTime<Utc>,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> Result<Purged, StoreError> {
        let purged = throttle::purge(&self.writer, expired_before, now, quiet_since).await?;
        Ok(Purged {
            revoked_access_tokens: revocations::purge(&self.writer, expired_before).await?,
            spent_refresh_tokens: families::purge_spent(&self.writer, expired_before).await?,
            ..purged
        })
    }

    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        revocations::revoke(&self.writer, jti, expires_at).await
    }

    async fn user_unless_revoked(&self, id: Uuid, jti: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!(
            "WHERE id = ? AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?)"
        ))
        .bind(id.to_string())
        .bind(jti)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        revocations::is_revoked(&self.pool, jti).await
    }

    async fn revoked_access_token_ids(&self) -> Result<Vec<String>, StoreError> {
        revocations::revoked_ids(&self.pool).await
    }

    async fn refresh_token_state(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        revocations::refresh_token_state(&self.pool, token_hash).await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        sessions::list(&self.pool, user_id, now).await
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        sessions::revoke(&self.writer, user_id, family_id, now).await
    }

    async fn create_client(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<Client, StoreError> {
        clients::create(&self.writer, new, now).await
    }

    async fn client_by_id(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ClientWithSecrets>, StoreError> {
        clients::by_id(&self.pool, id, now).await
    }

    async fn client_for_authentication(
        &self,
        id: &str,
        throttle_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<ClientWithSecrets>, Option<DateTime<Utc>>), StoreError> {
        clients::for_authentication(&self.pool, id, throttle_key, now).await
    }

    async fn list_clients(&self, limit: u32, offset: u32) -> Result<Vec<Client>, StoreError> {
        clients::list(&self.pool, limit, offset).await
    }

    async fn update_client(
        &self,
        id: &str,
        patch: ClientPatch,
    ) -> Result<Option<Client>, StoreError> {
        clients::update(&self.writer, id, patch).await
    }

    async fn rotate_client_secret(
        &self,
        id: &str,
        new_hash: &[u8],
        now: DateTime<Utc>,
        previous_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        clients::rotate_secret(&self.writer, id, new_hash, now, previous_until).await
    }

    // --- Login attempts (issue 12).

    async fn take_throttle_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Attempt, StoreError> {
        let schedule = LockSchedule::new(policy, now);
        throttle::take_attempt(&self.writer, &self.pool, key, now, &schedule).await
    }

    async fn release_throttle_attempt(
        &self,
        key: &str,
        started_lock: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        throttle::release_attempt(&self.writer, key, started_lock).await
    }

    async fn is_known_login_source(
        &self,
        email: &str,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        throttle::is_known_source(&self.pool, email, source, since).await
    }

    async fn remember_login_source(
        &self,
        user_id: Uuid,
        source: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
        keep: u32,
    ) -> Result<(), StoreError> {
        throttle::remember_source(&self.writer, user_id, source, now, forget_before, keep).await
    }
}
