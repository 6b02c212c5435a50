//! Failed-login bookkeeping of the PostgreSQL backend: the statements behind
//! the `*login*` methods of [`Store`](crate::store::Store).
//!
//! Each method is one statement. `INSERT … ON CONFLICT DO UPDATE` locks the
//! key's row, so concurrent failures for one key, from any instance, queue on
//! that row and each reads back (`RETURNING`) the count it wrote itself.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::convert::classify;
use crate::store::StoreError;

/// See [`Store::record_login_failure`](crate::store::Store::record_login_failure);
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

/// See [`Store::lock_login`](crate::store::Store::lock_login).
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

/// See [`Store::login_locked_until`](crate::store::Store::login_locked_until).
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

/// See [`Store::clear_login_failures`](crate::store::Store::clear_login_failures).
pub(super) async fn clear(pool: &PgPool, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(classify)?;
    Ok(())
}
