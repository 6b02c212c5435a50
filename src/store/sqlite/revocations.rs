//! The SQLite side of revocation and introspection: revoked access tokens by
//! `jti`, their purge, and a read-only look at a refresh token.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use super::convert::{classify, parse_ts, parse_uuid, ts};
use crate::store::{RefreshTokenState, StoreError};

/// See [`Store::revoke_access_token`](crate::store::Store::revoke_access_token).
pub(super) async fn revoke(
    writer: &SqlitePool,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?1, ?2) \
         ON CONFLICT (jti) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
    )
    .bind(jti)
    .bind(ts(expires_at))
    .execute(writer)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::is_access_token_revoked`](crate::store::Store::is_access_token_revoked).
pub(super) async fn is_revoked(pool: &SqlitePool, jti: &str) -> Result<bool, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM revoked_access_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(pool)
            .await
            .map_err(classify)?;
    Ok(found.is_some())
}

/// See [`Store::revoked_access_token_ids`](crate::store::Store::revoked_access_token_ids).
pub(super) async fn revoked_ids(pool: &SqlitePool) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar("SELECT jti FROM revoked_access_tokens")
        .fetch_all(pool)
        .await
        .map_err(classify)
}

/// Deletes revocations of tokens that expired before `expired_before`.
pub(super) async fn purge(
    writer: &SqlitePool,
    expired_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < ?")
            .bind(ts(expired_before))
            .execute(writer)
            .await
            .map_err(classify)?
            .rows_affected(),
    )
}

/// See [`Store::refresh_token_state`](crate::store::Store::refresh_token_state).
pub(super) async fn refresh_token_state(
    pool: &SqlitePool,
    token_hash: &[u8],
) -> Result<Option<RefreshTokenState>, StoreError> {
    let row = sqlx::query(
        "SELECT t.family_id, t.created_at, t.expires_at, t.used_at IS NOT NULL AS used, \
         f.user_id, f.scope, f.revoked_at IS NOT NULL AS family_revoked, u.disabled \
         FROM refresh_tokens t \
         JOIN refresh_families f ON f.id = t.family_id \
         JOIN users u ON u.id = f.user_id \
         WHERE t.token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let text = |column: &str| row.try_get::<String, _>(column).map_err(classify);
    let flag = |column: &str| row.try_get::<bool, _>(column).map_err(classify);
    Ok(Some(RefreshTokenState {
        user_id: parse_uuid(&text("user_id")?)?,
        family_id: parse_uuid(&text("family_id")?)?,
        scope: text("scope")?,
        created_at: parse_ts(&text("created_at")?)?,
        expires_at: parse_ts(&text("expires_at")?)?,
        used: flag("used")?,
        family_revoked: flag("family_revoked")?,
        owner_disabled: flag("disabled")?,
    }))
}
