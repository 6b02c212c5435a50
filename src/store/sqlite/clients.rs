//! Confidential clients in the SQLite backend: the statements behind the
//! client methods of [`Store`](crate::store::Store). Scopes are a JSON
//! array and timestamps fixed-width text, as for users.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::convert::{classify, encode_scopes, parse_ts, ts};
use crate::store::{Client, ClientPatch, ClientWithSecrets, NewClient, StoreError};

/// `SELECT` of every client column, followed by the rest of the query.
macro_rules! select_client {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, scopes, audience, disabled, created_at FROM clients ",
            $rest
        )
    };
}

fn client_from_row(row: &SqliteRow) -> Result<Client, StoreError> {
    let scopes: String = row.try_get("scopes").map_err(classify)?;
    let created_at: String = row.try_get("created_at").map_err(classify)?;
    Ok(Client {
        id: row.try_get("id").map_err(classify)?,
        name: row.try_get("name").map_err(classify)?,
        scopes: serde_json::from_str(&scopes)
            .map_err(|e| StoreError::Other(sqlx::Error::Decode(Box::new(e))))?,
        audience: row.try_get("audience").map_err(classify)?,
        disabled: row.try_get("disabled").map_err(classify)?,
        created_at: parse_ts(&created_at)?,
    })
}

/// See [`Store::create_client`](crate::store::Store::create_client).
pub(super) async fn create(
    writer: &SqlitePool,
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
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(classify)?;
    sqlx::query(
        "INSERT INTO clients (id, name, scopes, audience, disabled, created_at) \
         VALUES (?, ?, ?, ?, 0, ?)",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(encode_scopes(&client.scopes)?)
    .bind(&client.audience)
    .bind(ts(client.created_at))
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    insert_secret(&mut tx, &client.id, &new.secret_hash, now).await?;
    tx.commit().await.map_err(classify)?;
    Ok(client)
}

async fn insert_secret(
    tx: &mut sqlx::SqliteConnection,
    client_id: &str,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, created_at, expires_at) \
         VALUES (?, ?, ?, ?, NULL)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(client_id)
    .bind(hash)
    .bind(ts(now))
    .execute(tx)
    .await
    .map_err(classify)?;
    Ok(())
}

/// See [`Store::client_by_id`](crate::store::Store::client_by_id).
pub(super) async fn by_id(
    pool: &SqlitePool,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ClientWithSecrets>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.scopes, c.audience, c.disabled, c.created_at, s.secret_hash \
         FROM clients c LEFT JOIN client_secrets s \
         ON s.client_id = c.id AND (s.expires_at IS NULL OR s.expires_at > ?) \
         WHERE c.id = ?",
    )
    .bind(ts(now))
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    with_secrets(&rows)
}

/// See [`Store::client_for_authentication`](crate::store::Store::client_for_authentication):
/// `(SELECT 1) LEFT JOIN` keeps one row when the id is unknown, to carry the lock.
pub(super) async fn for_authentication(
    pool: &SqlitePool,
    id: &str,
    throttle_key: &str,
    now: DateTime<Utc>,
) -> Result<(Option<ClientWithSecrets>, Option<DateTime<Utc>>), StoreError> {
    let rows = sqlx::query(
        "SELECT (SELECT locked_until FROM login_throttle WHERE key = ?1 AND locked_until > ?2) \
                AS locked_until, \
                c.id, c.name, c.scopes, c.audience, c.disabled, c.created_at, s.secret_hash \
         FROM (SELECT 1) AS one \
         LEFT JOIN clients c ON c.id = ?3 \
         LEFT JOIN client_secrets s \
         ON s.client_id = c.id AND (s.expires_at IS NULL OR s.expires_at > ?2)",
    )
    .bind(throttle_key)
    .bind(ts(now))
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(classify)?;
    let locked_until = match rows.first() {
        Some(row) => {
            let until: Option<String> = row.try_get("locked_until").map_err(classify)?;
            until.as_deref().map(parse_ts).transpose()?
        }
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
fn with_secrets(rows: &[SqliteRow]) -> Result<Option<ClientWithSecrets>, StoreError> {
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
    pool: &SqlitePool,
    limit: u32,
    offset: u32,
) -> Result<Vec<Client>, StoreError> {
    let rows = sqlx::query(select_client!("ORDER BY created_at, id LIMIT ? OFFSET ?"))
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(pool)
        .await
        .map_err(classify)?;
    rows.iter().map(client_from_row).collect()
}

/// See [`Store::update_client`](crate::store::Store::update_client).
pub(super) async fn update(
    writer: &SqlitePool,
    id: &str,
    patch: ClientPatch,
) -> Result<Option<Client>, StoreError> {
    let scopes = patch.scopes.as_deref().map(encode_scopes).transpose()?;
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(classify)?;
    let changed = sqlx::query(
        "UPDATE clients SET scopes = COALESCE(?, scopes), disabled = COALESCE(?, disabled) \
         WHERE id = ?",
    )
    .bind(scopes)
    .bind(patch.disabled)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(classify)?
    .rows_affected();
    if changed == 0 {
        tx.rollback().await.map_err(classify)?;
        return Ok(None);
    }
    let row = sqlx::query(select_client!("WHERE id = ?"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
    let client = client_from_row(&row)?;
    tx.commit().await.map_err(classify)?;
    Ok(Some(client))
}

/// See [`Store::rotate_client_secret`](crate::store::Store::rotate_client_secret).
pub(super) async fn rotate_secret(
    writer: &SqlitePool,
    id: &str,
    new_hash: &[u8],
    now: DateTime<Utc>,
    previous_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(classify)?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM clients WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    if exists.is_none() {
        tx.rollback().await.map_err(classify)?;
        return Ok(false);
    }
    sqlx::query(
        "DELETE FROM client_secrets WHERE client_id = ? AND expires_at IS NOT NULL \
         AND expires_at <= ?",
    )
    .bind(id)
    .bind(ts(now))
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    sqlx::query(
        "UPDATE client_secrets SET expires_at = ?1 \
         WHERE client_id = ?2 AND (expires_at IS NULL OR expires_at > ?1)",
    )
    .bind(ts(previous_until))
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    insert_secret(&mut tx, id, new_hash, now).await?;
    tx.commit().await.map_err(classify)?;
    Ok(true)
}
