//! Conversions for the SQLite backend: rows to [`User`]s, ids, timestamps and
//! scopes to and from their stored text, and SQLite errors to [`StoreError`].

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::store::{StoreError, User};

/// Primary SQLite result codes that mean "the database can't be used right
/// now": BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
const UNAVAILABLE_CODES: [i32; 8] = [5, 6, 7, 8, 10, 13, 14, 15];

/// Reads a `users` row selected with `select_user!`.
pub(super) fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let id: String = row.try_get("id").map_err(classify)?;
    let scopes: String = row.try_get("scopes").map_err(classify)?;
    let created_at: String = row.try_get("created_at").map_err(classify)?;
    Ok(User {
        id: parse_uuid(&id)?,
        email: row.try_get("email").map_err(classify)?,
        name: row.try_get("name").map_err(classify)?,
        password_hash: row.try_get("password_hash").map_err(classify)?,
        scopes: serde_json::from_str(&scopes).map_err(decode_error)?,
        disabled: row.try_get("disabled").map_err(classify)?,
        created_at: parse_ts(&created_at)?,
    })
}

/// Scopes are stored as a JSON array of strings.
pub(super) fn encode_scopes(scopes: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(scopes).map_err(|e| StoreError::Other(sqlx::Error::Encode(Box::new(e))))
}

/// Timestamps are stored as fixed-width UTC text (microseconds), so that
/// text order is time order.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads a timestamp written by [`ts`].
pub(super) fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(decode_error)
}

/// Reads a UUID stored as text.
pub(super) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(decode_error)
}

/// Wraps a failure to read a stored value.
fn decode_error(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(sqlx::Error::Decode(Box::new(e)))
}

/// Creates the database's folder (mode 0700) and an empty database file (mode
/// 0600) when they are missing: the file holds password hashes, so nobody but
/// its owner may read it. SQLite gives its `-wal` and `-shm` files the same mode.
pub(super) async fn prepare_file(file: &Path) -> Result<(), StoreError> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || prepare_file_now(&file))
        .await
        .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(e))))?
        .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))
}

fn prepare_file_now(file: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// True if the error is the unique index on `users.email_lower`.
pub(super) fn is_email_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.message().contains("email_lower"))
}

/// Sorts a database error into "unavailable" (worth retrying later, maps to
/// 503) or anything else.
pub(super) fn classify(e: sqlx::Error) -> StoreError {
    let unavailable = match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| UNAVAILABLE_CODES.contains(&(code & 0xff))),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(e)
    } else {
        StoreError::Other(e)
    }
}
