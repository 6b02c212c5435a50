//! Tests of failed-login bookkeeping: counting, the window, locks, clearing,
//! and concurrent failures; attempts taken before the password is checked;
//! the addresses an account logged in from (on both backends).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use crate::config::ThrottlePolicy;
use crate::store::tests::new_user;
use crate::store::{Attempt, SharedStore};

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

/// 3 free attempts, then 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, …
fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        free_attempts: 3,
        base: Duration::from_secs(1),
        max: Duration::from_secs(10),
        window: WINDOW,
    }
}

async fn each_attempt_taken_sets_the_lock_the_policy_gives_for_its_count(store: SharedStore) {
    for policy in [
        policy(),
        ThrottlePolicy::default(),
        ThrottlePolicy {
            free_attempts: 0,
            base: Duration::from_millis(1500),
            ..policy()
        },
    ] {
        let key = format!("login:ada@example.com|{}", policy.free_attempts);
        let mut t = now();
        for count in 1..=policy.free_attempts + policy.doublings_to_max() + 3 {
            let attempt = store.take_throttle_attempt(&key, t, &policy).await.unwrap();
            let expected = policy
                .lock_for(count)
                .map(|lock| t + TimeDelta::from_std(lock).unwrap());
            assert_eq!(
                attempt,
                Attempt::Taken {
                    count,
                    locked_until: expected
                },
                "{policy:?}"
            );
            // The next attempt comes as the lock ends.
            t = expected.unwrap_or(t + TimeDelta::milliseconds(1));
        }
    }
}

async fn an_attempt_during_a_lock_is_refused_and_not_counted(store: SharedStore) {
    let key = "login:ada@example.com|192.0.2.7";
    let t0 = now();
    for _ in 0..3 {
        store
            .take_throttle_attempt(key, t0, &policy())
            .await
            .unwrap();
    }
    let until = t0 + TimeDelta::seconds(1);
    let during = t0 + TimeDelta::milliseconds(999);

    let refused = store
        .take_throttle_attempt(key, during, &policy())
        .await
        .unwrap();

    assert_eq!(refused, Attempt::Refused { until });
    assert_eq!(
        store.throttle_locked_until(key, during).await.unwrap(),
        Some(until)
    );
    let next = store
        .take_throttle_attempt(key, until, &policy())
        .await
        .unwrap();
    assert_eq!(
        next,
        Attempt::Taken {
            count: 4,
            locked_until: Some(until + TimeDelta::seconds(2))
        },
        "the refused attempt did not count"
    );
    store.clear_throttle(key).await.unwrap();
    let fresh = store
        .take_throttle_attempt(key, until, &policy())
        .await
        .unwrap();
    assert_eq!(
        fresh,
        Attempt::Taken {
            count: 1,
            locked_until: None
        }
    );
    let later = until + TimeDelta::from_std(WINDOW).unwrap() + TimeDelta::microseconds(1);
    let after_a_quiet_window = store
        .take_throttle_attempt(key, later, &policy())
        .await
        .unwrap();
    assert_eq!(
        after_a_quiet_window,
        Attempt::Taken {
            count: 1,
            locked_until: None
        }
    );
}

async fn a_released_attempt_no_longer_counts_and_lifts_the_lock_it_started(store: SharedStore) {
    let key = "login-from:192.0.2.7";
    let t0 = now();
    store
        .take_throttle_attempt(key, t0, &policy())
        .await
        .unwrap();
    store
        .take_throttle_attempt(key, t0, &policy())
        .await
        .unwrap();
    let third = store
        .take_throttle_attempt(key, t0, &policy())
        .await
        .unwrap();
    let Attempt::Taken {
        locked_until: Some(lock),
        ..
    } = third
    else {
        panic!("the third attempt locks: {third:?}");
    };

    store
        .release_throttle_attempt(key, Some(lock))
        .await
        .unwrap();
    store
        .release_throttle_attempt("never-seen", None)
        .await
        .unwrap();

    assert_eq!(store.throttle_locked_until(key, t0).await.unwrap(), None);
    let again = store
        .take_throttle_attempt(key, t0, &policy())
        .await
        .unwrap();
    assert_eq!(
        again,
        Attempt::Taken {
            count: 3,
            locked_until: Some(lock)
        }
    );
    // A lock some other attempt started stays.
    store.release_throttle_attempt(key, None).await.unwrap();
    assert_eq!(
        store.throttle_locked_until(key, t0).await.unwrap(),
        Some(lock)
    );
}

