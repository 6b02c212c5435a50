//! What the database must decide under concurrency, on each backend:
//! uniqueness, one use per refresh token, and durability of what was acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::helpers::{BACKEND, Options, PASSWORD, ServerProcess, spawn_app_with, unique_email};

fn roomy_hashing() -> Options {
    Options {
        // Every registration hashes; let them all queue instead of getting 503.
        tweak: Box::new(|s| s.hashing.queue = 512),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_registrations_of_fifty_emails_create_exactly_fifty_users() {
    let Some(app) = spawn_app_with(roomy_hashing()).await else {
        return;
    };
    let emails: Vec<String> = (0..50).map(|_| unique_email()).collect();
    // Four attempts per email, differently cased, all at once.
    let attempts = (0..200).map(|i| {
        let email = emails[i % 50].clone();
        let email = if i % 2 == 0 {
            email
        } else {
            email.to_uppercase()
        };
        let (client, url) = (app.client.clone(), app.url("/auth/register"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": PASSWORD, "name": "Racer"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();

    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    println!(
        "{BACKEND:?}: 200 registrations -> {created} x 201, {conflicts} x 409, others {:?}",
        statuses
            .iter()
            .filter(|s| **s != 201 && **s != 409)
            .collect::<Vec<_>>()
    );
    assert_eq!((created, conflicts), (50, 150), "statuses: {statuses:?}");
    let store = sigil::startup::open_store(&app.database_url).await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_token_presented_twenty_times_at_once_succeeds_exactly_once_and_the_family_is_revoked()
 {
    // With the reuse interval off (see `reuse_interval` for the default).
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| s.refresh_reuse_interval = Duration::ZERO),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (_, _, refresh) = app.signed_up_user().await;

    let attempts = (0..20).map(|_| {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/auth/refresh"),
            refresh.clone(),
        );
        tokio::spawn(async move {
            let resp = client
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        })
    });
    let results: Vec<(u16, Value)> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();

    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let refused = results.iter().filter(|(s, _)| *s == 401).count();
    println!(
        "{BACKEND:?}: 20 concurrent refreshes -> {} x 200, {refused} x 401",
        winners.len()
    );
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(refused, 19);
    // The other 19 were reuse of a used-up token: the family, and the winner's new token with it, is revoked.
    let newest = winners[0]["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(newest).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_registration_acknowledged_before_a_kill_9_is_there_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = BACKEND.fresh_database(dir.path()).await else {
        return;
    };
    let db = database.url.clone();
    let env = [
        ("SIGIL_DATABASE_URL", db.expose()),
        ("SIGIL_SIGNING_ALG", "EdDSA"),
    ];
    let mut server = ServerProcess::start(dir.path(), &env);
    let base = server.base.clone();

    // Writers register until the server is gone; the kill comes once the
    // test has seen 30 acknowledged, so writes are in flight when it lands.
    let acked = Arc::new(AtomicUsize::new(0));
    let writers = (0..8).map(|_| {
        let (base, acked) = (base.clone(), acked.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acknowledged = Vec::new();
            let mut unexpected = Vec::new();
            loop {
                let email = unique_email();
                let sent = client
                    .post(format!("{base}/auth/register"))
                    .json(&json!({"email": email, "password": PASSWORD, "name": "Burst"}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status() == 201 => {
                        acknowledged.push(email);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    // A fresh email has one right answer; a 5xx is a defect.
                    Ok(resp) => unexpected.push(resp.status()),
                    Err(_) => break, // the server is gone
                }
            }
            (acknowledged, unexpected)
        })
    });
    let writers: Vec<_> = writers.collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < 30 {
        assert!(
            Instant::now() < deadline,
            "the burst never reached 30 registrations"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    let mut unexpected = Vec::new();
    for w in writers {
        let (acks, others) = w.await.unwrap();
        acknowledged.extend(acks);
        unexpected.extend(others);
    }
    assert!(
        unexpected.is_empty(),
        "answers other than 201: {unexpected:?}"
    );
    drop(server);

    let restarted = ServerProcess::start(dir.path(), &env);
    let store = sigil::startup::open_store(&db).await.unwrap();
    let mut missing = Vec::new();
    for email in &acknowledged {
        if store.user_by_email(email).await.unwrap().is_none() {
            missing.push(email.clone());
        }
    }
    println!(
        "{BACKEND:?}: {} registrations acknowledged before kill -9, {} missing after restart",
        acknowledged.len(),
        missing.len()
    );
    assert!(
        acknowledged.len() > 20,
        "the burst was real ({})",
        acknowledged.len()
    );
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let login = reqwest::Client::new()
        .post(format!("{}/auth/login", restarted.base))
        .form(&[
            ("username", acknowledged[0].as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the restarted server serves the data");
}
