//! A second instance starting on a database that is already migrated says
//! nothing about sqlx's bookkeeping table: PostgreSQL's "already exists"
//! notice for `_sqlx_migrations` is no news to an operator.

use super::helpers::{BACKEND, ServerProcess};

#[tokio::test]
async fn a_second_instance_on_a_migrated_database_logs_no_migrations_notice() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = BACKEND.fresh_database(dir.path()).await else {
        return;
    };
    let db = database.url.clone();
    let pid = |name: &str| {
        dir.path()
            .join(format!("data/{name}.pid"))
            .display()
            .to_string()
    };
    let (pid_a, pid_b) = (pid("a"), pid("b"));

    let first = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_DATABASE_URL", db.expose()),
            ("SIGIL_PID_FILE", pid_a.as_str()),
        ],
    );
    let second = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_DATABASE_URL", db.expose()),
            ("SIGIL_PID_FILE", pid_b.as_str()),
        ],
    );

    let log = second.log.lock().unwrap().clone();
    let noise: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("_sqlx_migrations") || l.contains("sqlx::postgres::notice"))
        .collect();
    assert!(noise.is_empty(), "{} notice lines: {noise:?}", noise.len());
    drop(first);
}
