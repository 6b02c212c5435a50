//! One PostgreSQL database per test, on the server named by
//! `SIGIL_TEST_POSTGRES_URL`, created here and dropped when the test's
//! [`PostgresDatabase`] is dropped, also when the test fails.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _};

/// Prefix of every database the suite makes; `.ci/run` drops leftovers by it.
pub const DATABASE_PREFIX: &str = "sigil_t_";

/// The variable naming the PostgreSQL server of the suite.
pub const URL_VARIABLE: &str = "SIGIL_TEST_POSTGRES_URL";

/// The server URL of the PostgreSQL half of the suite, if it is set.
pub fn base_url() -> Option<String> {
    std::env::var(URL_VARIABLE)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A database made for one test; dropping it drops the database.
pub struct PostgresDatabase {
    base: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    /// Creates `sigil_t_<uuid>` on the server of `base_url`.
    pub async fn create(base_url: &str) -> PostgresDatabase {
        let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let mut url = reqwest::Url::parse(base_url).expect("SIGIL_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        run_on(base_url, &format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE on {URL_VARIABLE}: {e}"));
        PostgresDatabase {
            base: base_url.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PostgresDatabase {
    /// Drop is sync and may run inside the test's runtime: the statement runs
    /// on a thread of its own with its own runtime, bounded, and this waits.
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                match tokio::time::timeout(Duration::from_secs(30), run_on(&base, &statement)).await
                {
                    Ok(done) => done.map_err(|e| e.to_string()),
                    Err(_) => Err("no answer in 30 s".to_owned()),
                }
            })
        })
        .join();
        if let Ok(Err(why)) | Err(why) = dropped.map_err(|_| "the thread panicked".to_owned()) {
            // Never panic in Drop (a failing test is already unwinding);
            // .ci/run drops what is left over.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "WARNING: test database {} was not dropped: {why}",
                self.name
            );
        }
    }
}

/// Whether a database of that name exists on the server of `base_url`.
pub async fn exists(base_url: &str, name: &str) -> bool {
    let mut conn = connect(base_url).await.expect("connects");
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .expect("pg_database");
    found.is_some()
}

async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    PgConnection::connect_with(
        &options
            .application_name("sigil-tests")
            .disable_statement_logging(),
    )
    .await
}

/// Runs one statement on a short-lived connection to `url`.
async fn run_on(url: &str, statement: &str) -> Result<(), sqlx::Error> {
    let mut conn = connect(url).await?;
    conn.execute(statement).await?;
    conn.close().await
}
