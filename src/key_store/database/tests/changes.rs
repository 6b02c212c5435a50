//! The version every commit bumps and the notifications that carry it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_bumps_the_version_once() {
    let Some(fx) = Fixture::new("every_committed_change_bumps_the_version_once").await else {
        return;
    };
    let keys = fx.keys(1, None);
    assert_eq!(keys.version().await.unwrap(), 0);
    let bad_bits = keys.load_or_init(Algorithm::Rs256, 1024).await.unwrap_err();
    assert!(
        matches!(bad_bits, KeyError::UnsupportedRsaBits(1024)),
        "{bad_bits:?}"
    );
    assert_eq!(
        keys.version().await.unwrap(),
        0,
        "a refused first start writes nothing"
    );
    keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 1);
    keys.load().await.unwrap();
    keys.list().await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 1, "reads write nothing");
    let rotation = keys.rotate(options(Duration::ZERO)).await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 2);
    keys.import(key_aged(KeyState::Next, HOUR)).await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 3);
    let pruned = keys.prune(GRACE, Utc::now() + HOUR * 2).await.unwrap();
    assert_eq!(pruned, vec![rotation.retired]);
    assert_eq!(keys.version().await.unwrap(), 4);
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_key_set")
        .fetch_one(fx.store.pool())
        .await
        .unwrap();
    assert_eq!(versions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_hears_the_version_of_each_committed_change() {
    let Some(fx) = Fixture::new("a_listener_hears_the_version_of_each_committed_change").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    let mut changes = keys.listen().await.unwrap();
    let listeners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'sigil-key-listener'",
    )
    .fetch_one(fx.store.pool())
    .await
    .unwrap();
    assert_eq!(
        listeners, 1,
        "the listener has a connection of its own, named"
    );

    let other = fx.keys(1, None);
    other.rotate(options(Duration::ZERO)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a notification within the wait")
        .unwrap();
    assert_eq!(heard, Some(other.version().await.unwrap()));

    // A refused change commits nothing and notifies nobody; the next
    // notification is the next commit's.
    other.rotate(options(MAX_AGE)).await.unwrap_err();
    other.import(key_aged(KeyState::Next, HOUR)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a notification within the wait")
        .unwrap();
    assert_eq!(heard, Some(other.version().await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_is_killed_says_so_and_listens_again() {
    let Some(fx) =
        Fixture::new("a_listener_whose_connection_is_killed_says_so_and_listens_again").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    let mut changes = keys.listen().await.unwrap();
    fx.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'sigil-key-listener'",
    )
    .await;

    let lost = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("the loss is noticed within the wait");
    assert_eq!(lost.unwrap(), None, "lost and listening again: re-read");

    keys.rotate(options(Duration::ZERO)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a notification within the wait")
        .unwrap();
    assert_eq!(heard, Some(keys.version().await.unwrap()));
}
