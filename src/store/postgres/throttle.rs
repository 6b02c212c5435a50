//! Failed-login bookkeeping of the PostgreSQL backend: the statements behind
//! the throttle methods of [`Store`](crate::store::Store), and the addresses
//! each account logged in from (`login_sources`).
//!
//! Each counting method is one statement. `INSERT … ON CONFLICT DO UPDATE`
//! locks the key's row, so concurrent attempts for one key, from any
//! instance, queue on that row and each reads back (`RETURNING`) the count
//! it wrote itself, or, once one of them has set a lock, finds it.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::convert::classify;
use crate::store::{Attempt, LockSchedule, Purged, StoreError};

/// The run's count after one more attempt, from the row as it was (`t`): 1
/// when the previous attempt is older than the window (`$3`).
macro_rules! next_count {
    () => {
        "(CASE WHEN t.last_failure_at IS NULL OR t.last_failure_at < $3 THEN 1 ELSE t.failures + 1 END)"
    };
}

/// The end of the lock after `$count` attempts: now (`$2`) plus
/// `min(base · 2^min(count − free, doublings), max)` microseconds (`$5`,
/// `$4`, `$7`, `$6`).
macro_rules! lock_end {
    ($count:expr) => {
        concat!(
            "$2 + (LEAST($5::bigint << LEAST(",
            $count,
            " - $4, $7), $6::bigint))::float8 * interval '1 microsecond'"
        )
    };
}

/// See [`Store::take_throttle_attempt`](crate::store::Store::take_throttle_attempt).
/// The `WHERE` of `DO UPDATE` skips a row whose lock runs: then nothing is
/// written and `RETURNING` gives no row.
pub(super) async fn take_attempt(
    pool: &PgPool,
    key: &str,
    now: DateTime<Utc>,
    schedule: &LockSchedule,
) -> Result<Attempt, StoreError> {
    let taken: Option<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(concat!(
        "INSERT INTO login_throttle AS t (key, failures, last_failure_at, locked_until) \
         VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN ",
        lock_end!("1"),
        " END) ON CONFLICT (key) DO UPDATE SET failures = ",
        next_count!(),
        ", last_failure_at = GREATEST(t.last_failure_at, EXCLUDED.last_failure_at), \
         locked_until = CASE WHEN ",
        next_count!(),
        " >= $4 THEN ",
        lock_end!(next_count!()),
        " END WHERE t.locked_until IS NULL OR t.locked_until <= $2 \
         RETURNING failures, locked_until"
    ))
    .bind(key)
    .bind(now)
    .bind(schedule.window_start)
    .bind(i32::try_from(schedule.free).unwrap_or(i32::MAX))
    .bind(schedule.base_us)
    .bind(schedule.max_us)
    .bind(i32::try_from(schedule.doublings).unwrap_or(62))
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    match taken {
        Some((count, locked_until)) => Ok(Attempt::Taken {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            locked_until,
        }),
        // The lock may have ended since; then the caller waits a second.
        None => Ok(Attempt::Refused {
            until: locked_until(pool, key, now).await?.unwrap_or(now),
        }),
    }
}

/// See [`Store::release_throttle_attempt`](crate::store::Store::release_throttle_attempt).
pub(super) async fn release_attempt(
    pool: &PgPool,
    key: &str,
    started_lock: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE login_throttle AS t SET failures = GREATEST(t.failures - 1, 0), \
         locked_until = CASE WHEN t.locked_until = $2 THEN NULL ELSE t.locked_until END \
         WHERE key = $1",
    )
    .bind(key)
    .bind(started_lock)
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::is_known_login_source`](crate::store::Store::is_known_login_source).
pub(super) async fn is_known_source(
    pool: &PgPool,
    email: &str,
    source: &str,
    since: DateTime<Utc>,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id \
         WHERE u.email_lower = $1 AND s.source = $2 AND s.last_login_at >= $3)",
    )
    .bind(email.to_lowercase())
    .bind(source)
    .bind(since)
    .fetch_one(pool)
    .await
    .map_err(classify)
}

/// See [`Store::remember_login_source`](crate::store::Store::remember_login_source).
///
/// A source the account already has (most logins) takes one statement,
/// [`touch_known_source`]. A new one takes a transaction that locks the
/// account's row in `users` first, so that two new sources of one account
/// at once trim one after the other.
pub(super) async fn remember_source(
    pool: &PgPool,
    user_id: Uuid,
    source: &str,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
    keep: u32,
) -> Result<(), StoreError> {
    if touch_known_source(pool, user_id, source, now, forget_before, keep).await? {
        return Ok(());
    }
    let mut tx = pool.begin().await.map_err(classify)?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    sqlx::query(
        "INSERT INTO login_sources AS s (user_id, source, last_login_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, source) DO UPDATE SET \
         last_login_at = GREATEST(s.last_login_at, EXCLUDED.last_login_at)",
    )
    .bind(user_id)
    .bind(source)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    sqlx::query(
        "DELETE FROM login_sources WHERE user_id = $1 AND (last_login_at < $2 OR source NOT IN \
         (SELECT source FROM login_sources WHERE user_id = $1 \
          ORDER BY last_login_at DESC, source LIMIT $3))",
    )
    .bind(user_id)
    .bind(forget_before)
    .bind(i64::from(keep))
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    tx.commit().await.map_err(classify)
}

/// When the account already has `source`: moves its last login up to `now`
/// and forgets, as the transaction of [`remember_source`] would, the
/// account's other sources last used before `forget_before` and all but the
/// `keep` most recently used (ranked with `source` at its new time), in one
/// statement; `true`. `false`, changing nothing, when the account does not
/// have `source` (or is gone).
///
/// The statement adds no row, so no count can grow past `keep` through it.
/// It does not lock the account's row: a new source's transaction running
/// at the same moment may rank `source` by its old time and forget it, so
/// the next login from there is charged as from an unknown source (the
/// stricter side); a source it keeps is never dropped for a new one.
async fn touch_known_source(
    pool: &PgPool,
    user_id: Uuid,
    source: &str,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
    keep: u32,
) -> Result<bool, StoreError> {
    // Data-modifying CTEs all see the rows as they were before the
    // statement: `forgotten` ranks by the new time through the CASE, and
    // never deletes the row `touched` updates.
    let touched: i64 = sqlx::query_scalar(
        "WITH touched AS (UPDATE login_sources SET last_login_at = GREATEST(last_login_at, $3) \
         WHERE user_id = $1 AND source = $2 RETURNING 1), \
         forgotten AS (DELETE FROM login_sources WHERE user_id = $1 AND source <> $2 \
         AND EXISTS (SELECT 1 FROM touched) AND (last_login_at < $4 OR source NOT IN \
         (SELECT source FROM login_sources WHERE user_id = $1 \
          ORDER BY CASE WHEN source = $2 THEN GREATEST(last_login_at, $3) ELSE last_login_at END DESC, \
          source LIMIT $5))) \
         SELECT count(*) FROM touched",
    )
    .bind(user_id)
    .bind(source)
    .bind(now)
    .bind(forget_before)
    .bind(i64::from(keep))
    .fetch_one(pool)
    .await
    .map_err(classify)?;
    Ok(touched > 0)
}

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
