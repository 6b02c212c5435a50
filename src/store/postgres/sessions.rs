//! The PostgreSQL backend's sessions: a user's live refresh families, listed
//! and revoked by id.
//!
//! A family is live while it is not revoked and still holds an unused token
//! that has not expired; the list and the revocation use that one condition,
//! so what is listed can be ended and nothing else can. The revocation is one
//! `UPDATE` of the family's row, which waits for any refresh of the family
//! holding that row (`SELECT … FOR UPDATE`) and is waited for by the next:
//! once it commits, no token of the family refreshes, on any instance.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use super::convert::classify;
use crate::store::{MAX_SESSIONS, Session, StoreError};

/// The condition on `refresh_families f` that makes it a live session of the
/// user `$1` at the time `$2`.
macro_rules! live_family_of {
    () => {
        "f.user_id = $1 AND f.revoked_at IS NULL AND EXISTS (SELECT 1 FROM refresh_tokens t \
         WHERE t.family_id = f.id AND t.used_at IS NULL AND t.expires_at > $2)"
    };
}

/// The live sessions of `user_id` at `now`, most recently used first.
pub(super) async fn list(
    pool: &PgPool,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT f.id, f.created_at, COALESCE(f.last_used_at, f.created_at) AS last_used_at, \
         f.user_agent, f.client_addr FROM refresh_families f WHERE ",
        live_family_of!(),
        " ORDER BY 3 DESC, f.id LIMIT $3"
    ))
    .bind(user_id)
    .bind(now)
    .bind(i64::from(MAX_SESSIONS))
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    rows.iter().map(session_from_row).collect()
}

/// Revokes the family `family_id` if it is a live session of `user_id`.
pub(super) async fn revoke(
    pool: &PgPool,
    user_id: Uuid,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let revoked = sqlx::query(concat!(
        "UPDATE refresh_families f SET revoked_at = $2 WHERE f.id = $3 AND ",
        live_family_of!()
    ))
    .bind(user_id)
    .bind(now)
    .bind(family_id)
    .execute(pool)
    .await
    .map_err(classify)?
    .rows_affected();
    Ok(revoked == 1)
}

fn session_from_row(row: &PgRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.try_get("id").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        last_used_at: row.try_get("last_used_at").map_err(classify)?,
        user_agent: row.try_get("user_agent").map_err(classify)?,
        client_addr: row.try_get("client_addr").map_err(classify)?,
    })
}
