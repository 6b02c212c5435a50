//! Tests of the database key store on PostgreSQL: first start, the life
//! cycle with the folder's rules, concurrent changes, sealing, resealing,
//! the version and its notifications. Each test gets a fresh database on
//! the server named by `SIGIL_TEST_POSTGRES_URL`; without it a test prints
//! `SKIPPED:` and passes, or fails under `CI=true` (see
//! `crate::store::tests::database`).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_starts_at_once_on_an_empty_table_create_one_set() {
    let Some(fx) = Fixture::new("first_starts_at_once_on_an_empty_table_create_one_set").await
    else {
        return;
    };
    let (a, b) = (fx.keys(1, None), fx.keys(1, None));
    let (set_a, set_b) = {
        let (a, b) = (a.clone(), b.clone());
        tokio::join!(
            a.load_or_init(Algorithm::EdDsa, 2048),
            b.load_or_init(Algorithm::EdDsa, 2048)
        )
    };
    let (set_a, set_b) = (set_a.unwrap(), set_b.unwrap());
    assert_eq!(set_a.jwks_body(), set_b.jwks_body());
    assert_eq!(set_a.etag(), set_b.etag());
    let listed = a.list().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        kids_in(KeyState::Active, &listed),
        vec![set_a.active().kid()]
    );
    assert_eq!(kids_in(KeyState::Next, &listed).len(), 1);
    assert_eq!(a.version().await.unwrap(), 1, "one set was written");

    // Later starts load the same set.
    let again = fx.keys(1, None).load_or_init(Algorithm::EdDsa, 2048).await;
    assert_eq!(again.unwrap().etag(), set_a.etag());
    assert_eq!(a.version().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_refuses_a_young_next_key_and_otherwise_promotes_it() {
    let Some(fx) =
        Fixture::new("a_rotation_refuses_a_young_next_key_and_otherwise_promotes_it").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    let (active, next) = seed(&keys, TimeDelta::minutes(10)).await;
    let before = keys.version().await.unwrap();

    let refused = keys.rotate(options(MAX_AGE)).await.unwrap_err();
    assert!(
        matches!(&refused, KeyError::NextKeyTooNew { kid, .. } if *kid == next),
        "{refused:?}"
    );
    assert_eq!(keys.version().await.unwrap(), before, "nothing written");

    let rotation = keys
        .rotate(options(Duration::from_secs(300)))
        .await
        .unwrap();
    assert_eq!(rotation.active.kid, next);
    assert_eq!(rotation.retired.kid, active);
    let grace_until = rotation.retired.grace_until.unwrap();
    assert_eq!(
        grace_until - rotation.retired.retired_at.unwrap(),
        TimeDelta::minutes(30)
    );
    let set = keys.load().await.unwrap();
    assert_eq!(set.active().kid(), next);
    assert_eq!(set.by_kid(&active).unwrap().meta(), &rotation.retired);
    assert_eq!(
        set.by_kid(&rotation.next.kid).unwrap().state(),
        KeyState::Next
    );
    assert_eq!(set.keys().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_without_a_next_key_publishes_one_and_refuses() {
    let Some(fx) = Fixture::new("a_rotation_without_a_next_key_publishes_one_and_refuses").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    let active = key_aged(KeyState::Active, HOUR);
    let active_kid = active.kid().to_owned();
    keys.store_set(&[active]).await.unwrap();
    let before = keys.version().await.unwrap();

    let err = keys.rotate(options(MAX_AGE)).await.unwrap_err();
    let KeyError::NoNextKey { published, .. } = err else {
        panic!("{err:?}");
    };
    let listed = keys.list().await.unwrap();
    assert_eq!(kids_in(KeyState::Active, &listed), vec![active_kid]);
    assert_eq!(kids_in(KeyState::Next, &listed), vec![published]);
    assert_eq!(
        keys.version().await.unwrap(),
        before + 1,
        "the next key is committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_rotations_at_the_same_moment_make_one_rotation_and_one_refusal() {
    let Some(fx) =
        Fixture::new("two_rotations_at_the_same_moment_make_one_rotation_and_one_refusal").await
    else {
        return;
    };
    let (a, b) = (fx.keys(1, None), fx.keys(1, None));
    let (_, next) = seed(&a, HOUR * 2).await;
    let before = a.version().await.unwrap();

    let (first, second) = at_once(
        &fx,
        async move { a.rotate(options(MAX_AGE)).await },
        async move { b.rotate(options(MAX_AGE)).await },
    )
    .await;
    let a = fx.keys(1, None);
    let (rotated, refused): (Vec<_>, Vec<_>) = [first, second].into_iter().partition(Result::is_ok);
    assert_eq!(
        (rotated.len(), refused.len()),
        (1, 1),
        "{rotated:?} {refused:?}"
    );
    let rotation = rotated.into_iter().next().unwrap().unwrap();
    assert_eq!(rotation.active.kid, next);
    let refusal = refused.into_iter().next().unwrap().unwrap_err();
    assert!(
        matches!(&refusal, KeyError::NextKeyTooNew { kid, .. } if *kid == rotation.next.kid),
        "the second saw the first one's brand-new next key: {refusal:?}"
    );
    assert_eq!(a.version().await.unwrap(), before + 1);
    assert_eq!(a.load().await.unwrap().keys().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_automatic_rotations_at_the_same_moment_make_one_rotation() {
    let Some(fx) =
        Fixture::new("two_automatic_rotations_at_the_same_moment_make_one_rotation").await
    else {
        return;
    };
    let (a, b) = (fx.keys(1, None), fx.keys(1, None));
    let (_, next) = seed(&a, HOUR * 2).await;
    let before = a.version().await.unwrap();
    let interval = Duration::from_secs(2 * 3600);

    // Not due yet: the active key has signed for three hours.
    let not_due = a
        .rotate_if_due(Duration::from_secs(4 * 3600), options(MAX_AGE), Utc::now())
        .await
        .unwrap();
    assert_eq!(not_due, None);
    assert_eq!(a.version().await.unwrap(), before);

    let now = Utc::now();
    let (first, second) = at_once(
        &fx,
        async move { a.rotate_if_due(interval, options(MAX_AGE), now).await },
        async move { b.rotate_if_due(interval, options(MAX_AGE), now).await },
    )
    .await;
    let a = fx.keys(1, None);
    let outcomes = [first.unwrap(), second.unwrap()];
    let rotations: Vec<&Rotation> = outcomes.iter().flatten().collect();
    assert_eq!(rotations.len(), 1, "{outcomes:?}");
    assert_eq!(rotations[0].active.kid, next);
    assert_eq!(a.version().await.unwrap(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_only_retired_keys_past_their_grace() {
    let Some(fx) = Fixture::new("prune_removes_only_retired_keys_past_their_grace").await else {
        return;
    };
    let keys = fx.keys(1, None);
    seed(&keys, HOUR * 2).await;
    let rotation = keys.rotate(options(MAX_AGE)).await.unwrap();
    let before = keys.version().await.unwrap();

    let now = Utc::now();
    assert_eq!(keys.prune(GRACE, now).await.unwrap(), vec![]);
    assert_eq!(
        keys.version().await.unwrap(),
        before,
        "nothing to prune, nothing written"
    );

    let later = now + TimeDelta::from_std(GRACE).unwrap() + TimeDelta::seconds(2);
    let pruned = keys.prune(GRACE, later).await.unwrap();
    assert_eq!(pruned, vec![rotation.retired.clone()]);
    let listed = keys.list().await.unwrap();
    let kids: BTreeSet<&str> = listed.iter().map(|m| m.kid.as_str()).collect();
    assert_eq!(
        kids,
        BTreeSet::from([rotation.active.kid.as_str(), rotation.next.kid.as_str()])
    );
    assert_eq!(keys.version().await.unwrap(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_key_replaces_the_next_key_and_is_not_imported_twice() {
    let Some(fx) =
        Fixture::new("an_imported_key_replaces_the_next_key_and_is_not_imported_twice").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    let (active, next) = seed(&keys, HOUR).await;
    let imported = key_aged(KeyState::Next, TimeDelta::zero());
    let pem = imported.to_pkcs8_pem();
    let kid = imported.kid().to_owned();

    let import = keys.import(imported).await.unwrap();
    assert_eq!(import.imported.kid, kid);
    assert_eq!(
        import.replaced.iter().map(|m| &m.kid).collect::<Vec<_>>(),
        vec![&next]
    );
    let listed = keys.list().await.unwrap();
    assert_eq!(kids_in(KeyState::Active, &listed), vec![active]);
    assert_eq!(kids_in(KeyState::Next, &listed), vec![kid.clone()]);
    assert_eq!(keys.load().await.unwrap().keys().len(), 2);

    let meta = KeyMeta::new(kid.clone(), Algorithm::EdDsa, KeyState::Next, Utc::now());
    let again = SigningKey::from_pkcs8_pem(&pem, meta).unwrap();
    let err = keys.import(again).await.unwrap_err();
    assert!(
        matches!(&err, KeyError::AlreadyInSet { kid: k, .. } if *k == kid),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_moves_every_row_to_the_new_key_encryption_key() {
    let Some(fx) = Fixture::new("reseal_moves_every_row_to_the_new_key_encryption_key").await
    else {
        return;
    };
    let old = fx.keys(1, None);
    let set = old.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();

    // Before: the new key alone cannot open the rows.
    let err = fx.keys(2, None).load().await.unwrap_err();
    assert!(matches!(err, KeyError::Unseal { .. }), "{err:?}");

    let both = fx.keys(2, Some(1));
    assert_eq!(
        both.load().await.unwrap().etag(),
        set.etag(),
        "the previous key opens"
    );
    let before = both.version().await.unwrap();
    assert_eq!(both.reseal().await.unwrap(), 2);
    assert_eq!(
        both.version().await.unwrap(),
        before + 1,
        "other instances re-read"
    );
    assert_eq!(
        both.list().await.unwrap(),
        old.list().await.unwrap(),
        "metadata unchanged"
    );

    let new_only = fx.keys(2, None);
    assert_eq!(new_only.load().await.unwrap().etag(), set.etag());
    let kek_ids: Vec<String> = sqlx::query_scalar("SELECT DISTINCT kek_id FROM signing_keys")
        .fetch_all(fx.store.pool())
        .await
        .unwrap();
    assert_eq!(kek_ids, vec![kek(2).id().to_owned()]);

    // Nothing left to reseal: nothing written.
    assert_eq!(both.reseal().await.unwrap(), 0);
    assert_eq!(both.version().await.unwrap(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_key_copied_into_another_row_is_refused_naming_the_kid() {
    let Some(fx) =
        Fixture::new("a_sealed_key_copied_into_another_row_is_refused_naming_the_kid").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    let (active, next) = seed(&keys, HOUR).await;
    fx.sql(&format!(
        "UPDATE signing_keys SET sealed_key = \
         (SELECT sealed_key FROM signing_keys WHERE kid = '{active}') WHERE kid = '{next}'"
    ))
    .await;
    let before = keys.version().await.unwrap();

    let err = keys.load().await.unwrap_err();
    assert!(
        matches!(&err, KeyError::Unseal { kid, kek_id, .. } if *kid == next && kek_id == kek(1).id()),
        "{err:?}"
    );
    assert!(err.to_string().contains(&next), "{err}");
    let err = keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap_err();
    assert!(matches!(err, KeyError::Unseal { .. }), "{err:?}");
    let err = keys.rotate(options(Duration::ZERO)).await.unwrap_err();
    assert!(matches!(err, KeyError::Unseal { .. }), "{err:?}");
    assert_eq!(keys.version().await.unwrap(), before, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_sealed_under_another_key_encryption_key_is_refused_and_nothing_written() {
    let Some(fx) = Fixture::new(
        "a_set_sealed_under_another_key_encryption_key_is_refused_and_nothing_written",
    )
    .await
    else {
        return;
    };
    fx.keys(1, None)
        .load_or_init(Algorithm::EdDsa, 2048)
        .await
        .unwrap();
    let wrong = fx.keys(3, None);
    let before = wrong.version().await.unwrap();
    let listed_before = wrong.list().await.unwrap();

    let err = wrong
        .load_or_init(Algorithm::EdDsa, 2048)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, KeyError::Unseal { kek_id, .. } if kek_id == kek(1).id()),
        "{err:?}"
    );
    assert!(
        text.contains(kek(3).id()),
        "names the configured key: {text}"
    );
    assert!(wrong.import(key_aged(KeyState::Next, HOUR)).await.is_err());
    assert_eq!(wrong.version().await.unwrap(), before);
    assert_eq!(
        wrong.list().await.unwrap(),
        listed_before,
        "list opens no key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_change_bumps_the_version_once() {
    let Some(fx) = Fixture::new("every_committed_change_bumps_the_version_once").await else {
        return;
    };
    let keys = fx.keys(1, None);
    assert_eq!(keys.version().await.unwrap(), 0);
    let bad_bits = keys.load_or_init(Algorithm::Rs256, 1024).await.unwrap_err();
    assert!(
        matches!(bad_bits, KeyError::UnsupportedRsaBits(1024)),
        "{bad_bits:?}"
    );
    assert_eq!(
        keys.version().await.unwrap(),
        0,
        "a refused first start writes nothing"
    );
    keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 1);
    keys.load().await.unwrap();
    keys.list().await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 1, "reads write nothing");
    let rotation = keys.rotate(options(Duration::ZERO)).await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 2);
    keys.import(key_aged(KeyState::Next, HOUR)).await.unwrap();
    assert_eq!(keys.version().await.unwrap(), 3);
    let pruned = keys.prune(GRACE, Utc::now() + HOUR * 2).await.unwrap();
    assert_eq!(pruned, vec![rotation.retired]);
    assert_eq!(keys.version().await.unwrap(), 4);
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_key_set")
        .fetch_one(fx.store.pool())
        .await
        .unwrap();
    assert_eq!(versions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_hears_the_version_of_each_committed_change() {
    let Some(fx) = Fixture::new("a_listener_hears_the_version_of_each_committed_change").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    let mut changes = keys.listen().await.unwrap();
    let listeners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'sigil-key-listener'",
    )
    .fetch_one(fx.store.pool())
    .await
    .unwrap();
    assert_eq!(
        listeners, 1,
        "the listener has a connection of its own, named"
    );

    let other = fx.keys(1, None);
    other.rotate(options(Duration::ZERO)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a notification within the wait")
        .unwrap();
    assert_eq!(heard, Some(other.version().await.unwrap()));

    // A refused change commits nothing and notifies nobody; the next
    // notification is the next commit's.
    other.rotate(options(MAX_AGE)).await.unwrap_err();
    other.import(key_aged(KeyState::Next, HOUR)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a notification within the wait")
        .unwrap();
    assert_eq!(heard, Some(other.version().await.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_holds_no_private_key_in_the_clear() {
    let Some(fx) = Fixture::new("the_table_holds_no_private_key_in_the_clear").await else {
        return;
    };
    let keys = fx.keys(1, None);
    let set = keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed_key FROM signing_keys")
        .fetch_all(fx.store.pool())
        .await
        .unwrap();
    assert_eq!(sealed.len(), 2);
    for key in set.keys() {
        let pem = key.to_pkcs8_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        // The last 32 bytes of an Ed25519 PKCS#8 v1 document are the seed.
        let seed = &der[der.len() - 32..];
        for bytes in &sealed {
            assert!(!bytes.windows(der.len()).any(|w| w == der.as_slice()));
            assert!(!bytes.windows(seed.len()).any(|w| w == seed));
            assert!(!String::from_utf8_lossy(bytes).contains("PRIVATE KEY"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_set_is_stored_once_with_every_kid_state_and_date() {
    let Some(fx) =
        Fixture::new("a_migrated_set_is_stored_once_with_every_kid_state_and_date").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    let mut retired = key_aged(KeyState::Active, HOUR * 5);
    retired.set_state(KeyState::Retired, Utc::now().trunc_subsecs(0) - HOUR);
    retired.set_grace_until(Some(Utc::now().trunc_subsecs(0) + HOUR));
    let given = vec![
        key_aged(KeyState::Active, HOUR),
        key_aged(KeyState::Next, HOUR),
        retired,
    ];
    let metas: Vec<KeyMeta> = given.iter().map(|k| k.meta().clone()).collect();
    assert_eq!(keys.store_set(&given).await.unwrap(), StoreSet::Stored);
    assert_eq!(
        keys.list().await.unwrap(),
        metas,
        "in publish order, dates kept"
    );
    let set = keys.load().await.unwrap();
    assert_eq!(set.jwks_body(), KeySet::new(given).unwrap().jwks_body());

    let same: Vec<SigningKey> = set.into_keys();
    let version = keys.version().await.unwrap();
    assert_eq!(keys.store_set(&same).await.unwrap(), StoreSet::AlreadyThere);
    assert_eq!(keys.version().await.unwrap(), version);

    let other = [key_aged(KeyState::Active, HOUR)];
    let err = keys.store_set(&other).await.unwrap_err();
    let KeyError::DestinationHoldsKeys { destination, kids } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(destination, "the database");
    let mut expected: Vec<String> = metas.iter().map(|m| m.kid.clone()).collect();
    expected.sort();
    assert_eq!(*kids, expected);
    assert_eq!(keys.version().await.unwrap(), version);
}

#[tokio::test]
async fn a_sqlite_store_has_no_key_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sigil.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let keys = KeyEncryptionKeys {
        current: SecretBox::new(Box::new([1; 32])),
        previous: None,
    };
    let err = DatabaseKeys::connect(&store, &keys).unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_is_killed_says_so_and_listens_again() {
    let Some(fx) =
        Fixture::new("a_listener_whose_connection_is_killed_says_so_and_listens_again").await
    else {
        return;
    };
    let keys = fx.keys(1, None);
    keys.load_or_init(Algorithm::EdDsa, 2048).await.unwrap();
    let mut changes = keys.listen().await.unwrap();
    fx.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'sigil-key-listener'",
    )
    .await;

    let lost = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("the loss is noticed within the wait");
    assert_eq!(lost.unwrap(), None, "lost and listening again: re-read");

    keys.rotate(options(Duration::ZERO)).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a notification within the wait")
        .unwrap();
    assert_eq!(heard, Some(keys.version().await.unwrap()));
}

#[test]
fn rows_are_read_in_the_order_the_keys_folder_writes_them() {
    let at = |hours: i64| Utc::now().trunc_subsecs(0) - HOUR * 24 + HOUR * hours as i32;
    let row = |kid: &str, state: KeyState, created: i64, retired: Option<i64>| {
        let mut meta = KeyMeta::new(kid, Algorithm::EdDsa, state, at(created));
        meta.retired_at = retired.map(at);
        KeyRow {
            meta,
            sealed: crate::keys::SealedKey {
                kek_id: "k".to_owned(),
                bytes: vec![1],
            },
        }
    };
    // After two rotations the folder lists: active, next, then the retired
    // keys from the most recently retired.
    let mut rows = vec![
        row("a", KeyState::Retired, 0, Some(5)),
        row("b", KeyState::Next, 7, None),
        row("c", KeyState::Retired, 1, Some(7)),
        row("d", KeyState::Active, 5, None),
        row("e", KeyState::Next, 6, None),
    ];
    in_publish_order(&mut rows);
    let kids: Vec<&str> = rows.iter().map(|r| r.meta.kid.as_str()).collect();
    assert_eq!(kids, ["d", "e", "b", "c", "a"]);
}
