//! SQL statements of the PostgreSQL backend that several [`Store`] methods
//! run inside their transactions.
//!
//! [`Store`]: crate::store::Store

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::convert::classify;
use crate::store::StoreError;

/// Marks one family revoked, keeping the first revocation time.
pub(super) async fn revoke_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(family_id)
        .execute(conn)
        .await
        .map_err(classify)?;
    Ok(())
}

/// Marks every live family of a user revoked.
pub(super) async fn revoke_families_of_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Adds an unused token to a family.
pub(super) async fn insert_token(
    conn: &mut PgConnection,
    family_id: Uuid,
    token_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(family_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}
