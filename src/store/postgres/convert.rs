//! Conversions for the PostgreSQL backend: rows to [`User`]s and PostgreSQL
//! errors to [`StoreError`]. Ids, timestamps, flags and scopes need no
//! conversion: they are stored as `uuid`, `timestamptz`, `boolean` and
//! `text[]`.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::store::{StoreError, User};

/// The unique index behind [`StoreError::EmailTaken`].
const EMAIL_INDEX: &str = "users_email_lower_key";

/// SQLSTATE classes that mean "the database can't be used right now":
/// connection exception, insufficient resources (disk full, out of memory,
/// too many connections), operator intervention (shutdown, statement
/// cancelled), system error (I/O).
const UNAVAILABLE_CLASSES: [&str; 4] = ["08", "53", "57", "58"];

/// Single SQLSTATEs with the same meaning: serialization failure, deadlock,
/// lock not available, read-only transaction (a standby).
const UNAVAILABLE_CODES: [&str; 4] = ["40001", "40P01", "55P03", "25006"];

/// Reads a `users` row selected with `select_user!`.
pub(super) fn user_from_row(row: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id").map_err(classify)?,
        email: row.try_get("email").map_err(classify)?,
        name: row.try_get("name").map_err(classify)?,
        password_hash: row.try_get("password_hash").map_err(classify)?,
        scopes: row.try_get("scopes").map_err(classify)?,
        disabled: row.try_get("disabled").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
    })
}

/// True if the error is the unique index on `users.email_lower`.
pub(super) fn is_email_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.is_unique_violation() && db.constraint() == Some(EMAIL_INDEX))
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
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            UNAVAILABLE_CODES.contains(&code.as_ref())
                || UNAVAILABLE_CLASSES
                    .iter()
                    .any(|class| code.starts_with(class))
        }),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(e)
    } else {
        StoreError::Other(e)
    }
}
