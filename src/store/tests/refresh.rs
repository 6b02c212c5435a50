//! Tests of refresh-token families: rotation, reuse, expiry, revocation (on
//! both backends).

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{later, new_user, rotate, rotated, user_with_family};
use crate::store::{RefreshOutcome, SessionOrigin, SharedStore, StoreError, UserPatch};

async fn disabling_a_user_revokes_its_refresh_families(store: SharedStore) {
    let now = Utc::now();
    let (user_id, _family) = user_with_family(&*store, now).await;

    let patch = UserPatch {
        scopes: None,
        disabled: Some(true),
    };
    let updated = store.update_user(user_id, patch).await.unwrap().unwrap();
    assert!(updated.disabled);
    let outcome = rotate(&*store, b"t0", b"t1", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Revoked);

    // Re-enabling does not bring old families back.
    let patch = UserPatch {
        scopes: None,
        disabled: Some(false),
    };
    store.update_user(user_id, patch).await.unwrap().unwrap();
    let outcome = rotate(&*store, b"t0", b"t1", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Revoked);
}

async fn a_rotated_token_presented_again_is_reused_and_revokes_its_family(store: SharedStore) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;

    let first = rotate(&*store, b"t0", b"t1", later(now), now).await;
    assert_eq!(first, rotated(user_id, family_id));
    let second = rotate(&*store, b"t1", b"t2", later(now), now).await;
    assert_eq!(second, rotated(user_id, family_id));

    let replay = rotate(&*store, b"t0", b"t9", later(now), now).await;
    assert_eq!(replay, RefreshOutcome::Reused { user_id, family_id });
    let newest = rotate(&*store, b"t2", b"t3", later(now), now).await;
    assert_eq!(newest, RefreshOutcome::Revoked);
    let replay = rotate(&*store, b"t0", b"t9", later(now), now).await;
    assert_eq!(replay, RefreshOutcome::Revoked);
}

async fn an_expired_token_is_reported_as_expired_and_stays_usable_for_nothing(store: SharedStore) {
    let now = Utc::now();
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    store
        .create_refresh_family(user.id, "read", b"old", now, &SessionOrigin::default())
        .await
        .unwrap();

    let outcome = rotate(&*store, b"old", b"new", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Expired);
    let outcome = rotate(&*store, b"new", b"x", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Unknown);
}

async fn an_unknown_token_is_reported_as_unknown(store: SharedStore) {
    let now = Utc::now();
    user_with_family(&*store, now).await;
    let outcome = rotate(&*store, b"nope", b"t1", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Unknown);
    assert!(!store.revoke_family_of(b"nope", now).await.unwrap());
}

async fn twenty_concurrent_rotations_of_one_token_rotate_exactly_once(store: SharedStore) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;

    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { rotate(&*store, b"t0", &[b'n', i], later(now), now).await })
        })
        .collect();
    let (mut winners, mut reused, mut revoked) = (Vec::new(), 0, 0);
    for (i, task) in (0..20u8).zip(tasks) {
        match task.await.unwrap() {
            outcome @ RefreshOutcome::Rotated { .. } => {
                assert_eq!(outcome, rotated(user_id, family_id));
                winners.push(i);
            }
            RefreshOutcome::Reused { .. } => reused += 1,
            RefreshOutcome::Revoked => revoked += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    // One rotates; the next sees a used-up token and revokes the family; the
    // rest find it revoked, and so does the winner's successor.
    assert_eq!((winners.len(), reused, revoked), (1, 1, 18));
    let successor = rotate(&*store, &[b'n', winners[0]], b"x", later(now), now).await;
    assert_eq!(successor, RefreshOutcome::Revoked);
}

async fn logging_out_revokes_the_whole_family_of_the_token(store: SharedStore) {
    let now = Utc::now();
    let (user_id, family_id) = user_with_family(&*store, now).await;
    let other = store
        .create_refresh_family(user_id, "", b"o0", later(now), &SessionOrigin::default())
        .await
        .unwrap();
    assert_ne!(other, family_id);
    rotate(&*store, b"t0", b"t1", later(now), now).await;

    assert!(store.revoke_family_of(b"t0", now).await.unwrap());
    assert!(store.revoke_family_of(b"t1", now).await.unwrap());
    let outcome = rotate(&*store, b"t1", b"t2", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Revoked);
    let outcome = rotate(&*store, b"o0", b"o1", later(now), now).await;
    assert_eq!(
        outcome,
        RefreshOutcome::Rotated {
            user_id,
            family_id: other,
            scope: String::new(),
        }
    );

    store.revoke_user_families(user_id, now).await.unwrap();
    let outcome = rotate(&*store, b"o1", b"o2", later(now), now).await;
    assert_eq!(outcome, RefreshOutcome::Revoked);
}

async fn a_family_for_an_unknown_user_is_refused(store: SharedStore) {
    let err = store
        .create_refresh_family(
            Uuid::new_v4(),
            "read",
            b"t0",
            later(Utc::now()),
            &SessionOrigin::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert_eq!(err.to_string(), "database error");
}

on_every_backend!(
    disabling_a_user_revokes_its_refresh_families,
    a_rotated_token_presented_again_is_reused_and_revokes_its_family,
    an_expired_token_is_reported_as_expired_and_stays_usable_for_nothing,
    an_unknown_token_is_reported_as_unknown,
    twenty_concurrent_rotations_of_one_token_rotate_exactly_once,
    logging_out_revokes_the_whole_family_of_the_token,
    a_family_for_an_unknown_user_is_refused,
);
