//! The PostgreSQL side of revocation and introspection: revoked access
//! tokens by `jti`, their purge, and a read-only look at a refresh token.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgPool;

use super::convert::classify;
use crate::store::{RefreshTokenState, StoreError};

/// See [`Store::revoke_access_token`](crate::store::Store::revoke_access_token).
pub(super) async fn revoke(
    pool: &PgPool,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) \
         ON CONFLICT (jti) DO UPDATE \
         SET expires_at = GREATEST(revoked_access_tokens.expires_at, excluded.expires_at)",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::is_access_token_revoked`](crate::store::Store::is_access_token_revoked).
pub(super) async fn is_revoked(pool: &PgPool, jti: &str) -> Result<bool, StoreError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM revoked_access_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(pool)
            .await
            .map_err(classify)?;
    Ok(found.is_some())
}

/// See [`Store::revoked_access_token_ids`](crate::store::Store::revoked_access_token_ids).
pub(super) async fn revoked_ids(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar("SELECT jti FROM revoked_access_tokens")
        .fetch_all(pool)
        .await
        .map_err(classify)
}

/// Deletes revocations of tokens that expired before `expired_before`.
pub(super) async fn purge(pool: &PgPool, expired_before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < $1")
            .bind(expired_before)
            .execute(pool)
            .await
            .map_err(classify)?
            .rows_affected(),
    )
}

/// See [`Store::refresh_token_state`](crate::store::Store::refresh_token_state).
pub(super) async fn refresh_token_state(
    pool: &PgPool,
    token_hash: &[u8],
) -> Result<Option<RefreshTokenState>, StoreError> {
    let row = sqlx::query(
        "SELECT t.family_id, t.created_at, t.expires_at, t.used_at IS NOT NULL AS used, \
         f.user_id, f.scope, f.revoked_at IS NOT NULL AS family_revoked, u.disabled \
         FROM refresh_tokens t \
         JOIN refresh_families f ON f.id = t.family_id \
         JOIN users u ON u.id = f.user_id \
         WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let get = |column: &str| row.try_get::<bool, _>(column).map_err(classify);
    Ok(Some(RefreshTokenState {
        user_id: row.try_get("user_id").map_err(classify)?,
        family_id: row.try_get("family_id").map_err(classify)?,
        scope: row.try_get("scope").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        expires_at: row.try_get("expires_at").map_err(classify)?,
        used: get("used")?,
        family_revoked: get("family_revoked")?,
        owner_disabled: get("disabled")?,
    }))
}
