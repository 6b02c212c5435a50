//! The SQL of the database key store (`SIGIL_KEY_STORE=database`): the
//! `signing_keys` table, its one-row version, the lock every change takes,
//! and the notifications of committed changes.
//!
//! A change is one transaction: `pg_advisory_xact_lock(KEY_SET_LOCK)` first,
//! so changes from every instance queue up; then the set is read, the caller
//! plans, and [`LockedKeyTable::commit`] writes only the difference (deleted
//! kids, then changed and new rows, the active one last so the partial
//! unique index on the active state holds at every statement), bumps the
//! version and queues `NOTIFY sigil_key_set, '<version>'`, which PostgreSQL
//! delivers at the commit. Dropping a [`LockedKeyTable`] rolls back. Readers
//! take no lock: one `SELECT` sees one committed set.
//!
//! What a row holds beyond the metadata is a [`SealedKey`]; this module never
//! sees a private key in the clear.

use std::fmt;

use sqlx::postgres::{PgListener, PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::keys::{Algorithm, KeyError, KeyMeta, KeyState, SealedKey};

/// Key of the transaction-level advisory lock that orders changes of the
/// key set: "sigilkey" in ASCII.
pub const KEY_SET_LOCK: i64 = 0x7369_6769_6c6b_6579;

/// The channel of committed changes; the payload is the new version.
pub const KEY_SET_CHANNEL: &str = "sigil_key_set";

/// `application_name` of the listening connection, so that an operator (or
/// a test's relay) can tell it from the pool's connections.
pub const KEY_LISTENER_NAME: &str = "sigil-key-listener";

const SELECT_ROWS: &str = "SELECT kid, alg, state, created_at, activated_at, retired_at, \
     grace_until, sealed_key, kek_id FROM signing_keys ORDER BY kid";

/// One key as the table holds it: metadata and the sealed private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    /// kid, algorithm, state and dates.
    pub meta: KeyMeta,
    /// The private key, sealed.
    pub sealed: SealedKey,
}

/// The `signing_keys` table of a PostgreSQL store
/// ([`Store::key_table`](crate::store::Store::key_table)).
#[derive(Clone)]
pub struct KeyTable {
    pool: PgPool,
}

impl fmt::Debug for KeyTable {
    /// The pool's options hold the database password: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTable").finish_non_exhaustive()
    }
}

impl KeyTable {
    pub(super) fn new(pool: PgPool) -> KeyTable {
        KeyTable { pool }
    }

    /// Every row, in one statement (so one committed set), ordered by kid.
    pub async fn rows(&self) -> Result<Vec<KeyRow>, KeyError> {
        let rows = sqlx::query(SELECT_ROWS)
            .fetch_all(&self.pool)
            .await
            .map_err(failed("read"))?;
        rows.iter().map(key_row).collect()
    }

    /// The set's version: bumped by every committed change.
    pub async fn version(&self) -> Result<i64, KeyError> {
        sqlx::query_scalar("SELECT version FROM signing_key_set")
            .fetch_one(&self.pool)
            .await
            .map_err(failed("read the version of"))
    }

    /// Starts a change: a transaction holding the key set's lock (waiting
    /// for any other change to commit), with the set as it is then.
    pub async fn lock(&self) -> Result<LockedKeyTable, KeyError> {
        let mut tx = self.pool.begin().await.map_err(failed("lock"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEY_SET_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(failed("lock"))?;
        let rows = sqlx::query(SELECT_ROWS)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed("read"))?;
        let rows = rows.iter().map(key_row).collect::<Result<_, _>>()?;
        Ok(LockedKeyTable { tx, rows })
    }

    /// Listens for committed changes on a connection of its own (named
    /// [`KEY_LISTENER_NAME`]), opened with the pool's settings.
    pub async fn listen(&self) -> Result<KeyTableListener, KeyError> {
        let mut listener = super::connect::named_listener(&self.pool, KEY_LISTENER_NAME)
            .await
            .map_err(failed("listen for changes of"))?;
        listener
            .listen(KEY_SET_CHANNEL)
            .await
            .map_err(failed("listen for changes of"))?;
        Ok(KeyTableListener { listener })
    }
}

/// A change in progress: the transaction holding the lock and the set as it
/// was read under it. Dropped without [`LockedKeyTable::commit`]: rolled
/// back, nothing written.
pub struct LockedKeyTable {
    tx: Transaction<'static, Postgres>,
    rows: Vec<KeyRow>,
}

impl fmt::Debug for LockedKeyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockedKeyTable")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl LockedKeyTable {
    /// The set as read under the lock, ordered by kid.
    pub fn rows(&self) -> &[KeyRow] {
        &self.rows
    }

