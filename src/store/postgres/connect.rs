//! Opening the PostgreSQL backend's pool: one connection of its own first,
//! to migrate the schema and to report why a server cannot be used, then a
//! bounded pool whose callers never wait long.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use super::convert::classify;
use crate::store::StoreError;
use crate::store::migrate::{self, migrate_error};

/// How long opening one connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection (including opening one).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle for longer than this is pinged before it is
/// handed out; one used more recently is handed out as it is.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Brings the schema at `url` up to date and opens a pool of at most
/// `max_connections` (at least one) connections to it.
pub(super) async fn migrated_pool(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(StoreError::Other)?
        .application_name("sigil");
    run_migrations(&options).await?;
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // sqlx pings every connection it hands out by default: one more round
        // trip before every query, as many as a refresh's one statement. A
        // connection that was in use within the last second is not stale;
        // one idle for longer (a database restart may have cut it) is pinged,
        // and on failure closed and replaced.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(classify)
}

/// Opens one connection outside any pool, so that its own error (refused,
/// wrong password, no such database) reaches the caller rather than a pool
/// timeout, and gives up after [`CONNECT_TIMEOUT`].
async fn open_connection(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(connected) => connected.map_err(classify),
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::Io(
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no answer from the database server within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ),
        ))),
    }
}

/// Applies pending migrations on a connection of their own. sqlx's migrator
/// holds a session-level advisory lock while it works, so concurrent
/// start-ups wait for each other; closing the connection ends the session,
/// which releases that lock even if a script failed half-way.
///
/// The migrator begins with `CREATE TABLE IF NOT EXISTS _sqlx_migrations`,
/// which on every start but the first makes PostgreSQL send the NOTICE
/// `relation "_sqlx_migrations" already exists, skipping`; sqlx logs NOTICEs
/// at INFO. That is no news to an operator, so this connection asks the
/// server (`client_min_messages`) to send only warnings and errors.
async fn run_migrations(options: &PgConnectOptions) -> Result<(), StoreError> {
    let options = options
        .clone()
        .options([("client_min_messages", "warning")]);
    let mut conn = open_connection(&options).await?;
    let migrator = migrate::POSTGRES
        .migrator()
        .await
        .map_err(StoreError::Other)?;
    // `run_direct` is `run` for a plain connection; `run(&mut conn)` would
    // make this future unusable with `tokio::spawn` (sqlx's `Acquire` is not
    // general enough over lifetimes).
    let result = migrator
        .run_direct(&mut conn)
        .await
        .map_err(|e| migrate_error(e, classify));
    let _ = conn.close().await;
    result
}

/// A `LISTEN`ing connection of its own beside `pool`, opened with the pool's
/// settings and named `application_name` (so operators, and tests, can tell
/// it apart in `pg_stat_activity`), not yet listening on any channel.
pub(super) async fn named_listener(
    pool: &PgPool,
    application_name: &str,
) -> Result<PgListener, sqlx::Error> {
    let options = (*pool.connect_options())
        .clone()
        .application_name(application_name);
    // A pool of one: the listener opens (and, if asked, re-opens) its
    // connection through it.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await?;
    PgListener::connect_with(&own).await
}
