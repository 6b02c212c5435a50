//! Tests of user accounts: creation, lookup, listing, updates (on both
//! backends).

use chrono::Utc;
use uuid::Uuid;

use super::new_user;
use crate::store::{SharedStore, StoreError, User, UserPatch};

async fn a_created_user_is_found_by_email_in_any_case_and_by_id(store: SharedStore) {
    let created = store
        .create_user(new_user("Ada@Example.COM"))
        .await
        .unwrap();
    assert_eq!(created.email, "Ada@Example.COM");
    assert!(!created.disabled);

    let by_email = store.user_by_email("aDA@example.com").await.unwrap();
    assert_eq!(by_email.as_ref(), Some(&created));
    let by_id = store.user_by_id(created.id).await.unwrap();
    assert_eq!(by_id, Some(created));
    assert_eq!(store.user_by_email("bob@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_id(Uuid::new_v4()).await.unwrap(), None);
}

async fn an_email_differing_only_in_case_is_already_taken(store: SharedStore) {
    store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let err = store
        .create_user(new_user("ADA@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
    assert_eq!(err.to_string(), "email already registered");
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn users_are_listed_by_creation_time_with_limit_and_offset(store: SharedStore) {
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            store
                .create_user(new_user(&format!("u{i}@x.org")))
                .await
                .unwrap(),
        );
    }
    created.sort_by_key(|u| (u.created_at, u.id));

    assert_eq!(store.count_users().await.unwrap(), 5);
    assert_eq!(store.list_users(10, 0).await.unwrap(), created);
    assert_eq!(
        store.list_users(2, 1).await.unwrap(),
        created[1..3].to_vec()
    );
    assert_eq!(
        store.list_users(10, 4).await.unwrap(),
        created[4..].to_vec()
    );
    assert!(store.list_users(10, 5).await.unwrap().is_empty());
    assert!(store.list_users(0, 0).await.unwrap().is_empty());
}

async fn updating_a_user_changes_only_the_given_fields(store: SharedStore) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();

    let patch = UserPatch {
        scopes: Some(vec!["admin".to_owned()]),
        disabled: None,
    };
    let updated = store.update_user(user.id, patch).await.unwrap().unwrap();
    assert_eq!(updated.scopes, vec!["admin".to_owned()]);
    assert!(!updated.disabled);
    assert_eq!(updated.created_at, user.created_at);

    let unchanged = store
        .update_user(user.id, UserPatch::default())
        .await
        .unwrap();
    assert_eq!(unchanged, Some(updated));
    let unknown = store
        .update_user(Uuid::new_v4(), UserPatch::default())
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

on_every_backend!(
    a_created_user_is_found_by_email_in_any_case_and_by_id,
    an_email_differing_only_in_case_is_already_taken,
    users_are_listed_by_creation_time_with_limit_and_offset,
    updating_a_user_changes_only_the_given_fields,
);

#[test]
fn debug_output_never_shows_the_password_hash() {
    let new = new_user("ada@example.com");
    let printed = format!("{new:?}");
    assert!(
        printed.contains("<redacted>") && !printed.contains("argon2"),
        "{printed}"
    );
    let user = User {
        id: Uuid::nil(),
        email: new.email,
        name: new.name,
        password_hash: new.password_hash,
        scopes: new.scopes,
        disabled: false,
        created_at: Utc::now(),
    };
    let printed = format!("{user:?}");
    assert!(
        printed.contains("<redacted>") && !printed.contains("argon2"),
        "{printed}"
    );
}
