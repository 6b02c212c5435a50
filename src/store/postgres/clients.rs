//! Confidential clients in the PostgreSQL backend: the statements behind the
//! client methods of [`Store`](crate::store::Store). Native types: `text[]`
//! scopes, `timestamptz`, `bytea` hashes.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::convert::classify;
use crate::store::{Client, ClientPatch, ClientWithSecrets, NewClient, StoreError};

/// The client columns, in the order `client_from_row` reads them.
const CLIENT_COLUMNS: &str = "id, name, scopes, audience, disabled, created_at";

fn client_from_row(row: &PgRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: row.try_get("id").map_err(classify)?,
        name: row.try_get("name").map_err(classify)?,
        scopes: row.try_get("scopes").map_err(classify)?,
        audience: row.try_get("audience").map_err(classify)?,
        disabled: row.try_get("disabled").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
    })
}

/// See [`Store::create_client`](crate::store::Store::create_client).
pub(super) async fn create(
    pool: &PgPool,
    new: NewClient,
    now: DateTime<Utc>,
) -> Result<Client, StoreError> {
    let client = Client {
        id: new.id,
        name: new.name,
        scopes: new.scopes,
        audience: new.audience,
        disabled: false,
        created_at: now.trunc_subsecs(6),
    };
    let mut tx = pool.begin().await.map_err(classify)?;
    sqlx::query(
        "INSERT INTO clients (id, name, scopes, audience, disabled, created_at) \
         VALUES ($1, $2, $3, $4, false, $5)",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(&client.scopes)
    .bind(&client.audience)
    .bind(client.created_at)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    insert_secret(&mut tx, &client.id, &new.secret_hash, now).await?;
    tx.commit().await.map_err(classify)?;
    Ok(client)
}

async fn insert_secret(
    tx: &mut sqlx::PgConnection,
    client_id: &str,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(Uuid::new_v4())
    .bind(client_id)
    .bind(hash)
    .bind(now)
    .execute(tx)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::client_by_id`](crate::store::Store::client_by_id).
pub(super) async fn by_id(
    pool: &PgPool,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ClientWithSecrets>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.scopes, c.audience, c.disabled, c.created_at, s.secret_hash \
         FROM clients c LEFT JOIN client_secrets s \
         ON s.client_id = c.id AND (s.expires_at IS NULL OR s.expires_at > $1) \
         WHERE c.id = $2",
    )
    .bind(now)
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    with_secrets(&rows)
}

/// See [`Store::client_for_authentication`](crate::store::Store::client_for_authentication):
/// `(SELECT 1) LEFT JOIN` keeps one row when the id is unknown, to carry the lock.
pub(super) async fn for_authentication(
    pool: &PgPool,
    id: &str,
    throttle_key: &str,
    now: DateTime<Utc>,
) -> Result<(Option<ClientWithSecrets>, Option<DateTime<Utc>>), StoreError> {
    let rows = sqlx::query(
        "SELECT (SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2) \
                AS locked_until, \
                c.id, c.name, c.scopes, c.audience, c.disabled, c.created_at, s.secret_hash \
         FROM (SELECT 1) AS one \
         LEFT JOIN clients c ON c.id = $3 \
         LEFT JOIN client_secrets s \
         ON s.client_id = c.id AND (s.expires_at IS NULL OR s.expires_at > $2)",
    )
    .bind(throttle_key)
    .bind(now)
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    let locked_until: Option<DateTime<Utc>> = match rows.first() {
        Some(row) => row.try_get("locked_until").map_err(classify)?,
        None => None,
    };
    let known = match rows.first() {
        Some(row) => row
            .try_get::<Option<String>, _>("id")
            .map_err(classify)?
            .is_some(),
        None => false,
    };
    let client = if known { with_secrets(&rows)? } else { None };
    Ok((client, locked_until))
}

/// The client of `rows` (one per working secret, or one with a NULL secret)
/// with the hashes of its secrets; `None` for no rows.
fn with_secrets(rows: &[PgRow]) -> Result<Option<ClientWithSecrets>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let client = client_from_row(first)?;
    let mut secret_hashes = Vec::new();
    for row in rows {
        let hash: Option<Vec<u8>> = row.try_get("secret_hash").map_err(classify)?;
        secret_hashes.extend(hash);
    }
    Ok(Some(ClientWithSecrets {
        client,
        secret_hashes,
    }))
}

/// See [`Store::list_clients`](crate::store::Store::list_clients).
pub(super) async fn list(
    pool: &PgPool,
    limit: u32,
    offset: u32,
) -> Result<Vec<Client>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id LIMIT $1 OFFSET $2"
    ))
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    rows.iter().map(client_from_row).collect()
}

/// See [`Store::update_client`](crate::store::Store::update_client).
pub(super) async fn update(
    pool: &PgPool,
    id: &str,
    patch: ClientPatch,
) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE clients SET scopes = COALESCE($1, scopes), disabled = COALESCE($2, disabled) \
         WHERE id = $3 RETURNING {CLIENT_COLUMNS}"
    ))
    .bind(patch.scopes.as_deref())
    .bind(patch.disabled)
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(classify)?;
    row.as_ref().map(client_from_row).transpose()
}

/// See [`Store::rotate_client_secret`](crate::store::Store::rotate_client_secret):
/// the client's row is locked first, so two rotations of one client, from
/// any instances, run one after the other.
pub(super) async fn rotate_secret(
    pool: &PgPool,
    id: &str,
    new_hash: &[u8],
    now: DateTime<Utc>,
    previous_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(classify)?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM clients WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
    if exists.is_none() {
        tx.rollback().await.map_err(classify)?;
        return Ok(false);
    }
    sqlx::query(
        "DELETE FROM client_secrets WHERE client_id = $1 AND expires_at IS NOT NULL \
         AND expires_at <= $2",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    sqlx::query(
        "UPDATE client_secrets SET expires_at = $1 \
         WHERE client_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
    )
    .bind(previous_until)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    insert_secret(&mut tx, id, new_hash, now).await?;
    tx.commit().await.map_err(classify)?;
    Ok(true)
}
