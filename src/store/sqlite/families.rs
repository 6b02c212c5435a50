//! The SQLite backend's storage steps for refresh-token families
//! ([`FamilyWrite`]), and the revocation of a user's families.
//!
//! A [`FamilyTransaction`] is a `BEGIN IMMEDIATE` transaction on the one
//! writer connection: it holds the database's write lock from its first read,
//! so the rows [`FamilyWrite::find_token`] reads cannot change under it.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::convert::{classify, parse_ts, parse_uuid, ts};
use crate::store::StoreError;
use crate::store::refresh::{FamilyWrite, NewToken, StoredToken};

/// An open write transaction on refresh families.
pub(super) struct FamilyTransaction(pub(super) Transaction<'static, Sqlite>);

impl FamilyWrite for FamilyTransaction {
    async fn find_token(&mut self, token_hash: &[u8]) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.family_id, t.expires_at, t.used_at, f.user_id, f.scope, \
             f.revoked_at IS NOT NULL AS family_revoked, u.disabled FROM refresh_tokens t \
             JOIN refresh_families f ON f.id = t.family_id \
             JOIN users u ON u.id = f.user_id \
             WHERE t.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text = |column: &str| row.try_get::<String, _>(column).map_err(classify);
        let used_at: Option<String> = row.try_get("used_at").map_err(classify)?;
        Ok(Some(StoredToken {
            id: parse_uuid(&text("id")?)?,
            family_id: parse_uuid(&text("family_id")?)?,
            user_id: parse_uuid(&text("user_id")?)?,
            scope: text("scope")?,
            expires_at: parse_ts(&text("expires_at")?)?,
            used_at: used_at.as_deref().map(parse_ts).transpose()?,
            family_revoked: row.try_get("family_revoked").map_err(classify)?,
            owner_disabled: row.try_get("disabled").map_err(classify)?,
        }))
    }

    async fn insert_family(
        &mut self,
        family_id: Uuid,
        user_id: Uuid,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, scope, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(family_id.to_string())
        .bind(user_id.to_string())
        .bind(scope)
        .bind(ts(now))
        .execute(&mut *self.0)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn insert_token(
        &mut self,
        family_id: Uuid,
        token: NewToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(family_id.to_string())
        .bind(token.hash)
        .bind(ts(now))
        .bind(ts(token.expires_at))
        .execute(&mut *self.0)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn use_up(
        &mut self,
        token_id: Uuid,
        family_id: Uuid,
        successor: NewToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let marked =
            sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL")
                .bind(ts(now))
                .bind(token_id.to_string())
                .execute(&mut *self.0)
                .await
                .map_err(classify)?
                .rows_affected();
        if marked != 1 {
            return Ok(false);
        }
        self.insert_token(family_id, successor, now).await?;
        Ok(true)
    }

    async fn revoke_family(
        &mut self,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(ts(now))
        .bind(family_id.to_string())
        .execute(&mut *self.0)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await.map_err(classify)
    }

    async fn rollback(self) -> Result<(), StoreError> {
        self.0.rollback().await.map_err(classify)
    }
}

/// Marks every live family of a user revoked.
pub(super) async fn revoke_families_of_user(
    conn: &mut SqliteConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(ts(now))
    .bind(user_id.to_string())
    .execute(conn)
    .await
    .map_err(classify)?;
    Ok(())
}
