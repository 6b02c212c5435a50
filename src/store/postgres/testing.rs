//! Throw-away PostgreSQL databases, for tests only.
//!
//! Each test that needs PostgreSQL asks [`fresh_database`] for a database of
//! its own on the server named by a base URL (in sigil's suites,
//! `SIGIL_TEST_POSTGRES_URL`), so tests never see each other's rows and can
//! run in parallel. [`drop_database`] removes one again; it only ever drops
//! databases that [`fresh_database`] made.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

use super::convert::classify;
use crate::store::StoreError;

/// Name prefix of every database made by [`fresh_database`].
pub const DATABASE_PREFIX: &str = "sigil_t_";

/// Creates an empty database `sigil_t_<random>` on the server of `base_url`
/// (whose own database must exist and accept the connection) and returns
/// `base_url` with its database replaced by the new one. The schema is not
/// created: [`PostgresStore::connect`](super::PostgresStore::connect) does that.
///
/// For tests only.
pub async fn fresh_database(base_url: &str) -> Result<String, StoreError> {
    let name = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
    let url = with_database(base_url, &name)?;
    run_on(base_url, &format!("CREATE DATABASE {name}")).await?;
    Ok(url)
}

/// Drops a database made by [`fresh_database`], disconnecting anyone still
/// connected to it; `database_url` is the URL that function returned, and
/// `base_url` the one it was given. Refuses (with [`StoreError::Other`]) any
/// database whose name does not look like one of [`fresh_database`]'s.
///
/// For tests only.
pub async fn drop_database(base_url: &str, database_url: &str) -> Result<(), StoreError> {
    let options = PgConnectOptions::from_str(database_url).map_err(StoreError::Other)?;
    let name = options.get_database().unwrap_or_default();
    let ours = name
        .strip_prefix(DATABASE_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ours {
        return Err(StoreError::Other(sqlx::Error::Configuration(
            "not a database made by fresh_database".into(),
        )));
    }
    run_on(
        base_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await
}

/// Runs one statement on a short-lived connection to `url`.
async fn run_on(url: &str, statement: &str) -> Result<(), StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(StoreError::Other)?
        .application_name("sigil-tests")
        .disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(classify)?;
    let result = sqlx::query(statement).execute(&mut conn).await;
    let _ = conn.close().await;
    result.map_err(classify)?;
    Ok(())
}

/// `url` with its path (the database name) replaced by `database`; any
/// `dbname=` query parameter, which would override the path, is dropped.
fn with_database(url: &str, database: &str) -> Result<String, StoreError> {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = head.find("://").map(|i| i + 3).ok_or_else(|| {
        StoreError::Other(sqlx::Error::Configuration(
            "a PostgreSQL URL starts with postgres://".into(),
        ))
    })?;
    let path = head[authority..]
        .find('/')
        .map_or(head.len(), |i| authority + i);
    let mut result = format!("{}/{database}", &head[..path]);
    let params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("dbname="))
        .collect();
    if !params.is_empty() {
        result.push('?');
        result.push_str(&params.join("&"));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_its_other_parts_kept() {
        let cases = [
            ("postgres://u:p@h:5432/test", "postgres://u:p@h:5432/x"),
            ("postgres://h", "postgres://h/x"),
            ("postgresql://h/", "postgresql://h/x"),
            (
                "postgres://u@h/test?sslmode=disable&dbname=test",
                "postgres://u@h/x?sslmode=disable",
            ),
        ];
        for (given, expected) in cases {
            assert_eq!(with_database(given, "x").unwrap(), expected, "{given}");
        }
        assert!(with_database("h:5432/test", "x").is_err());
    }
}
