//! Tests of connecting to PostgreSQL: concurrent start-ups and migrations,
//! the schema's types, closing, unreachable servers, and the fresh-database
//! helper for tests. Those that need a server skip loudly without
//! `SIGIL_TEST_POSTGRES_URL`, and fail under `CI=true` (see `database`).

use std::time::{Duration, Instant};

use sqlx::Connection;

use super::database::{TestDatabase, drop_database, fresh_database};
use crate::store::migrate;
use crate::store::{PostgresStore, Store, StoreError};

/// A fresh database on the test server for `test`, dropped with the value,
/// or `None` (reported) without a server.
async fn fresh(test: &str) -> Option<TestDatabase> {
    TestDatabase::create(&format!("{}::{test}", module_path!())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_on_a_new_database_migrate_it_once() {
    let Some(db) = fresh("instances_starting_at_once_on_a_new_database_migrate_it_once").await
    else {
        return;
    };
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().expect("every instance starts"));
    }
    let again = PostgresStore::connect(db.url())
        .await
        .expect("a later start");

    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(again.pool())
            .await
            .unwrap();
    let expected: Vec<(i64, bool)> = migrate::POSTGRES
        .0
        .iter()
        .map(|m| (m.version, true))
        .collect();
    assert_eq!(applied, expected);
    for store in stores.iter().chain([&again]) {
        store.close().await;
    }
}

