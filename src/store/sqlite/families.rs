//! The SQLite backend's storage steps for refresh-token families
//! ([`FamilyWrite`]), and the revocation of a user's families.
//!
//! A [`FamilyTransaction`] is a savepoint inside the `BEGIN IMMEDIATE`
//! transaction of a batch of writes on the one writer connection
//! (`group_commit`): that transaction holds the database's write lock from
//! its first read, so the rows [`FamilyWrite::find_token`] reads (the
//! presented token, its family, and the successor it was used up for) cannot
//! change under it, and the jobs of one batch run one after the other. Its
//! [`FamilyWrite::commit`] releases the savepoint; the batch's `COMMIT`
//! makes it durable, before anyone is answered.
//! Only presentations the policy cannot settle from a reader's look at the
//! token get here (`refresh::settled_by_reading`), so made-up tokens never
//! queue on the writer.
//!
//! The spent rows of a family (used up, expired, successor used up too) are
//! deleted as the family rotates ([`FamilyWrite::delete_spent`], through the
//! index on `(family_id, expires_at)`, so only expired rows are visited), and
//! of every family by [`purge_spent`].

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::convert::{classify, parse_ts, parse_uuid, ts};
use crate::store::StoreError;
use crate::store::refresh::{
    FamilyWrite, NewToken, SealedSuccessor, SessionOrigin, StoredSuccessor, StoredToken,
};

/// The condition on a `refresh_tokens` row that makes it spent at the time
/// bound (next) as `expired_before`: used up, expired by then, and not
/// waiting for a repeat (its successor is not unused). Presenting it can
/// only be answered as expired (`refresh::verdict`), the same as a token the
/// database does not hold.
macro_rules! spent {
    () => {
        "refresh_tokens.used_at IS NOT NULL AND refresh_tokens.expires_at < ? \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens s \
         WHERE s.id = refresh_tokens.successor_id AND s.used_at IS NULL)"
    };
}

/// An open savepoint of a batch's write transaction, on refresh families.
pub(super) struct FamilyTransaction<'c>(pub(super) Transaction<'c, Sqlite>);

impl FamilyWrite for FamilyTransaction<'_> {
    async fn find_token(&mut self, token_hash: &[u8]) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.family_id, t.expires_at, t.used_at, t.successor_id, \
             t.sealed_successor, f.user_id, f.scope, \
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
        let successor_id: Option<String> = row.try_get("successor_id").map_err(classify)?;
        let sealed: Option<Vec<u8>> = row.try_get("sealed_successor").map_err(classify)?;
        let successor = match successor_id {
            Some(id) => self.successor(&id, sealed).await?,
            None => None,
        };
        Ok(Some(StoredToken {
            id: parse_uuid(&text("id")?)?,
            family_id: parse_uuid(&text("family_id")?)?,
            user_id: parse_uuid(&text("user_id")?)?,
            scope: text("scope")?,
            expires_at: parse_ts(&text("expires_at")?)?,
            used_at: used_at.as_deref().map(parse_ts).transpose()?,
            successor,
            family_revoked: row.try_get("family_revoked").map_err(classify)?,
            owner_disabled: row.try_get("disabled").map_err(classify)?,
        }))
    }

    async fn insert_family(
        &mut self,
        family_id: Uuid,
        user_id: Uuid,
        scope: &str,
        origin: &SessionOrigin,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_families (id, user_id, scope, created_at, last_used_at, \
             user_agent, client_addr) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(family_id.to_string())
        .bind(user_id.to_string())
        .bind(scope)
        .bind(ts(now))
        .bind(ts(now))
        .bind(origin.user_agent.as_deref())
        .bind(origin.client_addr.as_deref())
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
        self.insert_token_as(Uuid::new_v4(), family_id, token, now)
            .await
    }

    async fn use_up(
        &mut self,
        token_id: Uuid,
        family_id: Uuid,
        successor: NewToken<'_>,
        sealed: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let successor_id = Uuid::new_v4();
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET used_at = ?, successor_id = ?, sealed_successor = ? \
             WHERE id = ? AND used_at IS NULL",
        )
        .bind(ts(now))
        .bind(successor_id.to_string())
        .bind(sealed)
        .bind(token_id.to_string())
        .execute(&mut *self.0)
        .await
        .map_err(classify)?
        .rows_affected();
        if marked != 1 {
            return Ok(false);
        }
        self.insert_token_as(successor_id, family_id, successor, now)
            .await?;
        Ok(true)
    }

    async fn drop_sealed_copy_of(&mut self, token_id: Uuid) -> Result<(), StoreError> {
        // `sealed_successor IS NOT NULL` lets SQLite use the partial index on
        // `successor_id`, which holds about one row per family.
        sqlx::query(
            "UPDATE refresh_tokens SET sealed_successor = NULL \
             WHERE successor_id = ? AND sealed_successor IS NOT NULL",
        )
        .bind(token_id.to_string())
        .execute(&mut *self.0)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn delete_spent(
        &mut self,
        family_id: Uuid,
        expired_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(concat!(
            "DELETE FROM refresh_tokens WHERE family_id = ? AND ",
            spent!()
        ))
        .bind(family_id.to_string())
        .bind(ts(expired_before))
        .execute(&mut *self.0)
        .await
        .map_err(classify)?
        .rows_affected();
        Ok(deleted)
    }

    async fn touch_family(
        &mut self,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE refresh_families SET last_used_at = ? WHERE id = ?")
            .bind(ts(now))
            .bind(family_id.to_string())
            .execute(&mut *self.0)
            .await
            .map_err(classify)?;
        Ok(())
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

impl FamilyTransaction<'_> {
    /// Adds an unused token with the row id `id` to a family.
    async fn insert_token_as(
        &mut self,
        id: Uuid,
        family_id: Uuid,
        token: NewToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(family_id.to_string())
        .bind(token.hash)
        .bind(ts(now))
        .bind(ts(token.expires_at))
        .execute(&mut *self.0)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// The successor with row id `id`, sealed as `sealed`; `None` if it is
    /// gone.
    async fn successor(
        &mut self,
        id: &str,
        sealed: Option<Vec<u8>>,
    ) -> Result<Option<StoredSuccessor>, StoreError> {
        let row = sqlx::query("SELECT used_at, expires_at FROM refresh_tokens WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let used_at: Option<String> = row.try_get("used_at").map_err(classify)?;
        let expires_at: String = row.try_get("expires_at").map_err(classify)?;
        Ok(Some(StoredSuccessor {
            sealed: sealed.map(SealedSuccessor),
            used_at: used_at.as_deref().map(parse_ts).transpose()?,
            expires_at: parse_ts(&expires_at)?,
        }))
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

/// Deletes the spent tokens of every family (see [`FamilyWrite::delete_spent`])
/// that expired before `expired_before`; returns how many.
pub(super) async fn purge_spent(
    writer: &SqlitePool,
    expired_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query(concat!("DELETE FROM refresh_tokens WHERE ", spent!()))
        .bind(ts(expired_before))
        .execute(writer)
        .await
        .map_err(classify)?
        .rows_affected();
    Ok(deleted)
}
