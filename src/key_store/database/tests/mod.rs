//! Tests of the database key store on PostgreSQL: first start, the life
//! cycle with the folder's rules, concurrent changes, sealing, resealing,
//! the version and its notifications. Each test gets a fresh database on
//! the server named by `SIGIL_TEST_POSTGRES_URL`; without it a test prints
//! `SKIPPED:` and passes, or fails under `CI=true` (see
//! `crate::store::tests::database`). The fixtures are here; the tests are
//! in `lifecycle`, `sealing` and `changes`.

use std::collections::BTreeSet;
use std::future::Future;

use base64::Engine as _;
use chrono::{SubsecRound as _, TimeDelta};
use secrecy::SecretBox;

use super::*;
use crate::store::postgres::KEY_SET_LOCK;
use crate::store::tests::database::TestDatabase;
use crate::store::{PostgresStore, SqliteStore};

const HOUR: TimeDelta = TimeDelta::hours(1);
/// The JWK Set max-age the rotations of these tests respect.
const MAX_AGE: Duration = Duration::from_secs(3600);
const GRACE: Duration = Duration::from_secs(1800);

/// A fresh database with its store, or `None` (reported) without a server.
struct Fixture {
    store: PostgresStore,
    _db: TestDatabase,
}

impl Fixture {
    async fn new(test: &str) -> Option<Fixture> {
        let db = TestDatabase::create(&format!("{}::{test}", module_path!())).await?;
        let store = PostgresStore::connect(db.url()).await.expect("connect");
        Some(Fixture { store, _db: db })
    }

    /// The key store sealing under the key-encryption key `current` (a
    /// byte repeated 32 times), also opening `previous`'s rows.
    fn keys(&self, current: u8, previous: Option<u8>) -> DatabaseKeys {
        let sealer = Sealer::new(kek(current), previous.map(kek));
        DatabaseKeys::new(self.store.key_table().expect("PostgreSQL"), sealer)
    }

    async fn sql(&self, statement: &str) {
        sqlx::query(statement)
            .execute(self.store.pool())
            .await
            .expect(statement);
    }
}

/// Runs `a` and `b` at the same moment while a third transaction holds the
/// key set's lock and the version row, released once both have had time to
/// read the set. With the lock, they queue and the second plans on what the
/// first committed; without it, both would read the same set and neither
/// could commit before the other had read it.
async fn at_once<T: Send + 'static>(
    fx: &Fixture,
    a: impl Future<Output = T> + Send + 'static,
    b: impl Future<Output = T> + Send + 'static,
) -> (T, T) {
    let mut holder = fx.store.pool().begin().await.unwrap();
    for statement in [
        "SELECT pg_advisory_xact_lock($1)",
        "SELECT version FROM signing_key_set WHERE $1 <> 0 FOR UPDATE",
    ] {
        sqlx::query(statement)
            .bind(KEY_SET_LOCK)
            .execute(&mut *holder)
            .await
            .unwrap();
    }
    let (a, b) = (tokio::spawn(a), tokio::spawn(b));
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.rollback().await.unwrap();
    let (a, b) = tokio::join!(a, b);
    (a.unwrap(), b.unwrap())
}

fn kek(fill: u8) -> KeyEncryptionKey {
    KeyEncryptionKey::from_bytes([fill; 32])
}

fn options(min_next_age: Duration) -> RotateOptions {
    RotateOptions {
        alg: Algorithm::EdDsa,
        rsa_bits: 2048,
        min_next_age,
        force: false,
        grace: GRACE,
    }
}

/// A new Ed25519 key in `state`, created `age` ago (and activated or
/// retired then).
fn key_aged(state: KeyState, age: TimeDelta) -> SigningKey {
    let fresh = SigningKey::generate(Algorithm::EdDsa, 0).unwrap();
    let at = Utc::now().trunc_subsecs(0) - age;
    let mut meta = fresh.meta().clone();
    meta.created_at = at;
    let mut key = SigningKey::from_pkcs8_pem(&fresh.to_pkcs8_pem(), meta).unwrap();
    key.set_state(state, at);
    key
}

/// Stores an active key that has signed for three hours and a next key
/// published `next_age` ago; returns their kids.
async fn seed(keys: &DatabaseKeys, next_age: TimeDelta) -> (String, String) {
    let active = key_aged(KeyState::Active, HOUR * 3);
    let next = key_aged(KeyState::Next, next_age);
    let kids = (active.kid().to_owned(), next.kid().to_owned());
    assert_eq!(
        keys.store_set(&[active, next]).await.unwrap(),
        StoreSet::Stored
    );
    kids
}

fn kids_in(state: KeyState, metas: &[KeyMeta]) -> Vec<String> {
    metas
        .iter()
        .filter(|m| m.state == state)
        .map(|m| m.kid.clone())
        .collect()
}

mod changes;
mod lifecycle;
mod sealing;
