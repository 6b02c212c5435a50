//! Tests of revoked access tokens and of the read-only look at a refresh
//! token (on both backends).

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use super::{SCOPE, later, rotate, user_with_family};
use crate::store::SharedStore;

/// Now, at the microsecond precision both backends store.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn a_revoked_jti_is_found_and_revoking_it_again_is_harmless(store: SharedStore) {
    let now = now();
    assert!(!store.is_access_token_revoked("jti-1").await.unwrap());

    store
        .revoke_access_token("jti-1", now + TimeDelta::minutes(15))
        .await
        .unwrap();
    store
        .revoke_access_token("jti-1", now + TimeDelta::minutes(5))
        .await
        .unwrap();

    assert!(store.is_access_token_revoked("jti-1").await.unwrap());
    assert!(!store.is_access_token_revoked("jti-2").await.unwrap());
    let purged = store
        .purge_expired(now + TimeDelta::minutes(10), now, now)
        .await
        .unwrap();
    assert_eq!(
        purged.revoked_access_tokens, 0,
        "the second revocation did not shorten the first"
    );
}

async fn purge_removes_revocations_of_expired_tokens_and_keeps_live_ones(store: SharedStore) {
    let now = now();
    store
        .revoke_access_token("old", now - TimeDelta::hours(2))
        .await
        .unwrap();
    store
        .revoke_access_token("live", now + TimeDelta::minutes(15))
        .await
        .unwrap();

    let purged = store
        .purge_expired(now - TimeDelta::hours(1), now, now)
        .await
        .unwrap();

    assert_eq!(purged.revoked_access_tokens, 1);
    assert!(!store.is_access_token_revoked("old").await.unwrap());
    assert!(store.is_access_token_revoked("live").await.unwrap());
}

async fn a_user_is_found_for_a_live_token_and_not_for_a_revoked_one(store: SharedStore) {
    let now = now();
    let (user, _) = user_with_family(store.as_ref(), now).await;
    store
        .revoke_access_token("revoked", now + TimeDelta::minutes(15))
        .await
        .unwrap();

    let live = store.user_unless_revoked(user, "live").await.unwrap();
    let revoked = store.user_unless_revoked(user, "revoked").await.unwrap();
    let unknown = store
        .user_unless_revoked(uuid::Uuid::new_v4(), "live")
        .await
        .unwrap();

    assert_eq!(live.map(|u| u.id), Some(user));
    assert!(revoked.is_none(), "a revoked token has no user");
    assert!(unknown.is_none());
}

async fn a_refresh_token_is_read_without_being_used_up(store: SharedStore) {
    let now = now();
    let (user, family) = user_with_family(store.as_ref(), now).await;

    let state = store.refresh_token_state(b"t0").await.unwrap().unwrap();

    assert_eq!(state.user_id, user);
    assert_eq!(state.family_id, family);
    assert_eq!(state.scope, SCOPE);
    assert_eq!(state.expires_at, later(now));
    assert!(!state.used && !state.family_revoked && !state.owner_disabled);
    assert!(store.refresh_token_state(b"nope").await.unwrap().is_none());
    rotate(store.as_ref(), b"t0", b"t1", later(now), now).await;
    let used = store.refresh_token_state(b"t0").await.unwrap().unwrap();
    assert!(used.used, "rotation used the first token up, not the look");
    store.revoke_family_of(b"t1", now).await.unwrap();
    let revoked = store.refresh_token_state(b"t1").await.unwrap().unwrap();
    assert!(revoked.family_revoked && !revoked.used);
}

on_every_backend!(
    a_revoked_jti_is_found_and_revoking_it_again_is_harmless,
    purge_removes_revocations_of_expired_tokens_and_keeps_live_ones,
    a_refresh_token_is_read_without_being_used_up,
    a_user_is_found_for_a_live_token_and_not_for_a_revoked_one,
);
