//! Failed-login bookkeeping of the SQLite backend: the statements behind the
//! throttle methods of [`Store`](crate::store::Store), and the addresses each
//! account logged in from (`login_sources`).
//!
//! Each counting method is one statement, so SQLite's write lock makes it
//! atomic; the count is read back with `RETURNING` from the row just
//! written, never read first and written later.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::convert::{classify, parse_ts, ts};
use crate::store::{Attempt, LockSchedule, Purged, StoreError};

/// The run's count after one more attempt, from the row as it was: 1 when
/// the previous attempt is older than the window (`?3`).
macro_rules! next_count {
    () => {
        "(CASE WHEN last_failure_at IS NULL OR last_failure_at < ?3 THEN 1 ELSE failures + 1 END)"
    };
}

/// The end of the lock after `$count` attempts, as stored text: now (`?4`,
/// microseconds) plus `min(base · 2^min(count − free, doublings), max)`
/// (`?6`, `?5`, `?8`, `?7`), formatted like `convert::ts` with integer
/// arithmetic only, so no microsecond is lost to floating point.
macro_rules! lock_end {
    ($count:expr) => {
        concat!(
            "strftime('%Y-%m-%dT%H:%M:%S', (?4 + MIN(?6 << MIN(",
            $count,
            " - ?5, ?8), ?7)) / 1000000, 'unixepoch') || printf('.%06dZ', (?4 + MIN(?6 << MIN(",
            $count,
            " - ?5, ?8), ?7)) % 1000000)"
        )
    };
}

/// See [`Store::take_throttle_attempt`](crate::store::Store::take_throttle_attempt).
/// The `WHERE` of `DO UPDATE` skips a row whose lock runs: then nothing is
/// written and `RETURNING` gives no row.
pub(super) async fn take_attempt(
    pool: &SqlitePool,
    reader: &SqlitePool,
    key: &str,
    now: DateTime<Utc>,
    schedule: &LockSchedule,
) -> Result<Attempt, StoreError> {
    let taken: Option<(i64, Option<String>)> = sqlx::query_as(concat!(
        "INSERT INTO login_throttle (key, failures, last_failure_at, locked_until) \
         VALUES (?1, 1, ?2, CASE WHEN 1 >= ?5 THEN ",
        lock_end!("1"),
        " END) ON CONFLICT (key) DO UPDATE SET failures = ",
        next_count!(),
        ", last_failure_at = MAX(COALESCE(last_failure_at, ?2), ?2), \
         locked_until = CASE WHEN ",
        next_count!(),
        " >= ?5 THEN ",
        lock_end!(next_count!()),
        " END WHERE locked_until IS NULL OR locked_until <= ?2 \
         RETURNING failures, locked_until"
    ))
    .bind(key)
    .bind(ts(now))
    .bind(ts(schedule.window_start))
    .bind(now.timestamp_micros())
    .bind(schedule.free)
    .bind(schedule.base_us)
    .bind(schedule.max_us)
    .bind(schedule.doublings)
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    match taken {
        Some((count, locked_until)) => Ok(Attempt::Taken {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            locked_until: locked_until.as_deref().map(parse_ts).transpose()?,
        }),
        // The lock may have ended since; then the caller waits a second.
        None => Ok(Attempt::Refused {
            until: locked_until(reader, key, now).await?.unwrap_or(now),
        }),
    }
}

/// See [`Store::release_throttle_attempt`](crate::store::Store::release_throttle_attempt).
pub(super) async fn release_attempt(
    pool: &SqlitePool,
    key: &str,
    started_lock: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE login_throttle SET failures = MAX(failures - 1, 0), \
         locked_until = CASE WHEN locked_until = ?2 THEN NULL ELSE locked_until END \
         WHERE key = ?1",
    )
    .bind(key)
    .bind(started_lock.map(ts))
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::is_known_login_source`](crate::store::Store::is_known_login_source).
pub(super) async fn is_known_source(
    pool: &SqlitePool,
    email: &str,
    source: &str,
    since: DateTime<Utc>,
) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id \
         WHERE u.email_lower = ? AND s.source = ? AND s.last_login_at >= ?)",
    )
    .bind(email.to_lowercase())
    .bind(source)
    .bind(ts(since))
    .fetch_one(pool)
    .await
    .map_err(classify)
}

/// See [`Store::remember_login_source`](crate::store::Store::remember_login_source):
/// one write transaction, so the account never holds more than `keep`.
pub(super) async fn remember_source(
    pool: &SqlitePool,
    user_id: Uuid,
    source: &str,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
    keep: u32,
) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(classify)?;
    sqlx::query(
        "INSERT INTO login_sources (user_id, source, last_login_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id, source) DO UPDATE SET \
         last_login_at = MAX(last_login_at, excluded.last_login_at)",
    )
    .bind(user_id.to_string())
    .bind(source)
    .bind(ts(now))
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    sqlx::query(
        "DELETE FROM login_sources WHERE user_id = ?1 AND (last_login_at < ?2 OR source NOT IN \
         (SELECT source FROM login_sources WHERE user_id = ?1 \
          ORDER BY last_login_at DESC, source LIMIT ?3))",
    )
    .bind(user_id.to_string())
    .bind(ts(forget_before))
    .bind(i64::from(keep))
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    tx.commit().await.map_err(classify)
}

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
