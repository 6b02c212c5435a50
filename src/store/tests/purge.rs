//! Tests of housekeeping: what `purge_expired` deletes and what it must keep
//! (on both backends).

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use super::{new_user, rotate, user_with_family};
use crate::store::{RefreshOutcome, SessionOrigin, SharedStore};

/// Now, at the microsecond precision both backends store.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

const WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

async fn a_family_whose_every_token_expired_is_deleted_and_a_live_one_is_kept(store: SharedStore) {
    let now = now();
    let (live_user, _live_family) = user_with_family(store.as_ref(), now).await;
    let other = store
        .create_user(new_user("bob@example.com"))
        .await
        .unwrap();
    store
        .create_refresh_family(
            other.id,
            "read",
            b"old",
            now - TimeDelta::hours(2),
            &SessionOrigin::default(),
        )
        .await
        .unwrap();

    let purged = store
        .purge_expired(now - TimeDelta::hours(1), now, now)
        .await
        .unwrap();

    assert_eq!(purged.refresh_families, 1);
    assert_eq!(
        rotate(
            store.as_ref(),
            b"old",
            b"old2",
            now + TimeDelta::days(1),
            now
        )
        .await,
        RefreshOutcome::Unknown,
        "the expired family is gone"
    );
    assert!(
        matches!(
            rotate(store.as_ref(), b"t0", b"t1", now + TimeDelta::days(1), now).await,
            RefreshOutcome::Rotated { user_id, .. } if user_id == live_user
        ),
        "the live family still rotates"
    );
}

async fn a_family_that_expired_inside_the_margin_is_kept(store: SharedStore) {
    let now = now();
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    store
        .create_refresh_family(
            user.id,
            "read",
            b"recent",
            now - TimeDelta::minutes(5),
            &SessionOrigin::default(),
        )
        .await
        .unwrap();

    let purged = store
        .purge_expired(now - TimeDelta::hours(1), now, now)
        .await
        .unwrap();

    assert_eq!(purged.refresh_families, 0);
    assert_eq!(
        rotate(
            store.as_ref(),
            b"recent",
            b"r2",
            now + TimeDelta::days(1),
            now
        )
        .await,
        RefreshOutcome::Expired
    );
}

async fn quiet_unlocked_throttle_rows_are_deleted_and_active_or_locked_ones_kept(
    store: SharedStore,
) {
    let now = now();
    let long_ago = now - TimeDelta::hours(2);
    store
        .record_throttle_event("quiet", long_ago, WINDOW)
        .await
        .unwrap();
    store
        .record_throttle_event("quiet-but-locked", long_ago, WINDOW)
        .await
        .unwrap();
    store
        .throttle_lock("quiet-but-locked", now + TimeDelta::minutes(5))
        .await
        .unwrap();
    store
        .record_throttle_event("recent", now, WINDOW)
        .await
        .unwrap();

    let purged = store
        .purge_expired(now - TimeDelta::hours(1), now, now - TimeDelta::hours(1))
        .await
        .unwrap();

    assert_eq!(purged.throttle_rows, 1);
    let count = |key: &'static str| store.record_throttle_event(key, now, WINDOW);
    assert_eq!(
        count("quiet").await.unwrap(),
        1,
        "a purged key starts again"
    );
    assert!(
        store
            .throttle_locked_until("quiet-but-locked", now)
            .await
            .unwrap()
            .is_some(),
        "a running lock is kept"
    );
    assert_eq!(count("recent").await.unwrap(), 2, "a recent run is kept");
}

on_every_backend!(
    a_family_whose_every_token_expired_is_deleted_and_a_live_one_is_kept,
    a_family_that_expired_inside_the_margin_is_kept,
    quiet_unlocked_throttle_rows_are_deleted_and_active_or_locked_ones_kept,
);
