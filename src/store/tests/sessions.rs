//! Tests of sessions (on both backends): a user's live refresh families,
//! with where they started and when they were last used, and their end by id.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use uuid::Uuid;

use super::{SCOPE, new_user, rotate};
use crate::store::{RefreshOutcome, SessionOrigin, SharedStore, Store, Successor};

/// Now, at the microsecond precision both backends store.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn origin(user_agent: &str, client_addr: &str) -> SessionOrigin {
    SessionOrigin {
        user_agent: Some(user_agent.to_owned()),
        client_addr: Some(client_addr.to_owned()),
    }
}

/// Starts a family for `user_id` holding `token`, valid for a day.
async fn login(store: &dyn Store, user_id: Uuid, token: &[u8], from: &SessionOrigin) -> Uuid {
    store
        .create_refresh_family(user_id, SCOPE, token, now() + TimeDelta::days(1), from)
        .await
        .unwrap()
}

async fn a_users_live_sessions_are_listed_with_their_origin_most_recently_used_first(
    store: SharedStore,
) {
    let ada = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("bob@example.com"))
        .await
        .unwrap();
    let phone = login(&*store, ada.id, b"p0", &origin("Phone/1.0", "192.0.2.7")).await;
    let laptop = login(&*store, ada.id, b"l0", &origin("Laptop/2.0", "2001:db8::1")).await;
    let anonymous = login(&*store, ada.id, b"a0", &SessionOrigin::default()).await;
    login(&*store, bob.id, b"b0", &origin("Bob", "198.51.100.1")).await;
    let logged_out = login(&*store, ada.id, b"o0", &SessionOrigin::default()).await;
    assert!(store.revoke_family_of(b"o0", now()).await.unwrap());
    let expired = store
        .create_refresh_family(ada.id, SCOPE, b"e0", now(), &SessionOrigin::default())
        .await
        .unwrap();
    // The phone refreshes last.
    let refreshed_at = now() + TimeDelta::seconds(5);
    rotate(
        &*store,
        b"p0",
        b"p1",
        refreshed_at + TimeDelta::days(1),
        refreshed_at,
    )
    .await;

    let sessions = store.list_sessions(ada.id, now()).await.unwrap();

    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 3, "{sessions:?}");
    assert_eq!(ids[0], phone, "most recently used first");
    assert!(ids.contains(&laptop) && ids.contains(&anonymous));
    assert!(!ids.contains(&logged_out) && !ids.contains(&expired));
    let phone = &sessions[0];
    assert_eq!(phone.user_agent.as_deref(), Some("Phone/1.0"));
    assert_eq!(phone.client_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(phone.last_used_at, refreshed_at);
    assert!(phone.created_at < phone.last_used_at);
    let laptop = sessions.iter().find(|s| s.id == laptop).unwrap();
    assert_eq!(laptop.client_addr.as_deref(), Some("2001:db8::1"));
    assert_eq!(laptop.last_used_at, laptop.created_at, "a login is a use");
    let anonymous = sessions.iter().find(|s| s.id == anonymous).unwrap();
    assert_eq!(
        (
            anonymous.user_agent.as_deref(),
            anonymous.client_addr.as_deref()
        ),
        (None, None)
    );
}

async fn a_session_is_ended_only_by_its_owner_and_only_while_it_lives(store: SharedStore) {
    let ada = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("bob@example.com"))
        .await
        .unwrap();
    let session = login(&*store, ada.id, b"t0", &SessionOrigin::default()).await;
    let other = login(&*store, ada.id, b"o0", &SessionOrigin::default()).await;
    let at = now();

    assert!(
        !store.revoke_session(bob.id, session, at).await.unwrap(),
        "not Bob's"
    );
    assert!(
        !store
            .revoke_session(ada.id, Uuid::new_v4(), at)
            .await
            .unwrap(),
        "unknown"
    );
    assert!(matches!(
        rotate(&*store, b"t0", b"t1", at + TimeDelta::days(1), at).await,
        RefreshOutcome::Rotated { .. }
    ));

    assert!(store.revoke_session(ada.id, session, at).await.unwrap());

    assert_eq!(
        rotate(&*store, b"t1", b"t2", at + TimeDelta::days(1), at).await,
        RefreshOutcome::Revoked,
        "its newest token stops at once"
    );
    assert!(
        !store.revoke_session(ada.id, session, at).await.unwrap(),
        "already ended"
    );
    let left: Vec<Uuid> = store
        .list_sessions(ada.id, at)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![other]);
    assert!(matches!(
        rotate(&*store, b"o0", b"o1", at + TimeDelta::days(1), at).await,
        RefreshOutcome::Rotated { .. }
    ));
}

async fn an_expired_session_cannot_be_ended(store: SharedStore) {
    let ada = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let at = now();
    let expired = store
        .create_refresh_family(ada.id, SCOPE, b"e0", at, &SessionOrigin::default())
        .await
        .unwrap();

    assert!(!store.revoke_session(ada.id, expired, at).await.unwrap());
}

async fn a_repeat_within_the_reuse_interval_counts_as_a_use(store: SharedStore) {
    let ada = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let session = login(&*store, ada.id, b"t0", &SessionOrigin::default()).await;
    let used = now();
    let offer = |next: &'static [u8], at: DateTime<Utc>| Successor {
        hash: next,
        expires_at: at + TimeDelta::days(1),
        sealed: Some(b"sealed"),
    };
    let interval = std::time::Duration::from_secs(10);
    store
        .rotate_refresh(b"t0", offer(b"t1", used), used, interval)
        .await
        .unwrap();
    let repeated = used + TimeDelta::seconds(3);

    let outcome = store
        .rotate_refresh(b"t0", offer(b"t9", repeated), repeated, interval)
        .await
        .unwrap();

    assert!(
        matches!(outcome, RefreshOutcome::Repeated { .. }),
        "{outcome:?}"
    );
    let listed = store.list_sessions(ada.id, repeated).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].last_used_at), (session, repeated));
}

on_every_backend!(
    a_users_live_sessions_are_listed_with_their_origin_most_recently_used_first,
    a_session_is_ended_only_by_its_owner_and_only_while_it_lives,
    an_expired_session_cannot_be_ended,
    a_repeat_within_the_reuse_interval_counts_as_a_use,
);
