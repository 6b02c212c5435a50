//! Behaviour tests of the store, run against the SQLite backend on a fresh
//! temporary database file each.

use chrono::{DateTime, Duration, Utc};
use tempfile::TempDir;
use uuid::Uuid;

use super::{NewUser, RefreshOutcome, SqliteStore, Store};

mod lifecycle;
mod refresh;
mod users;

/// A store on a new database file inside a not-yet-existing subdirectory.
async fn fresh() -> (TempDir, String, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested/sigil.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    (dir, url, store)
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        name: "Ada Lovelace".to_owned(),
        password_hash: "$argon2id$v=19$secret".to_owned(),
        scopes: vec!["read".to_owned(), "write:all".to_owned()],
    }
}

fn later(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(30)
}

/// The scope granted to families made by [`user_with_family`].
const SCOPE: &str = "read write:all";

/// What a successful rotation in a [`user_with_family`] family returns.
fn rotated(user_id: Uuid, family_id: Uuid) -> RefreshOutcome {
    RefreshOutcome::Rotated {
        user_id,
        family_id,
        scope: SCOPE.to_owned(),
    }
}

/// Creates a user and a family holding token `b"t0"`; returns both ids.
async fn user_with_family(store: &SqliteStore, now: DateTime<Utc>) -> (Uuid, Uuid) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let family = store
        .create_refresh_family(user.id, SCOPE, b"t0", later(now))
        .await
        .unwrap();
    (user.id, family)
}
