//! Behaviour tests of the store, on both backends.
//!
//! Every test in `users`, `refresh`, `purge`, `revocations` and `throttle` is an
//! `async fn(SharedStore)` that [`on_every_backend!`] turns into two tests:
//! `…::sqlite::NAME` on a fresh temporary SQLite file, and
//! `…::postgres::NAME` on a fresh database of its own on the server named by
//! `SIGIL_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`),
//! read when the test runs. Without that variable each PostgreSQL test prints
//! a `SKIPPED:` line and passes, or fails under `CI=true` (see `database`).
//! `lifecycle`, `postgres_lifecycle` and `one_statement` test what only one
//! backend has.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tempfile::TempDir;
use uuid::Uuid;

use database::TestDatabase;

use super::{
    NewUser, PostgresStore, RefreshOutcome, SessionOrigin, SharedStore, SqliteStore, Store,
    Successor,
};

/// Declares, for each named `async fn(SharedStore)` of the current module, a
/// test on SQLite (in a child module `sqlite`) and one on PostgreSQL (in
/// `postgres`).
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        /// The tests of this file, on a fresh SQLite database each.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::store::tests::on_sqlite(super::$name).await;
                }
            )+
        }

        /// The tests of this file, on a fresh PostgreSQL database each.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::store::tests::on_postgres(module_path!(), stringify!($name), super::$name)
                        .await;
                }
            )+
        }
    };
}

mod cached;
pub(crate) mod database;
mod freezer;
mod lifecycle;
mod one_statement;
mod postgres_lifecycle;
mod purge;
mod refresh;
mod repeat;
mod revocations;
mod sessions;
mod spent;
mod throttle;
mod users;

/// A store on a new database file inside a not-yet-existing subdirectory.
async fn fresh() -> (TempDir, String, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("nested/sigil.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    (dir, url, store)
}

/// Runs `test` on a store over a fresh SQLite file.
async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let (_dir, _url, store) = fresh().await;
    test(Arc::new(store)).await;
}

/// Runs `test` on a store over a fresh PostgreSQL database, which is dropped
/// afterwards (also when the test fails); skips loudly without a server.
async fn on_postgres<F, Fut>(module: &str, name: &str, test: F)
where
    F: FnOnce(SharedStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDatabase::create(&format!("{module}::{name}")).await else {
        return;
    };
    let store = PostgresStore::connect(db.url()).await.expect("connect");
    test(Arc::new(store.clone())).await;
    store.close().await;
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
async fn user_with_family(store: &dyn Store, now: DateTime<Utc>) -> (Uuid, Uuid) {
    let user = store
        .create_user(new_user("ada@example.com"))
        .await
        .unwrap();
    let family = store
        .create_refresh_family(user.id, SCOPE, b"t0", later(now), &SessionOrigin::default())
        .await
        .unwrap();
    (user.id, family)
}

/// Presents `presented` at `now` under the strict policy (no reuse
/// interval), with `next`, valid until `expires_at`, as its successor.
async fn rotate(
    store: &dyn Store,
    presented: &[u8],
    next: &[u8],
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> RefreshOutcome {
    let successor = Successor {
        hash: next,
        expires_at,
        sealed: None,
    };
    store
        .rotate_refresh(presented, successor, now, std::time::Duration::ZERO)
        .await
        .unwrap()
}
