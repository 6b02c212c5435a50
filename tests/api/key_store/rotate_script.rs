//! `scripts/rotate-keys.sh` run against one instance of a fleet (its
//! directory and settings) reaches all three within a bounded wait, while
//! clients register and log in on every instance and check each token on
//! every other instance and through the downstream verifier against each
//! instance's JWK Set: no request and no verification fails.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sigil::verify::JwksVerifier;

use super::fleet::{Fleet, ISSUER, jwks, printed_kid, wait_until_all_serve_new};
use super::helpers::{PASSWORD, keys, segment, unique_email};

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    verified: AtomicU64,
    failures: Mutex<Vec<String>>,
}

impl Counts {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

/// One client: registers on instance `home`, logs in on the one after it,
/// and checks both tokens with `/me` on every instance and with every
/// instance's downstream verifier.
async fn client_loop(
    bases: Vec<String>,
    verifiers: Vec<Arc<JwksVerifier>>,
    home: usize,
    counts: Arc<Counts>,
    until: Instant,
) {
    let http = reqwest::Client::new();
    let n = bases.len();
    while Instant::now() < until {
        let email = unique_email();
        let (on_register, on_login) = (&bases[home], &bases[(home + 1) % n]);
        let steps = [
            (
                format!("register on {on_register}"),
                http.post(format!("{on_register}/auth/register"))
                    .json(&json!({"email": email, "password": PASSWORD, "name": "Load"})),
            ),
            (
                format!("login on {on_login}"),
                http.post(format!("{on_login}/auth/login"))
                    .form(&[("username", email.as_str()), ("password", PASSWORD)]),
            ),
        ];
        let mut tokens = Vec::new();
        for (step, request) in steps {
            counts.requests.fetch_add(1, Ordering::Relaxed);
            match request.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let body: Value = resp.json().await.unwrap();
                    tokens.push(body["access_token"].as_str().unwrap().to_owned());
                }
                Ok(resp) => return counts.fail(format!("{step}: {}", resp.status())),
                Err(e) => return counts.fail(format!("{step}: {e}")),
            }
        }
        for token in &tokens {
            let kid = segment(token, 0)["kid"].clone();
            for (base, verifier) in bases.iter().zip(&verifiers) {
                counts.requests.fetch_add(1, Ordering::Relaxed);
                match http
                    .get(format!("{base}/me"))
                    .bearer_auth(token)
                    .send()
                    .await
                {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => counts.fail(format!("/me on {base} (kid {kid}): {}", resp.status())),
                    Err(e) => counts.fail(format!("/me on {base}: {e}")),
                }
                match verifier.verify(token).await {
                    Ok(_) => {
                        counts.verified.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => counts.fail(format!("downstream of {base} (kid {kid}): {e}")),
                }
            }
        }
    }
}

/// Runs the operator's script with the settings of the instance in `dir`,
/// retried while it refuses (the next key must have been published for
/// the 1 s max-age); returns the kid it printed.
fn rotate_with_script(fleet_env: &[(String, String)], dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut script = keys::rotate_script(&dir.join("keys"));
        script
            .envs(fleet_env.iter().map(|(k, v)| (k, v)))
            .env("SIGIL_PID_FILE", dir.join("sigil.pid"))
            .env("RUST_LOG", "warn");
        let out = script.output().unwrap();
        if out.status.success() {
            return printed_kid(&out);
        }
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(
            why.contains("--force") && Instant::now() < deadline,
            "rotate-keys.sh failed: {why}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rotate_script_on_one_instance_reaches_all_three_with_no_failed_request_or_verification()
{
    let Some(fleet) = Fleet::new().await else {
        return;
    };
    // The first instance is the one whose pid file the script reads.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("sigil.pid").display().to_string();
    let first = fleet.start_in(dir, &[("SIGIL_PID_FILE", Some(&pid_file))]);
    let others = fleet.start_many(2, &[]);
    let instances = [&first, &others[0], &others[1]];
    let bases: Vec<String> = instances.iter().map(|i| i.base().to_owned()).collect();
    let verifiers: Vec<Arc<JwksVerifier>> = bases
        .iter()
        .map(|b| {
            Arc::new(JwksVerifier::new(
                format!("{b}/.well-known/jwks.json").parse().unwrap(),
                ISSUER,
                ISSUER,
            ))
        })
        .collect();
    let http = reqwest::Client::new();

    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(12);
    let clients: Vec<_> = (0..6)
        .map(|k| {
            tokio::spawn(client_loop(
                bases.clone(),
                verifiers.clone(),
                k % 3,
                counts.clone(),
                until,
            ))
        })
        .collect();

    let mut rotations = Vec::new();
    for at in [3u64, 7] {
        tokio::time::sleep_until((started + Duration::from_secs(at)).into()).await;
        let (_, before) = jwks(&http, &bases[0]).await;
        let (env, dir) = (fleet.env(), first.dir.path().to_owned());
        let kid = tokio::task::spawn_blocking(move || rotate_with_script(&env, &dir))
            .await
            .unwrap();
        let rotated = Instant::now();
        let (set, _) =
            wait_until_all_serve_new(&http, &instances, &before, Duration::from_secs(5)).await;
        eprintln!(
            "rotation to {kid}: all three serve the new set {:?} after the script",
            rotated.elapsed()
        );
        let published: Value = serde_json::from_str(&set).unwrap();
        assert!(keys::kids_in_jwks(&published).contains(&kid));
        rotations.push(kid);
    }
    for client in clients {
        client.await.unwrap();
    }

    // Every instance signs with the last rotation's key.
    for base in &bases {
        let resp = http
            .post(format!("{base}/auth/register"))
            .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Late"}))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        let header = segment(body["access_token"].as_str().unwrap(), 0);
        assert_eq!(header["kid"].as_str().unwrap(), rotations[1], "{base}");
    }
    let failures = counts.failures.lock().unwrap().clone();
    let verified = counts.verified.load(Ordering::Relaxed);
    eprintln!(
        "fleet rotation under load: {} requests, {verified} downstream verifications, {} failures",
        counts.requests.load(Ordering::Relaxed),
        failures.len()
    );
    assert!(failures.is_empty(), "failures: {failures:#?}");
    assert!(verified > 50, "the load was real: {verified} verifications");
    // Each SIGHUP logs one line with its trigger (a reload, or "unchanged"
    // when the notification came first).
    let signalled = first
        .server
        .json_lines()
        .iter()
        .filter(|v| v["trigger"] == "Signal")
        .count();
    assert_eq!(signalled, 2, "the script signalled the instance of its pid file");
}
