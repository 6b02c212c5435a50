//! Tests of opening, reopening and closing a SQLite database, and of the
//! migration lists of both backends.

use chrono::Utc;

use super::{fresh, later, new_user, rotate, rotated, user_with_family};
use crate::store::migrate;
use crate::store::{SqliteStore, Store, StoreError};

#[tokio::test]
async fn reopening_the_file_runs_migrations_again_without_error() {
    let (_dir, url, store) = fresh().await;
    store.close().await;
    let again = SqliteStore::connect(&url).await.unwrap();
    again.close().await;
    let third = SqliteStore::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(third.pool())
        .await
        .unwrap();
    assert_eq!(applied, migrate::SQLITE.0.len() as i64);
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(third.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(third.pool())
        .await
        .unwrap();
    assert_eq!(synchronous, 2, "FULL");
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let (_dir, url, store) = fresh().await;
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&store, now).await;
    store.set_password_hash(user_id, "new-hash").await.unwrap();
    let before = store.user_by_id(user_id).await.unwrap().unwrap();
    store.close().await;

    let store = SqliteStore::connect(&url).await.unwrap();
    let after = store.user_by_email("ADA@example.com").await.unwrap();
    assert_eq!(after.as_ref(), Some(&before));
    assert_eq!(before.password_hash, "new-hash");
    let outcome = rotate(&store, b"t0", b"t1", later(now), now).await;
    assert_eq!(outcome, rotated(user_id, family_id));
}

#[tokio::test]
async fn an_in_memory_database_keeps_its_data_across_queries() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.ping().await.unwrap();
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    assert_eq!(store.user_by_id(user.id).await.unwrap(), Some(user));
    let other = SqliteStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(other.count_users().await.unwrap(), 0);
}

#[tokio::test]
async fn a_closed_store_is_unavailable_and_errors_show_no_details() {
    let (_dir, _url, store) = fresh().await;
    store.ping().await.unwrap();
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(err.to_string(), "database unavailable");
}

#[tokio::test]
async fn a_new_database_and_its_folder_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("sigil.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    let wal = db.with_file_name("sigil.db-wal");
    assert_eq!(mode(&wal), 0o600, "SQLite copies the mode to its journal");
}

#[test]
fn both_backends_have_the_same_migration_versions_in_order() {
    let versions = |list: migrate::EmbeddedMigrations| {
        list.0
            .iter()
            .map(|m| (m.version, m.description))
            .collect::<Vec<_>>()
    };
    let sqlite = versions(migrate::SQLITE);
    assert_eq!(sqlite, versions(migrate::POSTGRES));
    assert!(sqlite.windows(2).all(|w| w[0].0 < w[1].0), "{sqlite:?}");
}
