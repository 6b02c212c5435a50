//! Opening the store a database URL names: SQLite or PostgreSQL, migrated,
//! with bearer checks held in memory ([`CachedStore`]).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::sqlite::SqliteConnectOptions;

use super::{CachedStore, PostgresStore, SqliteStore, Store, StoreError};
use crate::config::DatabaseUrl;

/// Why the store could not be opened; the URL is shown with its password masked.
#[derive(Debug, thiserror::Error)]
#[error("cannot open database {url}: {reason}")]
pub struct OpenError {
    /// The URL, password masked.
    pub url: String,
    /// What went wrong, with its causes, on one line.
    pub reason: String,
}

/// Opens the store named by `url` (`sqlite:…`, `postgres://…` or
/// `postgresql://…`), running migrations. An unreachable PostgreSQL server
/// fails within seconds. The store answers bearer checks from memory while
/// it may ([`CachedStore`]); on PostgreSQL it listens for changes from a
/// task of the current Tokio runtime.
pub async fn open(url: &DatabaseUrl) -> Result<Arc<dyn Store>, OpenError> {
    let failed = |e: StoreError| OpenError {
        url: url.redacted(),
        reason: describe(&e),
    };
    let address = url.expose();
    if address.starts_with("sqlite:") {
        let store = Arc::new(SqliteStore::connect(address).await.map_err(failed)?);
        Ok(Arc::new(match sqlite_file(address) {
            Some(file) => CachedStore::sqlite_file(store, &file),
            None => CachedStore::alone(store),
        }))
    } else if address.starts_with("postgres://") || address.starts_with("postgresql://") {
        let store = PostgresStore::connect(address).await.map_err(failed)?;
        Ok(Arc::new(CachedStore::postgres(store)))
    } else {
        Err(OpenError {
            url: url.redacted(),
            reason: "neither sqlite://PATH nor postgres://…".into(),
        })
    }
}

/// The database file a `sqlite:` URL names; `None` for an in-memory one.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// The error and its causes on one line (sqlx errors do not carry passwords).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Many errors already end with their cause's text; do not repeat it.
        let cause = s.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}
