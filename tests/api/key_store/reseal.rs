//! Replacing the key-encryption key with no downtime: instances run with
//! the new key and the old one as previous on a set sealed under the old;
//! `sigil keys reseal` moves every row to the new key and prints how many,
//! while every request keeps succeeding; afterwards the new key alone opens
//! the same set.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::fleet::{Fleet, jwks, new_kek, succeed};
use super::helpers::{PASSWORD, unique_email};

/// Registers, logs in, calls `/me` and reads the JWK Set on `base` in a
/// loop until `stop`; failures are recorded.
async fn traffic(base: String, stop: Arc<AtomicBool>, done: Arc<AtomicU64>, failures: Arc<Mutex<Vec<String>>>) {
    let http = reqwest::Client::new();
    while !stop.load(Ordering::Relaxed) {
        let email = unique_email();
        let registered = http
            .post(format!("{base}/auth/register"))
            .json(&json!({"email": email, "password": PASSWORD, "name": "Reseal"}))
            .send()
            .await;
        let token = match registered {
            Ok(r) if r.status() == 201 => r.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
            Ok(r) => {
                failures.lock().unwrap().push(format!("register on {base}: {}", r.status()));
                continue;
            }
            Err(e) => {
                failures.lock().unwrap().push(format!("register on {base}: {e}"));
                continue;
            }
        };
        for path in ["/me", "/.well-known/jwks.json"] {
            match http.get(format!("{base}{path}")).bearer_auth(&token).send().await {
                Ok(r) if r.status() == 200 => {}
                Ok(r) => failures.lock().unwrap().push(format!("{path} on {base}: {}", r.status())),
                Err(e) => failures.lock().unwrap().push(format!("{path} on {base}: {e}")),
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reseal_under_a_new_key_keeps_every_instance_serving_and_the_new_key_alone_opens_the_set() {
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    let old = fleet.kek.clone();
    let new = new_kek();
    // The set is made, and rotated once, under the old key.
    drop(fleet.start(&[]));
    succeed(&mut fleet.keys(&["rotate", "--force"]));
    let (sealed_before, _) = fleet.table().await;
    let both = [
        ("SIGIL_KEY_ENCRYPTION_KEY", Some(new.as_str())),
        ("SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS", Some(old.as_str())),
    ];
    let instances = fleet.start_many(2, &both);
    let http = reqwest::Client::new();
    let (set, etag) = jwks(&http, instances[0].base()).await;
    assert_eq!(jwks(&http, instances[1].base()).await, (set.clone(), etag.clone()));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = instances
        .iter()
        .flat_map(|i| [i.base().to_owned(), i.base().to_owned()])
        .map(|base| tokio::spawn(traffic(base, stop.clone(), done.clone(), failures.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let out = succeed(&mut fleet.keys_with(&["reseal"], &both));

    // Traffic goes on past the reload the reseal may cause.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "3", "reseal prints how many rows it resealed");
    let text = super::fleet::all_output(&out);
    assert!(!text.contains(&old) && !text.contains(&new), "{text}");
    let (sealed_after, _) = fleet.table().await;
    assert_eq!(sealed_after.len(), 3);
    for ((kid, state, bytes, kek_id), (kid_b, state_b, bytes_b, kek_id_b)) in
        sealed_after.iter().zip(&sealed_before)
    {
        assert_eq!((kid, state), (kid_b, state_b), "kids and states are kept");
        assert_ne!(bytes, bytes_b, "{kid} was sealed anew");
        assert_ne!(kek_id, kek_id_b, "{kid} is sealed under the new key");
        assert_eq!(kek_id, &sealed_after[0].3, "every row under one key");
    }
    let failures = failures.lock().unwrap().clone();
    let done = done.load(Ordering::Relaxed);
    assert!(failures.is_empty(), "failures during the reseal: {failures:#?}");
    assert!(done > 10, "the traffic was real: {done} rounds");
    for instance in &instances {
        assert_eq!(jwks(&http, instance.base()).await, (set.clone(), etag.clone()));
    }

    let only_new = fleet.start(&[
        ("SIGIL_KEY_ENCRYPTION_KEY", Some(new.as_str())),
        ("SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS", None),
    ]);
    assert_eq!(
        jwks(&http, only_new.base()).await,
        (set, etag),
        "an instance with only the new key serves the same set"
    );
    for instance in instances.iter().chain([&only_new]) {
        let log = instance.server.log.lock().unwrap().join("\n");
        assert!(!log.contains(&old) && !log.contains(&new), "a log quotes a key");
    }
}
