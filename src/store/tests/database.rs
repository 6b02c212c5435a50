//! Throw-away PostgreSQL databases for the store's tests, and the one
//! decision whether a PostgreSQL test runs at all.
//!
//! [`TestDatabase::create`] reads `SIGIL_TEST_POSTGRES_URL` when the test
//! runs (nothing is decided at build time). Without it, the test is skipped
//! with a loud `SKIPPED:` line on stderr, or fails when `CI=true`: a check
//! that did not run in CI is a failure there. With it, each test gets an
//! empty database of its own (`sigil_t_<random>`) on that server, so tests
//! never see each other's rows and run in parallel, and the database is
//! dropped when the [`TestDatabase`] is, also when the test panics.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

/// The environment variable naming the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub(super) const POSTGRES_URL_VAR: &str = "SIGIL_TEST_POSTGRES_URL";

/// Name prefix of every database made by [`fresh_database`].
const DATABASE_PREFIX: &str = "sigil_t_";

/// The PostgreSQL server for tests, or `None` after printing a `SKIPPED:`
/// line for `test` straight to stderr (past the harness's output capture,
/// so it shows even for a passing test).
///
/// # Panics
///
/// When the variable is unset and `CI=true`.
pub(super) fn postgres_base_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{POSTGRES_URL_VAR} is not set, so {test} cannot run on PostgreSQL in CI")
        }
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {POSTGRES_URL_VAR} is not set, so {test} did not run on PostgreSQL"
            );
            None
        }
    }
}

/// An empty database on the test server, dropped with this value.
#[derive(Debug)]
pub(crate) struct TestDatabase {
    /// The server's URL as configured.
    base: String,
    /// The URL of this database.
    url: String,
}

impl TestDatabase {
    /// A fresh database for `test`, or `None` (reported) when PostgreSQL
    /// tests are skipped; see [`postgres_base_url`].
    pub(crate) async fn create(test: &str) -> Option<TestDatabase> {
        let base = postgres_base_url(test)?;
        let url = fresh_database(&base).await.expect("create a test database");
        Some(TestDatabase { base, url })
    }

    /// The URL of this database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The URL of the server's own database, as configured.
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }
}

impl Drop for TestDatabase {
    /// Drops the database, disconnecting anyone still using it. `Drop` cannot
    /// wait for a future on the test's runtime, so the statement runs on a
    /// small runtime of its own in a thread of its own, which also works
    /// while a failing test unwinds.
    fn drop(&mut self) {
        let (base, url) = (self.base.clone(), self.url.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(sqlx::Error::Io)?
                .block_on(drop_database(&base, &url))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test database {}: {e}", self.url),
            Err(_) => eprintln!("could not drop the test database {}", self.url),
        }
    }
}

/// Creates an empty database `sigil_t_<random>` on the server of `base_url`
/// (whose own database must exist and accept the connection) and returns
/// `base_url` with its database replaced by the new one. The schema is not
/// created: [`PostgresStore::connect`](crate::store::PostgresStore::connect)
/// does that.
pub(super) async fn fresh_database(base_url: &str) -> Result<String, sqlx::Error> {
    let name = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
    let url = with_database(base_url, &name)?;
    run_on(base_url, &format!("CREATE DATABASE {name}")).await?;
    Ok(url)
}

/// Drops a database made by [`fresh_database`], disconnecting anyone still
/// connected to it; `database_url` is the URL that function returned, and
/// `base_url` the one it was given. Dropping one that is already gone is not
/// an error. Refuses any database whose name does not look like one of
/// [`fresh_database`]'s.
pub(super) async fn drop_database(base_url: &str, database_url: &str) -> Result<(), sqlx::Error> {
    let options = PgConnectOptions::from_str(database_url)?;
    let name = options.get_database().unwrap_or_default();
    let ours = name
        .strip_prefix(DATABASE_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ours {
        return Err(sqlx::Error::Configuration(
            "not a database made by fresh_database".into(),
        ));
    }
    run_on(
        base_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await
}

/// Runs one statement on a short-lived connection to `url`.
async fn run_on(url: &str, statement: &str) -> Result<(), sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("sigil-tests")
        .disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options).await?;
    let result = sqlx::query(statement).execute(&mut conn).await;
    let _ = conn.close().await;
    result.map(drop)
}

/// `url` with its path (the database name) replaced by `database`; any
/// `dbname=` query parameter, which would override the path, is dropped.
fn with_database(url: &str, database: &str) -> Result<String, sqlx::Error> {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let authority = head.find("://").map(|i| i + 3).ok_or_else(|| {
        sqlx::Error::Configuration("a PostgreSQL URL starts with postgres://".into())
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
