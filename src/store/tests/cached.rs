//! Tests of [`CachedStore`]: bearer checks answered from memory, and every
//! way a change reaches them (this process's writes, the SQLite change file,
//! PostgreSQL notifications, a lost listener).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use uuid::Uuid;

use super::database::TestDatabase;
use super::freezer::Freezer;
use super::{fresh, new_user};
use crate::store::{CachedStore, PostgresStore, SqliteStore, Store, USER_LISTENER_NAME, UserPatch};

fn disable(disabled: bool) -> UserPatch {
    UserPatch {
        disabled: Some(disabled),
        ..UserPatch::default()
    }
}

/// Whether the bearer check of `id` with token `jti` sees an enabled user.
async fn enabled(store: &dyn Store, id: Uuid, jti: &str) -> Option<bool> {
    store
        .user_unless_revoked(id, jti)
        .await
        .unwrap()
        .map(|user| !user.disabled)
}

/// A cached store over a fresh SQLite file, and the file's path.
async fn sqlite() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    SqliteStore,
    CachedStore,
) {
    let (dir, _url, raw) = fresh().await;
    let path = dir.path().join("nested/sigil.db");
    let cached = CachedStore::sqlite_file(Arc::new(raw.clone()), &path);
    (dir, path, raw, cached)
}

/// Checks what this process wrote, through `store`, right after each write.
async fn own_writes_are_seen_by_the_next_check(store: &CachedStore) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    assert_eq!(enabled(store, user.id, "t1").await, Some(true));

    store.update_user(user.id, disable(true)).await.unwrap();
    assert_eq!(enabled(store, user.id, "t1").await, Some(false));
    store.update_user(user.id, disable(false)).await.unwrap();
    assert_eq!(enabled(store, user.id, "t1").await, Some(true));
    let patch = UserPatch {
        scopes: Some(vec!["read".to_owned()]),
        ..UserPatch::default()
    };
    store.update_user(user.id, patch).await.unwrap();
    let seen = store.user_unless_revoked(user.id, "t1").await.unwrap();
    assert_eq!(seen.unwrap().scopes, ["read"]);

    assert!(!store.is_access_token_revoked("t1").await.unwrap());
    store
        .revoke_access_token("t1", Utc::now() + TimeDelta::minutes(5))
        .await
        .unwrap();
    assert_eq!(enabled(store, user.id, "t1").await, None);
    assert!(store.is_access_token_revoked("t1").await.unwrap());
    assert_eq!(enabled(store, user.id, "t2").await, Some(true));
}

#[tokio::test]
async fn on_sqlite_own_writes_are_seen_by_the_next_bearer_check() {
    let (_dir, _path, _raw, cached) = sqlite().await;
    own_writes_are_seen_by_the_next_check(&cached).await;
}

#[tokio::test]
async fn on_sqlite_checks_are_answered_from_memory_until_the_change_file_moves() {
    let (_dir, path, raw, cached) = sqlite().await;
    let user = raw.create_user(new_user("ada@example.com")).await.unwrap();
    assert_eq!(enabled(&cached, user.id, "t1").await, Some(true));

    // Behind the cache's back (the backend itself, which touches no file):
    raw.update_user(user.id, disable(true)).await.unwrap();
    assert_eq!(
        enabled(&cached, user.id, "t1").await,
        Some(true),
        "answered from memory"
    );

    // Another process on the same file writes through its own cached store.
    let (other_raw, other) = {
        let url = format!("sqlite://{}", path.display());
        let raw = SqliteStore::connect(&url).await.unwrap();
        (raw.clone(), CachedStore::sqlite_file(Arc::new(raw), &path))
    };
    let patch = UserPatch {
        scopes: Some(vec!["read".to_owned()]),
        ..UserPatch::default()
    };
    other.update_user(user.id, patch).await.unwrap();

    let seen = cached.user_unless_revoked(user.id, "t1").await.unwrap();
    let seen = seen.expect("the user");
    assert!(seen.disabled, "the change file made it read the database");
    assert_eq!(seen.scopes, ["read"]);

    other
        .revoke_access_token("t1", Utc::now() + TimeDelta::minutes(5))
        .await
        .unwrap();
    assert_eq!(enabled(&cached, user.id, "t1").await, None);
    other_raw.close().await;
}

