//! Several `sigil serve` processes sharing one PostgreSQL database and one
//! keys folder behave as one service.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::helpers::{BACKEND, PASSWORD, ServerProcess, keys, unique_email};

const ISSUER: &str = "http://sigil.test";

async fn etag(client: &reqwest::Client, base: &str) -> String {
    let resp = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_and_keys_folder_behave_as_one_service() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = BACKEND.fresh_database(dir.path()).await else {
        return;
    };
    let db = database.url.clone();
    let pid = |name: &str| {
        dir.path()
            .join(format!("data/{name}.pid"))
            .display()
            .to_string()
    };
    let (pid_a, pid_b) = (pid("a"), pid("b"));
    let common = [
        ("SIGIL_DATABASE_URL", db.expose()),
        ("SIGIL_ISSUER", ISSUER),
        ("SIGIL_JWKS_MAX_AGE", "1s"),
    ];
    let a = ServerProcess::start(
        dir.path(),
        &[common.as_slice(), &[("SIGIL_PID_FILE", pid_a.as_str())]].concat(),
    );
    let b = ServerProcess::start(
        dir.path(),
        &[common.as_slice(), &[("SIGIL_PID_FILE", pid_b.as_str())]].concat(),
    );
    let http = reqwest::Client::new();
    let email = unique_email();

    // Register on A, log in on B.
    let registered = http
        .post(format!("{}/auth/register", a.base))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Both"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let from_a: Value = registered.json().await.unwrap();
    let login_b = http
        .post(format!("{}/auth/login", b.base))
        .form(&[("username", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login_b.status(), 200, "a user registered on A logs in on B");

    // A's tokens work on B.
    let me = http
        .get(format!("{}/me", b.base))
        .bearer_auth(from_a["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        200,
        "an access token issued by A is accepted by B"
    );
    let refreshed = http
        .post(format!("{}/auth/refresh", b.base))
        .json(&json!({"refresh_token": from_a["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        200,
        "A's refresh token is refreshed by B"
    );
    let current: Value = refreshed.json().await.unwrap();

    // Revoke on B; A refuses.
    let logout = http
        .post(format!("{}/auth/logout", b.base))
        .json(&json!({"refresh_token": current["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let on_a = http
        .post(format!("{}/auth/refresh", a.base))
        .json(&json!({"refresh_token": current["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(on_a.status(), 401, "a family revoked on B is refused on A");

    // Failed logins spread over both instances add up to one lock.
    let victim = unique_email();
    http.post(format!("{}/auth/register", a.base))
        .json(&json!({"email": victim, "password": PASSWORD, "name": "Target"}))
        .send()
        .await
        .unwrap();
    for (i, base) in [&a.base, &b.base, &a.base, &b.base, &a.base]
        .into_iter()
        .enumerate()
    {
        let resp = http
            .post(format!("{base}/auth/login"))
            .form(&[("username", victim.as_str()), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "failure {i}");
    }
    let locked = http
        .post(format!("{}/auth/login", b.base))
        .form(&[("username", victim.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        locked.status(),
        429,
        "five failures on two instances lock the account on both"
    );

    // One rotation reaches both.
    assert_eq!(etag(&http, &a.base).await, etag(&http, &b.base).await);
    let before = etag(&http, &a.base).await;
    // The next key must be published for the max-age (1 s) before it may
    // sign: the script refuses until then, without signalling anyone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = keys::rotate_script(&dir.path().join("keys"))
            .env("SIGIL_PID_FILES", format!("{pid_a} {pid_b}"))
            .env("SIGIL_JWKS_MAX_AGE", "1s")
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    loop {
        let (ea, eb) = (etag(&http, &a.base).await, etag(&http, &b.base).await);
        if ea == eb && ea != before {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "both instances serve the new set within seconds"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "both instances served the rotated JWK Set after {:?}",
        started.elapsed()
    );
}
