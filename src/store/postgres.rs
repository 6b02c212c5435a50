//! PostgreSQL backend of [`Store`].
//!
//! All SQL and PostgreSQL-specific behaviour lives here and in the child
//! modules: connecting and migrating (`connect`), the mapping of PostgreSQL
//! errors onto [`StoreError`] (`convert`), the storage steps of refresh
//! families (`families`), a user's sessions (`sessions`), login attempts and
//! the addresses accounts logged in from (`throttle`), confidential clients (`clients`), and revoked access tokens
//! and the read-only look at a refresh token (`revocations`), and the key set
//! of the database key store (`signing_keys`). Columns use
//! native types, so values need no conversion. Several instances may share one
//! database: uniqueness is left to unique indexes, and presenting a refresh
//! token locks the token's row and its family's row (`SELECT … FOR UPDATE`)
//! for the length of its one transaction, or of its one statement when it
//! rotates in one round trip (`families`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::PgPool;
use uuid::Uuid;

use crate::config::ThrottlePolicy;

use super::refresh::{self, NewToken};
use super::{
    ADMIN_SCOPE, Attempt, Client, ClientPatch, ClientWithSecrets, LockSchedule, NewClient, NewUser,
    Purged, RefreshOutcome, RefreshTokenState, Session, SessionOrigin, Store, StoreError,
    Successor, User, UserPatch, failure_window_start, is_enabled_admin,
};

mod clients;
mod connect;
mod convert;
mod families;
mod revocations;
mod sessions;
mod signing_keys;
mod throttle;
mod user_changes;

pub use signing_keys::{
    KEY_LISTENER_NAME, KEY_SET_CHANNEL, KEY_SET_LOCK, KeyRow, KeyTable, KeyTableListener,
    LockedKeyTable,
};
pub use user_changes::{Heard, USER_CHANGES_CHANNEL, USER_LISTENER_NAME, UserChangesListener};

use convert::{classify, is_email_conflict, user_from_row};
use families::{FamilyTransaction, revoke_families_of_user};

/// Key of the transaction-level advisory lock that orders changes of users'
/// scopes and disabled flags ([`Store::update_user`]): "sigilusr" in ASCII.
const USER_CHANGES_LOCK: i64 = 0x7369_6769_6c75_7372;

/// Pool size used by [`PostgresStore::connect`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// `SELECT` of every user column, followed by the rest of the query.
macro_rules! select_user {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, name, password_hash, scopes, disabled, created_at FROM users ",
            $rest
        )
    };
}