/// Two cached stores on one fresh PostgreSQL database, once both listen.
async fn two_instances(
    test: &str,
) -> Option<(TestDatabase, PostgresStore, CachedStore, CachedStore)> {
    let db = TestDatabase::create(test).await?;
    let raw = PostgresStore::connect(db.url()).await.unwrap();
    let a = CachedStore::postgres(raw.clone());
    let b = CachedStore::postgres(PostgresStore::connect(db.url()).await.unwrap());
    wait_until("both listen", || a.is_on() && b.is_on()).await;
    Some((db, raw, a, b))
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_own_writes_are_seen_by_the_next_bearer_check() {
    let Some((_db, _raw, a, _b)) = two_instances("cached::own_writes").await else {
        return;
    };
    own_writes_are_seen_by_the_next_check(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_change_on_another_instance_is_seen_by_the_next_check_every_time() {
    let Some((_db, _raw, a, b)) = two_instances("cached::across").await else {
        return;
    };
    let user = a.create_user(new_user("ada@example.com")).await.unwrap();
    for round in 0..50 {
        let disabled = round % 2 == 0;
        // Enabled before a round that disables, and the other way round.
        assert_eq!(enabled(&b, user.id, "t").await, Some(disabled), "warm");
        assert_eq!(enabled(&b, user.id, "t").await, Some(disabled), "warm");

        a.update_user(user.id, disable(disabled)).await.unwrap();

        assert_eq!(
            enabled(&b, user.id, "t").await,
            Some(!disabled),
            "round {round}: B saw A's change"
        );
    }
    let jti = "revoked-on-a";
    assert_eq!(enabled(&b, user.id, jti).await, Some(true));
    a.revoke_access_token(jti, Utc::now() + TimeDelta::minutes(5))
        .await
        .unwrap();
    assert_eq!(enabled(&b, user.id, jti).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_change_while_the_listener_is_down_is_never_answered_stale() {
    let Some((_db, raw, a, _b)) = two_instances("cached::listener_down").await else {
        return;
    };
    let user = raw.create_user(new_user("ada@example.com")).await.unwrap();
    assert_eq!(enabled(&a, user.id, "t").await, Some(true), "warm");

    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(USER_LISTENER_NAME)
    .fetch_all(raw.pool())
    .await
    .unwrap();
    assert_eq!(killed.len(), 2, "both instances' listeners");
    wait_until("A noticed", || !a.is_on()).await;
    // Its notification goes nowhere: A listens to nothing right now.
    sqlx::query("UPDATE users SET disabled = true WHERE id = $1")
        .bind(user.id)
        .execute(raw.pool())
        .await
        .unwrap();

    assert_eq!(enabled(&a, user.id, "t").await, Some(false), "while down");
    wait_until("A listens again", || a.is_on()).await;
    assert_eq!(enabled(&a, user.id, "t").await, Some(false), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_listener_gone_silent_turns_the_cache_off_until_it_hears_again() {
    let Some(db) = TestDatabase::create("cached::silent_listener").await else {
        return;
    };
    let relay = Freezer::start(db.url()).await;
    let a = CachedStore::postgres(PostgresStore::connect(&relay.url(db.url())).await.unwrap());
    wait_until("A listens", || a.is_on()).await;

    // No connection is closed: only A's own pings can tell.
    relay.freeze();
    wait_until("A noticed its listener hears nothing", || !a.is_on()).await;

    relay.thaw();
    wait_until("A listens again", || a.is_on()).await;
}
