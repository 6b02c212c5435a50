//! The PostgreSQL backend's storage steps for refresh-token families
//! ([`FamilyWrite`]), and the revocation of a user's families.
//!
//! [`FamilyWrite::find_token`] locks the presented token's row and its
//! family's row (`SELECT … FOR UPDATE OF t, f`) until the transaction ends:
//! concurrent presentations of one token, from any instance, queue on that
//! lock, and each later one then reads the rows as the earlier one left them.
//! A logout, a disabling of the owner, the end of a session and a
//! presentation of any other token of the family queue on the family's row
//! the same way, so the successor a repeat reads is never being used up at
//! that moment. Only presentations the policy cannot settle from a plain
//! read of the token get here (`refresh::settled_by_reading`), so made-up
//! tokens take no lock at all.
//!
//! The common case, a presentation that rotates, takes one round trip:
//! [`rotate_in_one_statement`] calls `sigil_rotate_refresh` (migration 10),
//! which reads the token as a reader would and, only when that read shows a
//! token the policy rotates (`refresh::is_rotation`), runs one statement
//! that takes the same two row locks as [`FamilyWrite::find_token`], checks
//! the condition again on the rows as locked, and writes the whole rotation.
//! Everything else comes back declined, with the read, to the full path
//! above.
//!
//! The spent rows of a family (used up, expired, successor used up too) are
//! deleted as the family rotates ([`FamilyWrite::delete_spent`]) and of
//! every family by [`purge_spent`]. Both, and the dropping of a sealed copy,
//! skip rows another transaction holds (`FOR UPDATE SKIP LOCKED`) rather
//! than wait: a presentation of an old token locks its row before its
//! family's, the reverse of a rotation's order here, and waiting would risk a
//! deadlock. What is skipped is done another time.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::convert::classify;
use crate::store::refresh::{
    CLOCK_ALLOWANCE, FamilyWrite, NewToken, OneStep, SealedSuccessor, SessionOrigin,
    StoredSuccessor, StoredToken, Successor,
};
use crate::store::{RefreshTokenState, StoreError};

/// The `SELECT` of the ids of spent `refresh_tokens t` rows at the time
/// `$1` (used up, expired by then, and not waiting for a repeat: the
/// successor is not unused), locked unless another transaction holds them,
/// followed by the rest of the query. Presenting such a token can only be
/// answered as expired (`refresh::verdict`), the same as a token the
/// database does not hold.
macro_rules! spent_ids {
    ($rest:literal) => {
        concat!(
            "SELECT t.id FROM refresh_tokens t WHERE t.used_at IS NOT NULL \
             AND t.expires_at < $1 AND NOT EXISTS (SELECT 1 FROM refresh_tokens s \
             WHERE s.id = t.successor_id AND s.used_at IS NULL) ",
            $rest,
            " FOR UPDATE OF t SKIP LOCKED"
        )
    };
}

/// An open transaction on refresh families.
pub(super) struct FamilyTransaction(pub(super) Transaction<'static, Postgres>);

impl FamilyWrite for FamilyTransaction {
    async fn find_token(&mut self, token_hash: &[u8]) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.family_id, t.expires_at, t.used_at, t.successor_id, \
             t.sealed_successor, f.user_id, f.scope, \
             f.revoked_at IS NOT NULL AS family_revoked, u.disabled FROM refresh_tokens t \
             JOIN refresh_families f ON f.id = t.family_id \
             JOIN users u ON u.id = f.user_id \
             WHERE t.token_hash = $1 \
             FOR UPDATE OF t, f",
        )
        .bind(token_hash)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let successor_id: Option<Uuid> = row.try_get("successor_id").map_err(classify)?;
        let sealed: Option<Vec<u8>> = row.try_get("sealed_successor").map_err(classify)?;
        // A statement of its own, run once the rows above are held: in READ
        // COMMITTED it sees every commit made before the lock was granted,
        // whereas the joined row of a waiting `FOR UPDATE` might be stale.
        let successor = match successor_id {
            Some(id) => self.successor(id, sealed).await?,
            None => None,
        };
        Ok(Some(StoredToken {
            id: row.try_get("id").map_err(classify)?,
            family_id: row.try_get("family_id").map_err(classify)?,
            user_id: row.try_get("user_id").map_err(classify)?,
            scope: row.try_get("scope").map_err(classify)?,
            expires_at: row.try_get("expires_at").map_err(classify)?,
            used_at: row.try_get("used_at").map_err(classify)?,
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
             user_agent, client_addr) VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(family_id)
        .bind(user_id)
        .bind(scope)
        .bind(now)
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
            "UPDATE refresh_tokens SET used_at = $1, successor_id = $2, sealed_successor = $3 \
             WHERE id = $4 AND used_at IS NULL",
        )
        .bind(now)
        .bind(successor_id)
        .bind(sealed)
        .bind(token_id)
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
        sqlx::query(
            "UPDATE refresh_tokens SET sealed_successor = NULL WHERE id IN \
             (SELECT id FROM refresh_tokens WHERE successor_id = $1 \
              AND sealed_successor IS NOT NULL FOR UPDATE SKIP LOCKED)",
        )
        .bind(token_id)
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
            "DELETE FROM refresh_tokens WHERE id IN (",
            spent_ids!("AND t.family_id = $2"),
            ")"
        ))
        .bind(expired_before)
        .bind(family_id)
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
        sqlx::query("UPDATE refresh_families SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(family_id)
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
            "UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
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

impl FamilyTransaction {
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
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(family_id)
        .bind(token.hash)
        .bind(now)
        .bind(token.expires_at)
        .execute(&mut *self.0)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// The successor with row id `id`, sealed as `sealed`; `None` if it is
    /// gone.
    async fn successor(
        &mut self,
        id: Uuid,
        sealed: Option<Vec<u8>>,
    ) -> Result<Option<StoredSuccessor>, StoreError> {
        let row = sqlx::query("SELECT used_at, expires_at FROM refresh_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(StoredSuccessor {
            sealed: sealed.map(SealedSuccessor),
            used_at: row.try_get("used_at").map_err(classify)?,
            expires_at: row.try_get("expires_at").map_err(classify)?,
        }))
    }
}

