//! Tests of group commit on a SQLite file: writes that queue together share
//! one commit, a failing job fails alone, jobs of one batch are decided one
//! after the other, and an answer means the change is committed.
//!
//! Holding the writer pool's one connection (as any other write does) makes
//! the batch task wait with its first job while the others queue behind
//! it; once it gets the connection it takes them all into one batch. That
//! is how these tests put given jobs into one batch without timing.

use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tempfile::TempDir;
use uuid::Uuid;

use crate::store::sqlite::SqliteStore;
use crate::store::{NewUser, RefreshOutcome, SessionOrigin, Store, StoreError, Successor};

/// A store on a fresh file, and the file's URL.
async fn fresh() -> (TempDir, String, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sigil.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    (dir, url, store)
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        name: "Grace Hopper".to_owned(),
        password_hash: "$argon2id$v=19$secret".to_owned(),
        scopes: vec!["read".to_owned()],
    }
}

fn later(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(30)
}

/// A user `user-<i>` with a family holding the token `t<i>`.
async fn family(store: &SqliteStore, i: usize, now: DateTime<Utc>) -> (Uuid, Uuid) {
    let user = store
        .create_user(new_user(&format!("user-{i}@example.com")))
        .await
        .unwrap();
    let family = store
        .create_refresh_family(
            user.id,
            "read",
            format!("t{i}").as_bytes(),
            later(now),
            &SessionOrigin::default(),
        )
        .await
        .unwrap();
    (user.id, family)
}

/// Presents `presented` with `next` as its successor.
async fn rotate(
    store: &SqliteStore,
    presented: Vec<u8>,
    next: Vec<u8>,
    now: DateTime<Utc>,
    interval: StdDuration,
) -> Result<RefreshOutcome, StoreError> {
    let successor = Successor {
        hash: &next,
        expires_at: later(now),
        sealed: Some(b"sealed"),
    };
    store
        .rotate_refresh(&presented, successor, now, interval)
        .await
}

/// Holds the writer connection until `jobs` more jobs were queued since
/// `queued_before`, then lets the batch task have it.
async fn queue_behind_the_writer(store: &SqliteStore, queued_before: u64, jobs: u64) {
    let stats = store.batches().stats();
    while stats.queued.load(Ordering::SeqCst) < queued_before + jobs {
        tokio::time::sleep(StdDuration::from_millis(1)).await;
    }
}

/// `(commits, queued)` so far.
fn counts(store: &SqliteStore) -> (u64, u64) {
    let stats = store.batches().stats();
    (
        stats.commits.load(Ordering::SeqCst),
        stats.queued.load(Ordering::SeqCst),
    )
}

/// Whether the token with hash `hash` is stored, and used up, as seen by a
/// new connection of its own.
async fn stored(url: &str, hash: &[u8]) -> Option<bool> {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    let used: Option<bool> =
        sqlx::query_scalar("SELECT used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = ?")
            .bind(hash)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    used
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_different_families_share_one_commit() {
    const N: usize = 32;
    let (_dir, _url, store) = fresh().await;
    let now = Utc::now();
    let mut families = Vec::new();
    for i in 0..N {
        families.push(family(&store, i, now).await);
    }
    let (commits_before, queued_before) = counts(&store);

    let held = store.writer().acquire().await.unwrap();
    let rotations: Vec<_> = (0..N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let (presented, next) = (format!("t{i}"), format!("n{i}"));
                rotate(
                    &store,
                    presented.into(),
                    next.into(),
                    now,
                    StdDuration::ZERO,
                )
                .await
            })
        })
        .collect();
    queue_behind_the_writer(&store, queued_before, N as u64).await;
    drop(held);

    for (i, rotation) in rotations.into_iter().enumerate() {
        let outcome = rotation.await.unwrap().unwrap();
        assert_eq!(
            outcome,
            RefreshOutcome::Rotated {
                user_id: families[i].0,
                family_id: families[i].1,
                scope: "read".to_owned(),
            }
        );
    }
    let (commits_after, _) = counts(&store);
    assert_eq!(
        commits_after - commits_before,
        1,
        "{N} rotations queued together share one commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_job_in_a_batch_fails_alone_and_leaves_nothing_behind() {
    let (_dir, url, store) = fresh().await;
    let now = Utc::now();
    let (user_id, _) = family(&store, 0, now).await;
    family(&store, 1, now).await;
    let (commits_before, queued_before) = counts(&store);

    let held = store.writer().acquire().await.unwrap();
    let first = tokio::spawn({
        let store = store.clone();
        async move { rotate(&store, b"t0".into(), b"n0".into(), now, StdDuration::ZERO).await }
    });
    // The family is written, then its first token collides with `t1`: the
    // savepoint must take the family back too.
    let colliding = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .create_refresh_family(
                    user_id,
                    "read",
                    b"t1",
                    later(now),
                    &SessionOrigin::default(),
                )
                .await
        }
    });
    let taken = tokio::spawn({
        let store = store.clone();
        async move { store.create_user(new_user("USER-0@example.com")).await }
    });
    let last = tokio::spawn({
        let store = store.clone();
        async move { rotate(&store, b"t1".into(), b"n1".into(), now, StdDuration::ZERO).await }
    });
    queue_behind_the_writer(&store, queued_before, 4).await;
    drop(held);

    assert!(matches!(
        first.await.unwrap(),
        Ok(RefreshOutcome::Rotated { .. })
    ));
    assert!(matches!(
        colliding.await.unwrap(),
        Err(StoreError::Other(_))
    ));
    assert!(matches!(taken.await.unwrap(), Err(StoreError::EmailTaken)));
    assert!(matches!(
        last.await.unwrap(),
        Ok(RefreshOutcome::Rotated { .. })
    ));
    assert_eq!(counts(&store).0 - commits_before, 1, "one batch");
    assert_eq!(stored(&url, b"n0").await, Some(false));
    assert_eq!(stored(&url, b"n1").await, Some(false));
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let families: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM refresh_families WHERE user_id = ?")
            .bind(user_id.to_string())
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(families, 1, "the failed job's family was rolled back");
}

