//! Sealed rows: resealing under a new key-encryption key, rows that must
//! not open (copied from another row, sealed under another key), and no
//! private key in the clear in the table.

use super::*;

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
