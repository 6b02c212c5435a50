//! Failed-login bookkeeping of the PostgreSQL backend: the statements behind
//! the `*login*` methods of [`Store`](crate::store::Store).
//!
//! Each method is one statement. `INSERT … ON CONFLICT DO UPDATE` locks the
//! key's row, so concurrent failures for one key, from any instance, queue on
//! that row and each reads back (`RETURNING`) the count it wrote itself.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::convert::classify;
use crate::store::{Purged, StoreError};

/// See [`Store::record_throttle_event`](crate::store::Store::record_throttle_event);
/// `window_start` is the earliest previous failure that still continues the run.
pub(super) async fn record_failure(
    pool: &PgPool,
    key: &str,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> Result<u32, StoreError> {
    // Column names qualified with `t` are the row as it was before; every SET
    // expression sees those old values. GREATEST ignores NULL.
    let failures: i32 = sqlx::query_scalar(
        "INSERT INTO login_throttle AS t (key, failures, last_failure_at) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN t.last_failure_at IS NULL OR t.last_failure_at < $3 \
                    THEN 1 ELSE t.failures + 1 END, \
         last_failure_at = GREATEST(t.last_failure_at, EXCLUDED.last_failure_at) \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(window_start)
    .fetch_one(pool)
    .await
    .map_err(classify)?;
    Ok(u32::try_from(failures).unwrap_or(u32::MAX))
}

/// See [`Store::throttle_lock`](crate::store::Store::throttle_lock).
pub(super) async fn lock(pool: &PgPool, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_throttle AS t (key, locked_until) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         locked_until = GREATEST(t.locked_until, EXCLUDED.locked_until)",
    )
    .bind(key)
    .bind(until)
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::throttle_locked_until`](crate::store::Store::throttle_locked_until).
pub(super) async fn locked_until(
    pool: &PgPool,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    sqlx::query_scalar(
        "SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2",
    )
    .bind(key)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(classify)
}

/// See [`Store::clear_throttle`](crate::store::Store::clear_throttle).
pub(super) async fn clear(pool: &PgPool, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(classify)?;
    Ok(())
}

/// See [`Store::purge_expired`](crate::store::Store::purge_expired). Each
/// statement is atomic on its own; a refresh racing with the first either
/// rotates before the family goes or finds its token unknown (401 either way,
/// since the token had expired).
pub(super) async fn purge(
    pool: &PgPool,
    expired_before: DateTime<Utc>,
    now: DateTime<Utc>,
    quiet_since: DateTime<Utc>,
) -> Result<Purged, StoreError> {
    // Tokens go with their family (ON DELETE CASCADE).
    let families = sqlx::query(
        "DELETE FROM refresh_families f WHERE NOT EXISTS \
         (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.expires_at > $1)",
    )
    .bind(expired_before)
    .execute(pool)
    .await
    .map_err(classify)?
    .rows_affected();
    let throttle_rows = sqlx::query(
        "DELETE FROM login_throttle \
         WHERE (last_failure_at IS NULL OR last_failure_at < $1) \
         AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(quiet_since)
    .bind(now)
    .execute(pool)
    .await
    .map_err(classify)?
    .rows_affected();
    Ok(Purged {
        refresh_families: families,
        throttle_rows,
        ..Purged::default()
    })
}
