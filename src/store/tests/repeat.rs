//! Tests of the refresh reuse interval (on both backends): a repeat within it
//! gets the same sealed successor and the family never branches; after it,
//! or once the successor was used, a repeat is reuse.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{later, rotate, rotated, user_with_family};
use crate::store::{RefreshOutcome, SealedSuccessor, SharedStore, Store, Successor};

const INTERVAL: Duration = Duration::from_secs(10);

/// Presents `presented` at `now` with the reuse interval on, offering `next`
/// sealed as `sealed` as its successor.
async fn present(
    store: &dyn Store,
    presented: &[u8],
    next: &[u8],
    sealed: &[u8],
    now: DateTime<Utc>,
) -> RefreshOutcome {
    let successor = Successor {
        hash: next,
        expires_at: later(now),
        sealed: Some(sealed),
    };
    store
        .rotate_refresh(presented, successor, now, INTERVAL)
        .await
        .unwrap()
}

async fn a_token_presented_again_within_the_interval_gets_the_same_sealed_successor(
    store: SharedStore,
) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;
    let first = present(&*store, b"t0", b"t1", b"sealed t1", now).await;
    assert_eq!(first, rotated(user_id, family_id));

    let again = now + TimeDelta::seconds(9);
    let repeat = present(&*store, b"t0", b"t9", b"sealed t9", again).await;

    assert_eq!(
        repeat,
        RefreshOutcome::Repeated {
            user_id,
            family_id,
            scope: super::SCOPE.to_owned(),
            sealed_successor: SealedSuccessor(b"sealed t1".to_vec()),
        }
    );
    assert_eq!(
        rotate(&*store, b"t9", b"x", later(now), again).await,
        RefreshOutcome::Unknown,
        "a repeat stores nothing new"
    );
    assert_eq!(
        rotate(&*store, b"t1", b"t2", later(now), again).await,
        rotated(user_id, family_id),
        "the one successor still works"
    );
}

async fn twenty_concurrent_presentations_within_the_interval_leave_one_successor(
    store: SharedStore,
) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;

    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { present(&*store, b"t0", &[b'n', i], &[b's', i], now).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut handed_back = Vec::new();
    for (i, task) in (0..20u8).zip(tasks) {
        match task.await.unwrap() {
            outcome @ RefreshOutcome::Rotated { .. } => {
                assert_eq!(outcome, rotated(user_id, family_id));
                winners.push(i);
            }
            RefreshOutcome::Repeated {
                sealed_successor, ..
            } => handed_back.push(sealed_successor),
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    assert_eq!(winners.len(), 1, "exactly one rotates");
    let winner = winners[0];
    assert_eq!(handed_back.len(), 19);
    assert!(
        handed_back
            .iter()
            .all(|s| *s == SealedSuccessor(vec![b's', winner])),
        "every repeat gets the winner's successor"
    );
    for i in (0..20u8).filter(|i| *i != winner) {
        assert_eq!(
            rotate(&*store, &[b'n', i], b"x", later(now), now).await,
            RefreshOutcome::Unknown,
            "no branch for {i}"
        );
    }
    assert_eq!(
        rotate(&*store, &[b'n', winner], b"next", later(now), now).await,
        rotated(user_id, family_id)
    );
}

async fn a_token_presented_again_once_the_interval_is_over_is_reuse_and_revokes_the_family(
    store: SharedStore,
) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;
    present(&*store, b"t0", b"t1", b"sealed t1", now).await;

    let after = now + TimeDelta::from_std(INTERVAL).unwrap();
    let late = present(&*store, b"t0", b"t9", b"sealed t9", after).await;

    assert_eq!(late, RefreshOutcome::Reused { user_id, family_id });
    assert_eq!(
        rotate(&*store, b"t1", b"t2", later(now), after).await,
        RefreshOutcome::Revoked,
        "the successor died with its family"
    );
}

async fn a_repeat_after_the_successor_was_used_is_reuse(store: SharedStore) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;
    present(&*store, b"t0", b"t1", b"sealed t1", now).await;
    present(&*store, b"t1", b"t2", b"sealed t2", now).await;

    let moved_on = present(&*store, b"t0", b"t9", b"sealed t9", now).await;

    assert_eq!(moved_on, RefreshOutcome::Reused { user_id, family_id });
    assert_eq!(
        rotate(&*store, b"t2", b"t3", later(now), now).await,
        RefreshOutcome::Revoked
    );
}

async fn a_token_used_up_with_the_interval_off_is_reuse_when_presented_again(store: SharedStore) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;
    // Used up while repeats were off: nothing was sealed.
    rotate(&*store, b"t0", b"t1", later(now), now).await;

    let repeat = present(&*store, b"t0", b"t9", b"sealed t9", now).await;

    assert_eq!(repeat, RefreshOutcome::Reused { user_id, family_id });
}

async fn with_the_interval_at_zero_a_sealed_repeat_is_still_reuse(store: SharedStore) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;
    present(&*store, b"t0", b"t1", b"sealed t1", now).await;

    let strict = rotate(&*store, b"t0", b"t9", later(now), now).await;

    assert_eq!(strict, RefreshOutcome::Reused { user_id, family_id });
}

on_every_backend!(
    a_token_presented_again_within_the_interval_gets_the_same_sealed_successor,
    twenty_concurrent_presentations_within_the_interval_leave_one_successor,
    a_token_presented_again_once_the_interval_is_over_is_reuse_and_revokes_the_family,
    a_repeat_after_the_successor_was_used_is_reuse,
    a_token_used_up_with_the_interval_off_is_reuse_when_presented_again,
    with_the_interval_at_zero_a_sealed_repeat_is_still_reuse,
);
