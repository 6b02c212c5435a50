//! Failed-login bookkeeping of the SQLite backend: the statements behind the
//! `*login*` methods of [`Store`](crate::store::Store).
//!
//! Each method is one statement, so SQLite's write lock makes it atomic; the
//! count is read back with `RETURNING` from the row just written, never read
//! first and written later.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::convert::{classify, parse_ts, ts};
use crate::store::{Purged, StoreError};

/// See [`Store::record_throttle_event`](crate::store::Store::record_throttle_event);
/// `window_start` is the earliest previous failure that still continues the run.
pub(super) async fn record_failure(
    pool: &SqlitePool,
    key: &str,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> Result<u32, StoreError> {
    // In DO UPDATE, bare column names are the row as it was before; every SET
    // expression sees those old values.
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_throttle (key, failures, last_failure_at) VALUES (?1, 1, ?2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN last_failure_at IS NULL OR last_failure_at < ?3 \
                    THEN 1 ELSE failures + 1 END, \
         last_failure_at = MAX(COALESCE(last_failure_at, ?2), ?2) \
         RETURNING failures",
    )
    .bind(key)
    .bind(ts(now))
    .bind(ts(window_start))
    .fetch_one(pool)
    .await
    .map_err(classify)?;
    Ok(u32::try_from(failures).unwrap_or(u32::MAX))
}

/// See [`Store::throttle_lock`](crate::store::Store::throttle_lock).
pub(super) async fn lock(
    pool: &SqlitePool,
    key: &str,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_throttle (key, locked_until) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET locked_until = MAX(COALESCE(locked_until, ?2), ?2)",
    )
    .bind(key)
    .bind(ts(until))
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::throttle_locked_until`](crate::store::Store::throttle_locked_until).
pub(super) async fn locked_until(
    pool: &SqlitePool,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let until: Option<String> = sqlx::query_scalar(
        "SELECT locked_until FROM login_throttle WHERE key = ? AND locked_until > ?",
    )
    .bind(key)
    .bind(ts(now))
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    until.as_deref().map(parse_ts).transpose()
}

/// See [`Store::clear_throttle`](crate::store::Store::clear_throttle).
pub(super) async fn clear(pool: &SqlitePool, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = ?")
        .bind(key)
        .execute(pool)
        .await
        .map_err(classify)?;
    Ok(())
}

/// See [`Store::purge_expired`](crate::store::Store::purge_expired): one
/// write transaction, so a refresh racing with it either sees its family or
/// finds the token unknown; either way an expired token gets 401.
pub(super) async fn purge(
    pool: &SqlitePool,
    expired_before: DateTime<Utc>,
    now: DateTime<Utc>,
    quiet_since: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(classify)?;
    // Tokens go with their family (ON DELETE CASCADE).
    let families = sqlx::query(
        "DELETE FROM refresh_families WHERE NOT EXISTS \
         (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id \
          AND t.expires_at > ?1)",
    )
    .bind(ts(expired_before))
    .execute(&mut *tx)
    .await
    .map_err(classify)?
    .rows_affected();
    let throttle_rows = sqlx::query(
        "DELETE FROM login_throttle \
         WHERE (last_failure_at IS NULL OR last_failure_at < ?1) \
         AND (locked_until IS NULL OR locked_until <= ?2)",
    )
    .bind(ts(quiet_since))
    .bind(ts(now))
    .execute(&mut *tx)
    .await
    .map_err(classify)?
    .rows_affected();
    tx.commit().await.map_err(classify)?;
    Ok(Purged {
        refresh_families: families,
        throttle_rows,
        ..Purged::default()
    })
}