    /// Makes the table hold exactly `rows`, bumps the version, notifies
    /// listeners and commits; returns the new version. Only what differs
    /// from the rows read is written.
    pub async fn commit(mut self, rows: &[KeyRow]) -> Result<i64, KeyError> {
        let gone: Vec<&str> = self
            .rows
            .iter()
            .filter(|old| !rows.iter().any(|new| new.meta.kid == old.meta.kid))
            .map(|old| old.meta.kid.as_str())
            .collect();
        if !gone.is_empty() {
            sqlx::query("DELETE FROM signing_keys WHERE kid = ANY($1)")
                .bind(&gone)
                .execute(&mut *self.tx)
                .await
                .map_err(failed("write"))?;
        }
        // Retire before activating: at most one active row at any moment.
        let (active, others): (Vec<&KeyRow>, Vec<&KeyRow>) = rows
            .iter()
            .filter(|row| !self.rows.contains(row))
            .partition(|row| row.meta.state == KeyState::Active);
        for row in others.into_iter().chain(active) {
            upsert(&mut self.tx, row).await?;
        }
        let version: i64 = sqlx::query_scalar(
            "UPDATE signing_key_set SET version = version + 1 RETURNING version",
        )
        .fetch_one(&mut *self.tx)
        .await
        .map_err(failed("write"))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(KEY_SET_CHANNEL)
            .bind(version.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(failed("write"))?;
        self.tx.commit().await.map_err(failed("commit"))?;
        Ok(version)
    }
}

/// Notifications of committed changes.
pub struct KeyTableListener {
    listener: PgListener,
}

impl fmt::Debug for KeyTableListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTableListener").finish_non_exhaustive()
    }
}

impl KeyTableListener {
    /// Waits for the next notification: `Ok(Some(version))`. `Ok(None)`:
    /// the connection was lost and is listening again, so changes may have
    /// been missed. `Err`: the connection failed and could not be
    /// re-established.
    pub async fn next(&mut self) -> Result<Option<i64>, KeyError> {
        let Some(notification) = self
            .listener
            .try_recv()
            .await
            .map_err(failed("listen for changes of"))?
        else {
            return Ok(None);
        };
        notification
            .payload()
            .parse()
            .map(Some)
            .map_err(|_| KeyError::Database {
                action: "listen for changes of",
                reason: format!("a notification on {KEY_SET_CHANNEL} carries no version"),
            })
    }
}

/// Writes `row`, new or changed, whole.
async fn upsert(tx: &mut Transaction<'static, Postgres>, row: &KeyRow) -> Result<(), KeyError> {
    let meta = &row.meta;
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, created_at, activated_at, retired_at, \
         grace_until, sealed_key, kek_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (kid) DO UPDATE SET alg = EXCLUDED.alg, state = EXCLUDED.state, \
         created_at = EXCLUDED.created_at, activated_at = EXCLUDED.activated_at, \
         retired_at = EXCLUDED.retired_at, grace_until = EXCLUDED.grace_until, \
         sealed_key = EXCLUDED.sealed_key, kek_id = EXCLUDED.kek_id",
    )
    .bind(&meta.kid)
    .bind(meta.alg.to_string())
    .bind(meta.state.as_str())
    .bind(meta.created_at)
    .bind(meta.activated_at)
    .bind(meta.retired_at)
    .bind(meta.grace_until)
    .bind(&row.sealed.bytes)
    .bind(&row.sealed.kek_id)
    .execute(&mut **tx)
    .await
    .map_err(failed("write"))?;
    Ok(())
}

/// A `signing_keys` row as selected by [`SELECT_ROWS`].
fn key_row(row: &PgRow) -> Result<KeyRow, KeyError> {
    let get_failed = failed("read");
    let kid: String = row.try_get("kid").map_err(&get_failed)?;
    let invalid = |what: String| KeyError::InvalidSet(format!("the database row {kid}: {what}"));
    let alg: String = row.try_get("alg").map_err(&get_failed)?;
    let alg = alg
        .parse::<Algorithm>()
        .map_err(|e| invalid(KeyError::from(e).to_string()))?;
    let state: String = row.try_get("state").map_err(&get_failed)?;
    let state: KeyState = state
        .parse()
        .map_err(|e: KeyError| invalid(e.to_string()))?;
    Ok(KeyRow {
        meta: KeyMeta {
            alg,
            state,
            created_at: row.try_get("created_at").map_err(&get_failed)?,
            activated_at: row.try_get("activated_at").map_err(&get_failed)?,
            retired_at: row.try_get("retired_at").map_err(&get_failed)?,
            grace_until: row.try_get("grace_until").map_err(&get_failed)?,
            kid: kid.clone(),
        },
        sealed: SealedKey {
            kek_id: row.try_get("kek_id").map_err(&get_failed)?,
            bytes: row.try_get("sealed_key").map_err(&get_failed)?,
        },
    })
}

/// Maps a database failure while doing `action` to a one-line
/// [`KeyError::Database`]: the server's message or the driver's reason,
/// never a statement or its values.
fn failed(action: &'static str) -> impl Fn(sqlx::Error) -> KeyError {
    move |e| KeyError::Database {
        action,
        reason: match &e {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        },
    }
}
