//! Opening the store a database URL names: SQLite or PostgreSQL, migrated.

use std::sync::Arc;

use super::{PostgresStore, SqliteStore, Store, StoreError};
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
/// fails within seconds.
pub async fn open(url: &DatabaseUrl) -> Result<Arc<dyn Store>, OpenError> {
    let failed = |e: StoreError| OpenError {
        url: url.redacted(),
        reason: describe(&e),
    };
    let address = url.expose();
    if address.starts_with("sqlite:") {
        let store = SqliteStore::connect(address).await.map_err(failed)?;
        Ok(Arc::new(store))
    } else if address.starts_with("postgres://") || address.starts_with("postgresql://") {
        let store = PostgresStore::connect(address).await.map_err(failed)?;
        Ok(Arc::new(store))
    } else {
        Err(OpenError {
            url: url.redacted(),
            reason: "neither sqlite://PATH nor postgres://…".into(),
        })
    }
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