/// Presents the token with hash `presented` at `now` in one round trip (see
/// the module docs): rotated to `successor` if `refresh::is_rotation` holds
/// of its rows as locked, otherwise declined with the token as first read.
pub(super) async fn rotate_in_one_statement(
    pool: &PgPool,
    presented: &[u8],
    successor: Successor<'_>,
    now: DateTime<Utc>,
) -> Result<OneStep, StoreError> {
    let row = sqlx::query(
        "SELECT family_id, user_id, scope, created_at, expires_at, used, family_revoked, \
         owner_disabled, rotated FROM sigil_rotate_refresh($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(presented)
    .bind(now)
    .bind(Uuid::new_v4())
    .bind(successor.hash)
    .bind(successor.expires_at)
    .bind(successor.sealed)
    .bind(now - CLOCK_ALLOWANCE)
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    let Some(row) = row else {
        return Ok(OneStep::Declined(None));
    };
    let flag = |column: &str| row.try_get::<bool, _>(column).map_err(classify);
    let user_id = row.try_get("user_id").map_err(classify)?;
    let family_id = row.try_get("family_id").map_err(classify)?;
    let scope = row.try_get("scope").map_err(classify)?;
    if flag("rotated")? {
        return Ok(OneStep::Rotated {
            user_id,
            family_id,
            scope,
        });
    }
    Ok(OneStep::Declined(Some(RefreshTokenState {
        user_id,
        family_id,
        scope,
        created_at: row.try_get("created_at").map_err(classify)?,
        expires_at: row.try_get("expires_at").map_err(classify)?,
        used: flag("used")?,
        family_revoked: flag("family_revoked")?,
        owner_disabled: flag("owner_disabled")?,
    })))
}

/// Revokes the family of the token with hash `presented` (logout) in one
/// round trip, by the rule of `refresh::revoke_family_of`; `false` if no
/// such token is stored. See `sigil_revoke_family_of` in migration 10.
pub(super) async fn revoke_in_one_statement(
    pool: &PgPool,
    presented: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT sigil_revoke_family_of($1, $2)")
        .bind(presented)
        .bind(now)
        .fetch_one(pool)
        .await
        .map_err(classify)
}

/// Starts a family for `user_id` holding its first token, in one statement;
/// returns the new family's id. The same rows as `refresh::start_family`
/// writes through [`FamilyWrite`].
pub(super) async fn start_in_one_statement(
    pool: &PgPool,
    user_id: Uuid,
    scope: &str,
    origin: &SessionOrigin,
    first: NewToken<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let family_id = Uuid::new_v4();
    sqlx::query(
        "WITH family AS (INSERT INTO refresh_families (id, user_id, scope, created_at, \
         last_used_at, user_agent, client_addr) VALUES ($1, $2, $3, $4, $4, $5, $6)) \
         INSERT INTO refresh_tokens (id, family_id, token_hash, created_at, expires_at) \
         VALUES ($7, $1, $8, $4, $9)",
    )
    .bind(family_id)
    .bind(user_id)
    .bind(scope)
    .bind(now)
    .bind(origin.user_agent.as_deref())
    .bind(origin.client_addr.as_deref())
    .bind(Uuid::new_v4())
    .bind(first.hash)
    .bind(first.expires_at)
    .execute(pool)
    .await
    .map_err(classify)?;
    Ok(family_id)
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

/// Deletes the spent tokens of every family (see [`FamilyWrite::delete_spent`])
/// that expired before `expired_before`; returns how many.
pub(super) async fn purge_spent(
    pool: &PgPool,
    expired_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query(concat!(
        "DELETE FROM refresh_tokens WHERE id IN (",
        spent_ids!(""),
        ")"
    ))
    .bind(expired_before)
    .execute(pool)
    .await
    .map_err(classify)?
    .rows_affected();
    Ok(deleted)
}