/// A [`Store`] kept in a PostgreSQL database, which several instances may
/// share.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// How many refresh-family transactions this store began (tests tell the
    /// one-statement rotation from the full path by it).
    #[cfg(test)]
    transactions: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://…` or
    /// `postgresql://…`) and brings its schema up to date. Fails within a few
    /// seconds with [`StoreError::Unavailable`] when the server cannot be
    /// reached.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like [`PostgresStore::connect`], with at most `max_connections` pooled
    /// connections (at least one).
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
    ) -> Result<PostgresStore, StoreError> {
        let pool = connect::migrated_pool(url, max_connections).await?;
        tracing::debug!("postgres store ready");
        Ok(PostgresStore {
            pool,
            #[cfg(test)]
            transactions: Default::default(),
        })
    }

    /// Closes every pooled connection, waiting for running queries to end.
    /// Later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction for the refresh-family policy.
    async fn begin_family(&self) -> Result<FamilyTransaction, StoreError> {
        #[cfg(test)]
        self.transactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.pool
            .begin()
            .await
            .map(FamilyTransaction)
            .map_err(classify)
    }

    /// How many refresh-family transactions this store has begun.
    #[cfg(test)]
    pub(crate) fn transactions_begun(&self) -> u64 {
        self.transactions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What the policy decides for the token with hash `presented` at `now`,
    /// read as the full path reads it (in a write transaction, rows locked,
    /// then rolled back); `None` when no token has that hash.
    #[cfg(test)]
    pub(in crate::store) async fn policy_verdict(
        &self,
        presented: &[u8],
        now: DateTime<Utc>,
        reuse_interval: Duration,
    ) -> Option<refresh::Verdict> {
        use refresh::FamilyWrite as _;
        let mut tx = FamilyTransaction(self.pool.begin().await.unwrap());
        let token = tx.find_token(presented).await.unwrap();
        tx.rollback().await.unwrap();
        token.map(|token| refresh::verdict(&token, now, reuse_interval))
    }

    /// The underlying pool, for tests that look at the schema directly.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn key_table(&self) -> Option<KeyTable> {
        Some(KeyTable::new(self.pool.clone()))
    }

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
        sqlx::query(
            "INSERT INTO users (id, email, email_lower, name, password_hash, scopes, disabled, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, false, $7)",
        )
        .bind(user.id)
        .bind(&user.email)
        .bind(user.email.to_lowercase())
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(&user.scopes)
        .bind(user.created_at)
        .execute(&self.pool)
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

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE email_lower = $1"))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_user!("ORDER BY created_at, id LIMIT $1 OFFSET $2"))
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
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // Changes to users wait for each other (from every instance) until
        // commit, so that each statement below sees the administrators left
        // by the previous change: at READ COMMITTED, two demotions counting
        // at once would each still see the other's administrator.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(USER_CHANGES_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let Some(before) = sqlx::query(select_user!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?
        else {
            tx.rollback().await.map_err(classify)?;
            return Ok(None);
        };
        let was_admin = is_enabled_admin(&user_from_row(&before)?);
        let row = sqlx::query(concat!(
            "UPDATE users SET scopes = COALESCE($1, scopes), disabled = COALESCE($2, disabled) \
             WHERE id = $3 RETURNING ",
            "id, email, name, password_hash, scopes, disabled, created_at"
        ))
        .bind(patch.scopes.as_deref())
        .bind(patch.disabled)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(classify)?;
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        if was_admin && !is_enabled_admin(&user) {
            let admin_left: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM users WHERE NOT disabled AND $1 = ANY(scopes))",
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
        let first = NewToken {
            hash: token_hash,
            expires_at,
        };
        families::start_in_one_statement(&self.pool, user_id, scope, origin, first, Utc::now())
            .await
    }

    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        successor: Successor<'_>,
        now: DateTime<Utc>,
        reuse_interval: Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        let step =
            families::rotate_in_one_statement(&self.pool, token_hash, successor, now).await?;
        let begin = self.begin_family();
        refresh::rotate_after_one_step(step, begin, token_hash, successor, now, reuse_interval)
            .await
    }

    async fn revoke_family_of(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        families::revoke_in_one_statement(&self.pool, token_hash, now).await
    }

    async fn revoke_user_families(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        revoke_families_of_user(&mut conn, user_id, now).await
    }

    async fn record_throttle_event(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u32, StoreError> {
        throttle::record_failure(&self.pool, key, now, failure_window_start(now, window)).await
    }

    async fn throttle_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        throttle::lock(&self.pool, key, until).await
    }

    async fn throttle_locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        throttle::locked_until(&self.pool, key, now).await
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        throttle::clear(&self.pool, key).await
    }

    async fn purge_expired(
        &self,
        expired_before: DateTime<Utc>,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> Result<Purged, StoreError> {
        let purged = throttle::purge(&self.pool, expired_before, now, quiet_since).await?;
        Ok(Purged {
            revoked_access_tokens: revocations::purge(&self.pool, expired_before).await?,
            spent_refresh_tokens: families::purge_spent(&self.pool, expired_before).await?,
            ..purged
        })
    }

    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        revocations::revoke(&self.pool, jti, expires_at).await
    }

    async fn user_unless_revoked(&self, id: Uuid, jti: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!(
            "WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $2)"
        ))
        .bind(id)
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
        sessions::revoke(&self.pool, user_id, family_id, now).await
    }

    async fn create_client(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<Client, StoreError> {
        clients::create(&self.pool, new, now).await
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
        clients::update(&self.pool, id, patch).await
    }

    async fn rotate_client_secret(
        &self,
        id: &str,
        new_hash: &[u8],
        now: DateTime<Utc>,
        previous_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        clients::rotate_secret(&self.pool, id, new_hash, now, previous_until).await
    }

    // --- Login attempts (issue 12).

    async fn take_throttle_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Attempt, StoreError> {
        let schedule = LockSchedule::new(policy, now);
        throttle::take_attempt(&self.pool, key, now, &schedule).await
    }

    async fn release_throttle_attempt(
        &self,
        key: &str,
        started_lock: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        throttle::release_attempt(&self.pool, key, started_lock).await
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
        throttle::remember_source(&self.pool, user_id, source, now, forget_before, keep).await
    }
}
