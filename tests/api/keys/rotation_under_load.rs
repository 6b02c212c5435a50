//! Rotation while traffic flows: through `scripts/rotate-keys.sh` against a
//! real `sigil serve` process, with a downstream verifier that caches the JWK
//! Set as its headers allow.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sigil::verify::JwksVerifier;

use crate::helpers::keys::kids_in_jwks as kids;
use crate::helpers::{PASSWORD, ServerProcess, keys, register_at, segment, unique_email};

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
    let early = register_at(&http, &base).await;
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
    let last = register_at(&http, &base).await;
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
