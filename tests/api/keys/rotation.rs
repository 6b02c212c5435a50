//! The life of a key in a running server: a retired key verifies its tokens
//! until it is pruned, readers never see a half-swapped set while rotations
//! run back to back, and automatic rotation happens once per interval even
//! with two servers on one folder. Rotation under traffic through the
//! operator's script is in `rotation_under_load.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::keys::kids_in_jwks as kids;
use crate::helpers::segment;

fn rotate_now(keys: &Path, force: bool) -> sigil::keys::Rotation {
    sigil::keys::KeyFolder::new(keys)
        .rotate(sigil::keys::RotateOptions {
            alg: sigil::keys::Algorithm::EdDsa,
            rsa_bits: 2048,
            min_next_age: Duration::from_secs(1),
            force,
            grace: Duration::from_secs(2),
        })
        .unwrap()
}

#[tokio::test]
async fn tokens_outlive_the_rotation_of_their_key_until_it_is_pruned_after_its_grace() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        tweak: Box::new(|s| {
            s.access_ttl = Duration::from_secs(2);
            s.key_grace = Duration::from_secs(2);
            s.jwks_max_age = Duration::from_secs(1);
        }),
        ..Default::default()
    })
    .await;
    let (_, before, _) = app.signed_up_user().await;
    let old_kid = segment(&before, 0)["kid"].as_str().unwrap().to_owned();
    let published_before: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    // The next key must have been published for the JWKS max-age (1 s)
    // before it may sign: the folder refuses until then.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rotation = loop {
        match sigil::keys::KeyFolder::new(&app.keys_dir).rotate(sigil::keys::RotateOptions {
            alg: sigil::keys::Algorithm::EdDsa,
            rsa_bits: 2048,
            min_next_age: Duration::from_secs(1),
            force: false,
            grace: Duration::from_secs(2),
        }) {
            Ok(rotation) => break rotation,
            Err(refused) => assert!(Instant::now() < deadline, "{refused}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        app.reloader
            .reload(sigil::reload::Trigger::Signal)
            .await
            .unwrap()
    );

    let new_kid = rotation.active.kid.clone();
    assert!(
        kids(&published_before).contains(&new_kid),
        "the new active key was published as next before it signed"
    );
    let (_, after, _) = app.signed_up_user().await;
    assert_eq!(segment(&after, 0)["kid"], new_kid.as_str());
    assert_eq!(
        app.get("/me", Some(&before)).await.status(),
        200,
        "a token of the retired key still verifies"
    );
    let published: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        kids(&published).contains(&old_kid),
        "the retired key stays published during its grace"
    );

    // Prune as soon as the folder lets the grace be over.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pruned = loop {
        let pruned = sigil::keys::KeyFolder::new(&app.keys_dir)
            .prune(Duration::from_secs(2), chrono::Utc::now())
            .unwrap();
        if !pruned.is_empty() {
            break pruned;
        }
        assert!(Instant::now() < deadline, "the grace never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        pruned.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        [old_kid.as_str()]
    );
    app.reloader
        .reload(sigil::reload::Trigger::Signal)
        .await
        .unwrap();

    let published: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !kids(&published).contains(&old_kid),
        "the pruned kid left the JWK Set"
    );
    let resp = app.get("/me", Some(&before)).await;
    assert_eq!(resp.status(), 401, "tokens of a pruned key are refused");
    assert_eq!(app.get("/me", Some(&after)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_a_partial_key_set_while_rotations_run_in_a_tight_loop() {
    let app = Arc::new(
        crate::helpers::spawn_app_with(crate::helpers::Options {
            alg: sigil::keys::Algorithm::EdDsa,
            ..Default::default()
        })
        .await,
    );
    let (_, access, _) = app.signed_up_user().await;
    let token_kid = segment(&access, 0)["kid"].as_str().unwrap().to_owned();
    // Readers run until the rotations are done: a count, not a clock.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bad = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reads = Arc::new(AtomicU64::new(0));

    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (app, access, token_kid, bad, reads, done) = (
                app.clone(),
                access.clone(),
                token_kid.clone(),
                bad.clone(),
                reads.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    reads.fetch_add(1, Ordering::Relaxed);
                    if i % 2 == 0 {
                        let resp = app.get("/.well-known/jwks.json", None).await;
                        let status = resp.status();
                        let text = resp.text().await.unwrap();
                        match serde_json::from_str::<Value>(&text) {
                            Ok(set)
                                if status == 200
                                    && set["keys"].as_array().is_some_and(|k| k.len() >= 2) =>
                            {
                                if !kids(&set).contains(&token_kid) {
                                    bad.lock().unwrap().push("the token's kid vanished".into());
                                }
                            }
                            _ => bad.lock().unwrap().push(format!("{status}: {text}")),
                        }
                    } else {
                        let status = app.get("/me", Some(&access)).await.status();
                        if status != 200 {
                            bad.lock().unwrap().push(format!("/me {status}"));
                        }
                    }
                }
            })
        })
        .collect();
    // The readers are running before the first rotation.
    let deadline = Instant::now() + Duration::from_secs(120);
    while reads.load(Ordering::Relaxed) < 8 {
        assert!(Instant::now() < deadline, "the readers never started");
        tokio::task::yield_now().await;
    }
    let mut rotations = 0;
    while rotations < 25 {
        let reads_before = reads.load(Ordering::Relaxed);
        let keys = app.keys_dir.clone();
        tokio::task::spawn_blocking(move || rotate_now(&keys, true))
            .await
            .unwrap();
        app.reloader
            .reload(sigil::reload::Trigger::Signal)
            .await
            .unwrap();
        rotations += 1;
        // Every rotation overlaps reads: wait (bounded) for the next one.
        while reads.load(Ordering::Relaxed) == reads_before {
            assert!(Instant::now() < deadline, "the readers stopped reading");
            tokio::task::yield_now().await;
        }
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }

    let bad = bad.lock().unwrap().clone();
    println!(
        "tight-loop rotation: {rotations} rotations, {} reads, {} bad",
        reads.load(Ordering::Relaxed),
        bad.len()
    );
    assert!(rotations >= 20, "the loop really rotated ({rotations})");
    assert!(bad.is_empty(), "{bad:#?}");
}

