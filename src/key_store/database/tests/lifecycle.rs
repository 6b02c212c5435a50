//! The life cycle on PostgreSQL with the keys folder's rules: first start,
//! rotate (also two at once, also automatic), prune, import, a migrated set.

use super::*;

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