async fn of_forty_concurrent_attempts_only_the_free_ones_are_taken(store: SharedStore) {
    let now = now();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .take_throttle_attempt("login:ada@example.com|192.0.2.7", now, &policy())
                    .await
            })
        })
        .collect();
    let mut taken = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Attempt::Taken { count, .. } => taken.push(count),
            Attempt::Refused { until } => {
                assert_eq!(until, now + TimeDelta::seconds(1));
                refused += 1;
            }
        }
    }
    taken.sort_unstable();
    assert_eq!(
        taken,
        vec![1, 2, 3],
        "the third sets the lock the rest meet"
    );
    assert_eq!(refused, 37);
}

async fn a_source_is_known_after_a_login_from_it_for_a_time_and_a_number(store: SharedStore) {
    let user = store
        .create_user(new_user("Ada@Example.com"))
        .await
        .unwrap();
    let t0 = now();
    let long_ago = t0 - TimeDelta::days(90);
    let known = |source: &'static str, since| {
        let store = Arc::clone(&store);
        async move {
            store
                .is_known_login_source("ada@EXAMPLE.com", source, since)
                .await
                .unwrap()
        }
    };
    assert!(!known("192.0.2.7", long_ago).await);

    store
        .remember_login_source(user.id, "192.0.2.7", t0, long_ago, 3)
        .await
        .unwrap();

    assert!(known("192.0.2.7", long_ago).await);
    assert!(known("192.0.2.7", t0).await, "since is inclusive");
    assert!(!known("192.0.2.7", t0 + TimeDelta::microseconds(1)).await);
    assert!(!known("192.0.2.8", long_ago).await);
    let other = store
        .is_known_login_source("bob@example.com", "192.0.2.7", long_ago)
        .await
        .unwrap();
    assert!(!other, "an unknown email knows no source");

    // Three more sources: the least recently used is forgotten.
    for (i, source) in ["2001:db8:1:2::/64", "198.51.100.1", "203.0.113.5"]
        .into_iter()
        .enumerate()
    {
        let at = t0 + TimeDelta::seconds(i as i64 + 1);
        store
            .remember_login_source(user.id, source, at, long_ago, 3)
            .await
            .unwrap();
    }
    assert!(!known("192.0.2.7", long_ago).await, "kept 3 only");
    assert!(known("2001:db8:1:2::/64", long_ago).await);
    assert!(known("203.0.113.5", long_ago).await);

    // A login long after forgets sources older than the cut.
    let much_later = t0 + TimeDelta::days(100);
    store
        .remember_login_source(
            user.id,
            "203.0.113.5",
            much_later,
            t0 + TimeDelta::days(10),
            3,
        )
        .await
        .unwrap();
    assert!(known("203.0.113.5", long_ago).await);
    assert!(!known("198.51.100.1", long_ago).await, "older than the cut");
}

async fn a_login_from_a_known_source_keeps_it_and_forgets_the_least_recent_others(
    store: SharedStore,
) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let t0 = now();
    let long_ago = t0 - TimeDelta::days(90);
    // Three sources, the first the least recently used.
    for (i, source) in ["192.0.2.7", "198.51.100.1", "203.0.113.5"]
        .into_iter()
        .enumerate()
    {
        let at = t0 + TimeDelta::seconds(i as i64);
        store
            .remember_login_source(user.id, source, at, long_ago, 3)
            .await
            .unwrap();
    }

    // A login from the oldest of them, now keeping two: it ranks by its
    // new time, so the one now least recently used goes.
    store
        .remember_login_source(
            user.id,
            "192.0.2.7",
            t0 + TimeDelta::seconds(3),
            long_ago,
            2,
        )
        .await
        .unwrap();

    let known = |source: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .is_known_login_source("ada@example.com", source, long_ago)
                .await
                .unwrap()
        }
    };
    assert!(known("192.0.2.7").await, "the source of this login stays");
    assert!(known("203.0.113.5").await);
    assert!(!known("198.51.100.1").await, "kept 2 only");
    let later = t0 + TimeDelta::seconds(3);
    let since_this_login = store
        .is_known_login_source("ada@example.com", "192.0.2.7", later)
        .await
        .unwrap();
    assert!(since_this_login, "its last login moved up");
}

on_every_backend!(
    failures_are_counted_per_key,
    a_failure_after_a_quiet_window_starts_the_count_again,
    a_lock_holds_until_its_end_and_is_never_shortened,
    clearing_a_key_forgets_its_failures_and_its_lock,
    twenty_concurrent_failures_for_one_key_count_one_to_twenty,
    each_attempt_taken_sets_the_lock_the_policy_gives_for_its_count,
    an_attempt_during_a_lock_is_refused_and_not_counted,
    of_forty_concurrent_attempts_only_the_free_ones_are_taken,
    a_released_attempt_no_longer_counts_and_lifts_the_lock_it_started,
    a_source_is_known_after_a_login_from_it_for_a_time_and_a_number,
    a_login_from_a_known_source_keeps_it_and_forgets_the_least_recent_others,
);