/// Presents `t0` twice in one batch with the reuse interval `interval`.
async fn twice_in_one_batch(interval: StdDuration) -> Vec<RefreshOutcome> {
    let (_dir, _url, store) = fresh().await;
    let now = Utc::now();
    family(&store, 0, now).await;
    let (commits_before, queued_before) = counts(&store);

    let held = store.writer().acquire().await.unwrap();
    let presentations: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|next| {
            let store = store.clone();
            tokio::spawn(
                async move { rotate(&store, b"t0".into(), next.into(), now, interval).await },
            )
        })
        .collect();
    queue_behind_the_writer(&store, queued_before, 2).await;
    drop(held);

    let mut outcomes = Vec::new();
    for presentation in presentations {
        outcomes.push(presentation.await.unwrap().unwrap());
    }
    assert_eq!(counts(&store).0 - commits_before, 1, "one batch");
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_presentations_of_one_token_in_one_batch_rotate_once_and_the_other_is_reuse() {
    let outcomes = twice_in_one_batch(StdDuration::ZERO).await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Rotated { .. }))
        .count();
    let reused = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Reused { .. }))
        .count();
    assert_eq!((rotated, reused), (1, 1), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_presentations_of_one_token_in_one_batch_rotate_once_and_the_other_repeats() {
    let outcomes = twice_in_one_batch(StdDuration::from_secs(10)).await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Rotated { .. }))
        .count();
    let repeated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Repeated { .. }))
        .count();
    assert_eq!((rotated, repeated), (1, 1), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_is_visible_to_a_new_connection_when_it_returns() {
    const N: usize = 16;
    let (_dir, url, store) = fresh().await;
    let now = Utc::now();
    for i in 0..N {
        family(&store, i, now).await;
    }
    // A pause before each commit: a caller answered before the commit
    // would look in that pause and miss its change.
    *store.batches().pause_before_commit.lock().unwrap() = StdDuration::from_millis(50);
    let rotations: Vec<_> = (0..N)
        .map(|i| {
            let (store, url) = (store.clone(), url.clone());
            tokio::spawn(async move {
                let (presented, next) = (format!("t{i}"), format!("n{i}"));
                let outcome = rotate(
                    &store,
                    presented.clone().into(),
                    next.clone().into(),
                    now,
                    StdDuration::ZERO,
                )
                .await
                .unwrap();
                assert!(matches!(outcome, RefreshOutcome::Rotated { .. }));
                assert_eq!(stored(&url, next.as_bytes()).await, Some(false), "{next}");
                assert_eq!(stored(&url, presented.as_bytes()).await, Some(true));
            })
        })
        .collect();
    for rotation in rotations {
        rotation.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_that_stops_waiting_does_not_stop_its_job_or_the_batch() {
    let (_dir, url, store) = fresh().await;
    let now = Utc::now();
    family(&store, 0, now).await;
    family(&store, 1, now).await;
    let (_, queued_before) = counts(&store);

    let held = store.writer().acquire().await.unwrap();
    let dropped = tokio::spawn({
        let store = store.clone();
        async move { rotate(&store, b"t0".into(), b"n0".into(), now, StdDuration::ZERO).await }
    });
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { rotate(&store, b"t1".into(), b"n1".into(), now, StdDuration::ZERO).await }
    });
    queue_behind_the_writer(&store, queued_before, 2).await;
    dropped.abort();
    assert!(dropped.await.unwrap_err().is_cancelled());
    drop(held);

    assert!(matches!(
        waiting.await.unwrap(),
        Ok(RefreshOutcome::Rotated { .. })
    ));
    assert_eq!(
        stored(&url, b"n0").await,
        Some(false),
        "the job of the caller that left ran to the end"
    );
}