#[tokio::test]
async fn the_postgres_schema_uses_native_types() {
    let Some(db) = fresh("the_postgres_schema_uses_native_types").await else {
        return;
    };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let mut types: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, udt_name::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND column_name IN ('id', 'scopes', 'disabled', 'created_at', 'token_hash', \
         'locked_until', 'failures') ORDER BY 1, 2",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let row = |t: &str, c: &str, u: &str| (t.to_owned(), c.to_owned(), u.to_owned());
    // Sorted here, not by the server's collation (which may ignore `_`).
    types.sort();
    assert_eq!(
        types,
        vec![
            row("client_secrets", "created_at", "timestamptz"),
            row("client_secrets", "id", "uuid"),
            row("clients", "created_at", "timestamptz"),
            row("clients", "disabled", "bool"),
            row("clients", "id", "text"),
            row("clients", "scopes", "_text"),
            row("login_throttle", "failures", "int4"),
            row("login_throttle", "locked_until", "timestamptz"),
            row("refresh_families", "created_at", "timestamptz"),
            row("refresh_families", "id", "uuid"),
            row("refresh_tokens", "created_at", "timestamptz"),
            row("refresh_tokens", "id", "uuid"),
            row("refresh_tokens", "token_hash", "bytea"),
            row("signing_key_set", "id", "bool"),
            row("signing_keys", "created_at", "timestamptz"),
            row("users", "created_at", "timestamptz"),
            row("users", "disabled", "bool"),
            row("users", "id", "uuid"),
            row("users", "scopes", "_text"),
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn a_database_of_schema_version_7_is_upgraded_with_an_empty_key_set_at_version_0() {
    let Some(db) =
        fresh("a_database_of_schema_version_7_is_upgraded_with_an_empty_key_set_at_version_0")
            .await
    else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let up_to_7 = migrate::EmbeddedMigrations(&migrate::POSTGRES.0[..7]);
    assert_eq!(up_to_7.0.last().unwrap().version, 7);
    up_to_7
        .migrator()
        .await
        .unwrap()
        .run_direct(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, email, email_lower, name, password_hash, created_at) \
         VALUES (gen_random_uuid(), 'a@example.com', 'a@example.com', 'A', 'h', now())",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = PostgresStore::connect(db.url()).await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 1);
    let latest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(latest, migrate::POSTGRES.0.last().unwrap().version);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM signing_key_set")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!((keys, versions), (0, vec![0]));
    store.close().await;
}

#[tokio::test]
async fn the_key_table_holds_at_most_one_active_key_and_one_version_row() {
    let Some(db) = fresh("the_key_table_holds_at_most_one_active_key_and_one_version_row").await
    else {
        return;
    };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let insert = |kid: &'static str, state: &'static str| {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, state, created_at, sealed_key, kek_id) \
             VALUES ($1, 'EdDSA', $2, now(), '\\x01', 'k')",
        )
        .bind(kid)
        .bind(state)
        .execute(store.pool())
    };
    insert("a", "active").await.unwrap();
    insert("b", "next").await.unwrap();
    insert("c", "retired").await.unwrap();
    assert!(insert("d", "active").await.is_err(), "a second active key");
    assert!(insert("e", "current").await.is_err(), "an unknown state");
    let second_row = sqlx::query("INSERT INTO signing_key_set (id, version) VALUES (false, 1)")
        .execute(store.pool())
        .await;
    assert!(second_row.is_err(), "a second version row");
    store.close().await;
}

#[tokio::test]
async fn a_closed_postgres_store_is_unavailable_and_errors_show_no_details() {
    let Some(db) = fresh("a_closed_postgres_store_is_unavailable_and_errors_show_no_details").await
    else {
        return;
    };
    let store = PostgresStore::connect(db.url()).await.unwrap();
    store.ping().await.unwrap();
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(err.to_string(), "database unavailable");
}

#[tokio::test]
async fn fresh_databases_are_separate_and_only_they_can_be_dropped() {
    let Some(db) = fresh("fresh_databases_are_separate_and_only_they_can_be_dropped").await else {
        return;
    };
    let base = db.base_url();
    let second = fresh_database(base).await.unwrap();
    assert_ne!(db.url(), second);
    let store = PostgresStore::connect(db.url()).await.unwrap();
    store.ping().await.unwrap();

    // Dropping disconnects the store's pooled connections.
    drop_database(base, db.url()).await.unwrap();
    drop_database(base, &second).await.unwrap();
    let gone = PostgresStore::connect(db.url()).await.unwrap_err();
    assert!(matches!(gone, StoreError::Other(_)), "{gone:?}");
    let refused = drop_database(base, base).await.unwrap_err();
    assert!(
        matches!(refused, sqlx::Error::Configuration(_)),
        "{refused:?}"
    );
    // Dropping what is already gone (as the guard does now) is no error.
    drop_database(base, db.url()).await.unwrap();
}

#[tokio::test]
async fn a_test_database_is_dropped_when_its_test_panics() {
    let test = "a_test_database_is_dropped_when_its_test_panics";
    let Some(db) = fresh(test).await else {
        return;
    };
    let base = db.base_url().to_owned();
    let (made, made_url) = std::sync::mpsc::channel();
    let failing = tokio::spawn(async move {
        let inner = fresh(&format!("{test} (inner)")).await.unwrap();
        PostgresStore::connect(inner.url())
            .await
            .unwrap()
            .ping()
            .await
            .unwrap();
        made.send(inner.url().to_owned()).unwrap();
        panic!("a test failing while its database is in use");
    });

    let outcome = failing.await.unwrap_err();
    assert!(outcome.is_panic(), "{outcome:?}");
    let url = made_url.try_recv().expect("the database was made and used");
    let name = url.rsplit('/').next().unwrap();
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!exists, "{name} is left behind");
}

#[tokio::test]
async fn a_refused_connection_fails_at_once_as_unavailable_without_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = PostgresStore::connect(&format!("postgres://sigil:hunter2@127.0.0.1:{port}/sigil"))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let mut chain = format!("{err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        source = s.source();
    }
    assert!(!chain.contains("hunter2"), "{chain}");
}

#[tokio::test]
async fn a_server_that_never_answers_fails_start_up_within_seconds() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts connections and holds them open without a word.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let err = PostgresStore::connect(&format!("postgres://sigil@127.0.0.1:{port}/sigil"))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    silent.abort();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(waited < Duration::from_secs(8), "{waited:?}");
}
