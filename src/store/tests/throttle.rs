//! Tests of failed-login bookkeeping: counting, the window, locks, clearing,
//! and concurrent failures (on both backends).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use crate::store::SharedStore;

const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Now, at the microsecond precision both backends store.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn failures_are_counted_per_key(store: SharedStore) {
    let now = now();
    for expected in 1..=3 {
        let count = store
            .record_throttle_event("ada@example.com", now, WINDOW)
            .await
            .unwrap();
        assert_eq!(count, expected);
    }
    let other = store
        .record_throttle_event("bob@example.com", now, WINDOW)
        .await
        .unwrap();
    assert_eq!(other, 1);
}

async fn a_failure_after_a_quiet_window_starts_the_count_again(store: SharedStore) {
    let key = "ada@example.com";
    let t0 = now();
    let window = TimeDelta::from_std(WINDOW).unwrap();
    let at = |t| store.record_throttle_event(key, t, WINDOW);

    assert_eq!(at(t0).await.unwrap(), 1);
    // Exactly one window after the previous failure still counts.
    let t1 = t0 + window;
    assert_eq!(at(t1).await.unwrap(), 2);
    // A late, out-of-order report counts but does not move the run's end
    // back: one microsecond past t1 is more than a window after t0 only.
    assert_eq!(at(t0).await.unwrap(), 3);
    let t2 = t1 + TimeDelta::microseconds(1);
    assert_eq!(at(t2).await.unwrap(), 4);
    // A microsecond more than a window after the last failure starts anew.
    let t3 = t2 + window + TimeDelta::microseconds(1);
    assert_eq!(at(t3).await.unwrap(), 1);
    assert_eq!(at(t3 + TimeDelta::seconds(1)).await.unwrap(), 2);
}

async fn a_lock_holds_until_its_end_and_is_never_shortened(store: SharedStore) {
    let key = "ada@example.com";
    let now = now();
    let until = now + TimeDelta::minutes(10);
    assert_eq!(store.throttle_locked_until(key, now).await.unwrap(), None);

    store.throttle_lock(key, until).await.unwrap();
    assert_eq!(
        store.throttle_locked_until(key, now).await.unwrap(),
        Some(until)
    );
    let just_before = until - TimeDelta::microseconds(1);
    let locked = store.throttle_locked_until(key, just_before).await.unwrap();
    assert_eq!(locked, Some(until));
    assert_eq!(store.throttle_locked_until(key, until).await.unwrap(), None);
    let other = store
        .throttle_locked_until("bob@example.com", now)
        .await
        .unwrap();
    assert_eq!(other, None);

    store
        .throttle_lock(key, now + TimeDelta::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        store.throttle_locked_until(key, now).await.unwrap(),
        Some(until)
    );
    let longer = now + TimeDelta::hours(1);
    store.throttle_lock(key, longer).await.unwrap();
    assert_eq!(
        store.throttle_locked_until(key, now).await.unwrap(),
        Some(longer)
    );

    // A key that was locked before it ever failed counts from 1.
    let count = store.record_throttle_event(key, now, WINDOW).await.unwrap();
    assert_eq!(count, 1);
}

async fn clearing_a_key_forgets_its_failures_and_its_lock(store: SharedStore) {
    let key = "ada@example.com";
    let now = now();
    store.record_throttle_event(key, now, WINDOW).await.unwrap();
    store.record_throttle_event(key, now, WINDOW).await.unwrap();
    store
        .throttle_lock(key, now + TimeDelta::minutes(5))
        .await
        .unwrap();
    store
        .record_throttle_event("bob@example.com", now, WINDOW)
        .await
        .unwrap();

    store.clear_throttle(key).await.unwrap();
    store.clear_throttle("never@example.com").await.unwrap();

    assert_eq!(store.throttle_locked_until(key, now).await.unwrap(), None);
    let count = store.record_throttle_event(key, now, WINDOW).await.unwrap();
    assert_eq!(count, 1);
    let bob = store
        .record_throttle_event("bob@example.com", now, WINDOW)
        .await
        .unwrap();
    assert_eq!(bob, 2, "other keys are left alone");
}

async fn twenty_concurrent_failures_for_one_key_count_one_to_twenty(store: SharedStore) {
    let now = now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_throttle_event("ada@example.com", now, WINDOW)
                    .await
            })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
}

on_every_backend!(
    failures_are_counted_per_key,
    a_failure_after_a_quiet_window_starts_the_count_again,
    a_lock_holds_until_its_end_and_is_never_shortened,
    clearing_a_key_forgets_its_failures_and_its_lock,
    twenty_concurrent_failures_for_one_key_count_one_to_twenty,
);
