//! Tests of what is kept of used-up refresh tokens (on both backends): a
//! chain keeps the rows that can still detect reuse (used up, not yet
//! expired) and loses the rest as it rotates and in `purge_expired`; a
//! used-up token past its own expiry is refused as expired, revoking
//! nothing, whether its row is still there or not.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use super::{rotate, user_with_family};
use crate::store::{RefreshOutcome, SharedStore};

/// Now, at the microsecond precision both backends store.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The hash stored for the `i`-th token of a test chain (`t0` is the one
/// [`user_with_family`] starts with).
fn token(i: usize) -> Vec<u8> {
    format!("t{i}").into_bytes()
}

/// Whether the store still holds the token with hash `hash`.
async fn held(store: &SharedStore, hash: &[u8]) -> bool {
    store.refresh_token_state(hash).await.unwrap().is_some()
}

async fn a_chain_keeps_the_used_tokens_of_the_last_lifetime_and_only_those(store: SharedStore) {
    // One rotation a second, each token living TTL: after STEPS rotations,
    // the tokens used more than TTL plus the clock allowance ago are gone.
    const STEPS: usize = 60;
    let ttl = TimeDelta::seconds(10);
    let start = now();
    let (user_id, family_id) = user_with_family(store.as_ref(), start).await;
    // `t0` expires in 30 days (the helper's family); every later token TTL
    // after it was made.
    for i in 0..STEPS {
        let at = start + TimeDelta::seconds(i as i64);
        let outcome = rotate(store.as_ref(), &token(i), &token(i + 1), at + ttl, at).await;
        assert!(
            matches!(outcome, RefreshOutcome::Rotated { .. }),
            "{i}: {outcome:?}"
        );
    }
    let last = start + TimeDelta::seconds(STEPS as i64 - 1);

    let mut kept = Vec::new();
    for i in 1..=STEPS {
        if held(&store, &token(i)).await {
            kept.push(i);
        }
    }

    // Token i (i ≥ 1) was made at second i - 1 and expired at i - 1 + TTL;
    // at the last rotation, those expired over the allowance (2 s) ago are
    // gone, and all the others, used or not, are kept.
    let expected: Vec<usize> = (1..=STEPS)
        .filter(|i| (*i as i64 - 1) + 10 + 2 >= STEPS as i64 - 1)
        .collect();
    assert_eq!(kept, expected, "tokens held after {STEPS} rotations");
    assert!(held(&store, &token(0)).await, "t0 has not expired");
    // The oldest kept, within the allowance, is refused as expired; the
    // oldest used-up token not yet expired (made at second 50, expiring at
    // 60) still detects reuse and ends the family.
    assert_eq!(
        rotate(store.as_ref(), &token(expected[0]), b"x", last + ttl, last).await,
        RefreshOutcome::Expired
    );
    assert_eq!(
        rotate(store.as_ref(), &token(51), b"x", last + ttl, last).await,
        RefreshOutcome::Reused { user_id, family_id }
    );
}

async fn a_used_up_token_past_its_expiry_is_expired_and_revokes_nothing(store: SharedStore) {
    let now = now();
    let (user_id, family_id) = user_with_family(store.as_ref(), now).await;
    let ttl = TimeDelta::seconds(10);
    rotate(store.as_ref(), b"t0", b"t1", now + ttl, now).await;
    let outcome = rotate(store.as_ref(), b"t1", b"t2", now + ttl, now).await;
    assert!(
        matches!(outcome, RefreshOutcome::Rotated { .. }),
        "{outcome:?}"
    );
    let later = now + ttl;

    // t1 (used up, expired at `later`) is still stored: within the allowance.
    assert!(held(&store, b"t1").await);
    assert_eq!(
        rotate(store.as_ref(), b"t1", b"x", later + ttl, later).await,
        RefreshOutcome::Expired
    );
    // Before its expiry it was reuse; the family is untouched by the late one.
    let t2 = rotate(
        store.as_ref(),
        b"t2",
        b"t3",
        later + ttl,
        later - TimeDelta::seconds(1),
    )
    .await;
    assert_eq!(
        t2,
        RefreshOutcome::Rotated {
            user_id,
            family_id,
            scope: super::SCOPE.to_owned()
        }
    );
}

async fn purge_expired_deletes_spent_tokens_of_live_families_and_keeps_the_rest(
    store: SharedStore,
) {
    let now = now();
    user_with_family(store.as_ref(), now).await;
    let old = now - TimeDelta::hours(3);
    // Three hours ago: t0 (expires in 30 days) → t1 (expired two hours ago)
    // → t2 (expired ninety minutes ago) → t3, the live token. t1 is spent;
    // t2 is used up and expired but its successor is unused.
    rotate(store.as_ref(), b"t0", b"t1", now - TimeDelta::hours(2), old).await;
    rotate(
        store.as_ref(),
        b"t1",
        b"t2",
        now - TimeDelta::minutes(90),
        old,
    )
    .await;
    rotate(store.as_ref(), b"t2", b"t3", now + TimeDelta::days(1), old).await;

    let purged = store
        .purge_expired(now - TimeDelta::hours(1), now, now)
        .await
        .unwrap();

    assert_eq!(purged.spent_refresh_tokens, 1, "{purged:?}");
    assert_eq!(purged.refresh_families, 0, "{purged:?}");
    assert!(!held(&store, b"t1").await, "t1 was spent");
    assert!(
        held(&store, b"t0").await,
        "t0 is used up but has not expired"
    );
    assert!(held(&store, b"t2").await, "t2's successor is unused");
    assert!(held(&store, b"t3").await, "t3 is the live token");
    assert!(matches!(
        rotate(store.as_ref(), b"t3", b"t4", now + TimeDelta::days(1), now).await,
        RefreshOutcome::Rotated { .. }
    ));
}

on_every_backend!(
    a_chain_keeps_the_used_tokens_of_the_last_lifetime_and_only_those,
    a_used_up_token_past_its_expiry_is_expired_and_revokes_nothing,
    purge_expired_deletes_spent_tokens_of_live_families_and_keeps_the_rest,
);