#[tokio::test]
async fn automatic_rotation_rotates_once_per_interval_even_with_two_servers_on_one_folder() {
    // A folder created now, so the active key's age starts at zero.
    let shared = tempfile::tempdir().unwrap();
    let keys = shared.path().join("keys");
    let tweak = move |s: &mut sigil::config::Settings| {
        s.key_rotation_interval = Some(Duration::from_secs(3));
        s.jwks_max_age = Duration::from_secs(1);
        s.keys_dir = keys.clone();
    };
    let first = crate::helpers::spawn_app_with(crate::helpers::Options {
        alg: sigil::keys::Algorithm::EdDsa,
        tweak: Box::new(tweak.clone()),
    })
    .await;
    let second = crate::helpers::spawn_app_with(crate::helpers::Options {
        alg: sigil::keys::Algorithm::EdDsa,
        tweak: Box::new(tweak),
    })
    .await;
    let initial = first.active_kid();

    // Wait (bounded) until the folder shows two automatic rotations, then
    // check from the manifest's own timestamps that no interval saw two:
    // two servers rotating in the same interval would retire keys
    // milliseconds apart. Nothing here depends on how fast the machine is.
    let deadline = Instant::now() + Duration::from_secs(60);
    let retired = loop {
        let retired: Vec<Value> = first.manifest()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == "retired")
            .cloned()
            .collect();
        if retired.len() >= 2 {
            break retired;
        }
        assert!(Instant::now() < deadline, "no two rotations: {retired:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let at = |k: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(k[field].as_str().unwrap()).unwrap()
    };
    let mut retired_at: Vec<_> = retired.iter().map(|k| at(k, "retired_at")).collect();
    retired_at.sort();
    // Timestamps may be whole seconds: allow one second of rounding.
    for pair in retired_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::seconds(2),
            "two rotations in one 3 s interval: {retired_at:?}"
        );
    }
    assert!(
        retired.iter().any(|k| k["kid"] == initial.as_str()),
        "the first key was the first retired"
    );

    // Both servers end up signing with the folder's active key.
    for app in [&first, &second] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let active = app.active_kid();
            let (_, token, _) = app.signed_up_user().await;
            if segment(&token, 0)["kid"].as_str().unwrap() == active {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a server never signed with the rotated key {active}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
