//! The SQLite backend's sessions: a user's live refresh families, listed and
//! revoked by id.
//!
//! A family is live while it is not revoked and still holds an unused token
//! that has not expired; the list and the revocation use that one condition,
//! so what is listed can be ended and nothing else can.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{Row, sqlite::SqliteRow};
use uuid::Uuid;

use super::convert::{classify, parse_ts, parse_uuid, ts};
use crate::store::{MAX_SESSIONS, Session, StoreError};

/// The condition on `refresh_families f` that makes it a live session of the
/// user bound first, at the time bound second.
macro_rules! live_family_of {
    () => {
        "f.user_id = ? AND f.revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_tokens t \
         WHERE t.family_id = f.id AND t.used_at IS NULL AND t.expires_at > ?)"
    };
}

/// The live sessions of `user_id` at `now`, most recently used first.
pub(super) async fn list(
    pool: &SqlitePool,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT f.id, f.created_at, COALESCE(f.last_used_at, f.created_at) AS last_used_at, \
         f.user_agent, f.client_addr FROM refresh_families f WHERE ",
        live_family_of!(),
        " ORDER BY last_used_at DESC, f.id LIMIT ?"
    ))
    .bind(user_id.to_string())
    .bind(ts(now))
    .bind(i64::from(MAX_SESSIONS))
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    rows.iter().map(session_from_row).collect()
}

/// Revokes the family `family_id` if it is a live session of `user_id`.
pub(super) async fn revoke(
    writer: &SqlitePool,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let revoked = sqlx::query(concat!(
        "UPDATE refresh_families AS f SET revoked_at = ? WHERE f.id = ? AND ",
        live_family_of!()
    ))
    .bind(ts(now))
    .bind(family_id.to_string())
    .bind(user_id.to_string())
    .bind(ts(now))
    .execute(writer)
    .await
    .map_err(classify)?
    .rows_affected();
    Ok(revoked == 1)
}

fn session_from_row(row: &SqliteRow) -> Result<Session, StoreError> {
    let text = |column: &str| row.try_get::<String, _>(column).map_err(classify);
    Ok(Session {
        id: parse_uuid(&text("id")?)?,
        created_at: parse_ts(&text("created_at")?)?,
        last_used_at: parse_ts(&text("last_used_at")?)?,
        user_agent: row.try_get("user_agent").map_err(classify)?,
        client_addr: row.try_get("client_addr").map_err(classify)?,
    })
}
