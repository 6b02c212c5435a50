//! Rotation while traffic flows: through `scripts/rotate-keys.sh` against a
//! real `sigil serve` process, with a downstream verifier that caches the JWK
//! Set as its headers allow.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sigil::verify::JwksVerifier;

use crate::helpers::{PASSWORD, ServerProcess, keys, segment, unique_email};

/// Runs the operator's script against `dir`'s keys and pid file; returns the kid it printed.
fn rotate_with_script(dir: &Path, extra: &[&str]) -> String {
    let out = keys::rotate_script(&dir.join("keys"))
        .args(extra)
        .env("SIGIL_PID_FILE", dir.join("data/sigil.pid"))
        .env("SIGIL_JWKS_MAX_AGE", "2s")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rotate-keys.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().unwrap().trim().to_owned()
}

async fn jwks(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(set: &Value) -> HashSet<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    verified: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Counts {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

/// One client's session loop: register, log in, refresh, call /me, and verify
/// every access token downstream.
async fn client_loop(
    base: String,
    verifier: Arc<JwksVerifier>,
    counts: Arc<Counts>,
    until: Instant,
) {
    let client = reqwest::Client::new();
    while Instant::now() < until {
        let email = unique_email();
        let mut tokens = Vec::new();
        let steps: [(&str, reqwest::RequestBuilder); 2] = [
            (
                "register",
                client
                    .post(format!("{base}/auth/register"))
                    .json(&json!({"email": email, "password": PASSWORD, "name": "Load"})),
            ),
            (
                "login",
                client
                    .post(format!("{base}/auth/login"))
                    .form(&[("username", email.as_str()), ("password", PASSWORD)]),
            ),
        ];
        for (step, request) in steps {
            counts.requests.fetch_add(1, Ordering::Relaxed);
            match request.send().await {
                Ok(resp) if resp.status().is_success() => {
                    tokens.push(resp.json::<Value>().await.unwrap())
                }
                Ok(resp) => return counts.fail(format!("{step}: {}", resp.status())),
                Err(e) => return counts.fail(format!("{step}: {e}")),
            }
        }
        let refresh = tokens[1]["refresh_token"].as_str().unwrap().to_owned();
        counts.requests.fetch_add(1, Ordering::Relaxed);
        match client
            .post(format!("{base}/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => {
                tokens.push(resp.json::<Value>().await.unwrap())
            }
            Ok(resp) => return counts.fail(format!("refresh: {}", resp.status())),
            Err(e) => return counts.fail(format!("refresh: {e}")),
        }
        for t in &tokens {
            let access = t["access_token"].as_str().unwrap();
            match verifier.verify(access).await {
                Ok(_) => {
                    counts.verified.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => counts.fail(format!(
                    "downstream verify (kid {}): {e}",
                    segment(access, 0)["kid"]
                )),
            }
            counts.requests.fetch_add(1, Ordering::Relaxed);
            match client
                .get(format!("{base}/me"))
                .bearer_auth(access)
                .send()
                .await
            {
                Ok(resp) if resp.status().is_success() => {}
                Ok(resp) => counts.fail(format!("/me: {}", resp.status())),
                Err(e) => counts.fail(format!("/me: {e}")),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_keys_under_load_fails_no_request_and_no_downstream_verification() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[("SIGIL_JWKS_MAX_AGE", "2s")]);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let verifier = Arc::new(JwksVerifier::new(
        format!("{base}/.well-known/jwks.json").parse().unwrap(),
        base.clone(),
        base.clone(),
    ));
    // A token from before any rotation, to check it still verifies at the end.
    let early: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Early"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let early = early["access_token"].as_str().unwrap().to_owned();

    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(22);
    let clients: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(client_loop(
                base.clone(),
                verifier.clone(),
                counts.clone(),
                until,
            ))
        })
        .collect();

    // Four rotations, 5 s apart (each next key is published longer than the
    // 2 s max-age before it signs); the third makes the new next key EdDSA,
    // so the fourth switches signing to EdDSA.
    let mut rotations = Vec::new();
    for (i, at) in [4u64, 9, 14, 19].into_iter().enumerate() {
        tokio::time::sleep_until((started + Duration::from_secs(at)).into()).await;
        let before = jwks(&http, &base).await;
        let dir = dir.path().to_owned();
        let args: &[&str] = if i == 2 { &["--alg", "EdDSA"] } else { &[] };
        let kid = tokio::task::spawn_blocking(move || rotate_with_script(&dir, args))
            .await
            .unwrap();
        assert!(
            kids(&before).contains(&kid),
            "rotation {i}: the new active key {kid} was published as next before it signed"
        );
        rotations.push(kid);
    }
    for c in clients {
        c.await.unwrap();
    }

    // The server signs with the last rotation's key, which is EdDSA.
    let last: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Late"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = segment(last["access_token"].as_str().unwrap(), 0);
    assert_eq!(header["kid"].as_str().unwrap(), rotations[3]);
    assert_eq!(header["alg"], "EdDSA");
    // The token from before the rotations still verifies, downstream and at sigil.
    assert!(
        verifier.verify(&early).await.is_ok(),
        "pre-rotation token verifies downstream"
    );
    assert_eq!(
        http.get(format!("{base}/me"))
            .bearer_auth(&early)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let failures = counts.failures.lock().unwrap().clone();
    let requests = counts.requests.load(Ordering::Relaxed);
    let verified = counts.verified.load(Ordering::Relaxed);
    println!(
        "rotation under load: {:.1} s, {} rotations, {requests} requests, {verified} downstream verifications, \
         {} JWKS fetches ({} not modified), {} failures",
        started.elapsed().as_secs_f64(),
        rotations.len(),
        verifier.fetches(),
        verifier.not_modified(),
        failures.len()
    );
    assert!(failures.is_empty(), "failures: {failures:#?}");
    assert!(
        verified > 100,
        "the load was real: {verified} verifications"
    );
    let reloads = server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("keys_reloaded"))
        .count();
    assert!(reloads >= 4, "every rotation was reloaded ({reloads})");
}

fn rotate_now(keys: &Path, force: bool) -> sigil::keys::Rotation {
    sigil::keys::KeyFolder::new(keys)
        .rotate(sigil::keys::RotateOptions {
            alg: sigil::keys::Algorithm::EdDsa,
            rsa_bits: 2048,
            min_next_age: Duration::from_secs(1),
            force,
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
