//! SQL statements of the SQLite backend that several [`Store`] methods run
//! inside their transactions.
//!
//! [`Store`]: crate::store::Store

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;
use uuid::Uuid;

use super::convert::{classify, ts};
use crate::store::StoreError;

/// Marks one family revoked, keeping the first revocation time.
pub(super) async fn revoke_family(
    conn: &mut SqliteConnection,
    family_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(family_id)
        .execute(conn)
        .await
        .map_err(classify)?;
    Ok(())
}

/// Marks every live family of a user revoked.
pub(super) async fn revoke_families_of_user(
    conn: &mut SqliteConnection,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(ts(now))
    .bind(user_id)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Adds an unused token to a family.
pub(super) async fn insert_token(
    conn: &mut SqliteConnection,
    family_id: &str,
    token_hash: &[u8],
    now: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(family_id)
    .bind(token_hash)
    .bind(now)
    .bind(ts(expires_at))
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}
