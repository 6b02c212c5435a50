//! The `sigil` binary itself: configuration errors, `users create`, the
//! first-start administrator and graceful shutdown on SIGTERM.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{PASSWORD, ServerProcess};

fn sigil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    // Nothing from the developer's environment or .env may leak in.
    cmd.env_clear().env("RUST_LOG", "info");
    cmd
}

const CHEAP: [&str; 4] = ["--argon2-memory-kib", "256", "--argon2-iterations", "1"];

#[test]
fn an_invalid_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = sigil()
        .current_dir(dir.path())
        .args(["serve"])
        .env("SIGIL_ACCESS_TTL", "soon")
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SIGIL_ACCESS_TTL"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn an_unreachable_database_stops_start_up_without_showing_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = sigil()
        .current_dir(dir.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            "postgres://sigil:s3cr3t-pw@127.0.0.1:1/sigil",
        ])
        .output()
        .unwrap();

    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("postgres://sigil:***@127.0.0.1:1/sigil"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t-pw"), "{stderr}");
}

/// Runs `sigil users create` on `db` with `stdin` as its standard input.
pub fn users_create(db: &str, email: &str, extra: &[&str], stdin: &str) -> std::process::Output {
    let mut child = sigil()
        .args(["users", "create", "--email", email, "--name", "Root"])
        .args(["--database-url", db])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn users_create_reads_the_password_from_stdin_and_makes_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sigil.db").display());
    let mut admin = vec!["--admin"];
    admin.extend(CHEAP);

    let out = users_create(&db, "root@example.com", &admin, &format!("{PASSWORD}\n"));

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    assert!(
        uuid::Uuid::parse_str(id.trim()).is_ok(),
        "prints the new id: {id}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(PASSWORD));

    // The password from stdin logs in, and the account holds the admin scope.
    let server = ServerProcess::start(dir.path(), &[("SIGIL_DATABASE_URL", &db)]);
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/auth/login", server.base))
        .form(&[("username", "root@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the password read from stdin logs in");
    let body: Value = login.json().await.unwrap();
    let scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert!(scopes.contains(&"admin"), "scope {scopes:?}");
    let users = client
        .get(format!("{}/admin/users", server.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200, "the admin may list users");
    let id = id.trim();
    let me: Value = client
        .get(format!("{}/me", server.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], id, "the printed id is the account's");
}

#[test]
fn users_create_refuses_a_taken_email_in_any_case_and_an_empty_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sigil.db").display());
    let first = users_create(&db, "root@example.com", &CHEAP, &format!("{PASSWORD}\n"));
    assert!(first.status.success());

    // A valid password on stdin: only the email can be the reason.
    let again = users_create(&db, "ROOT@example.com", &CHEAP, &format!("{PASSWORD}\n"));
    assert!(!again.status.success(), "a duplicate email is refused");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already"),
        "says the email is taken: {stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    let empty = users_create(&db, "other@example.com", &CHEAP, "");
    assert!(!empty.status.success(), "an empty stdin is refused");
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert!(stderr.contains("no password"), "{stderr}");
}

/// Runs `sigil users promote EMAIL` on `db`.
fn users_promote(db: &str, email: &str) -> std::process::Output {
    sigil()
        .args(["users", "promote", email, "--database-url", db])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Logs in over HTTP; the token response.
async fn login(base: &str, email: &str) -> Value {
    let login = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .form(&[("username", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "{email} logs in");
    login.json().await.unwrap()
}

#[tokio::test]
async fn users_promote_grants_admin_and_re_enables_an_account_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sigil.db").display());
    let mut admin = vec!["--admin"];
    admin.extend(CHEAP);
    assert!(
        users_create(&db, "root@example.com", &admin, &format!("{PASSWORD}\n"))
            .status
            .success()
    );
    let created = users_create(&db, "ops@example.com", &CHEAP, &format!("{PASSWORD}\n"));
    assert!(created.status.success());
    let ops_id = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let server = ServerProcess::start(dir.path(), &[("SIGIL_DATABASE_URL", &db)]);
    let client = reqwest::Client::new();
    // The administrator disables the account that will be promoted.
    let root = login(&server.base, "root@example.com").await;
    let disabled = client
        .patch(format!("{}/admin/users/{ops_id}", server.base))
        .bearer_auth(root["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);

    let out = users_promote(&db, "OPS@example.com");

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        ops_id,
        "prints the id"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("admin") && stderr.contains("enabled"),
        "says what it did: {stderr}"
    );
    // The running server sees the change at the next login.
    let ops = login(&server.base, "ops@example.com").await;
    let scopes: Vec<&str> = ops["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        scopes.contains(&"admin") && scopes.contains(&"profile"),
        "{scopes:?}"
    );
    let users = client
        .get(format!("{}/admin/users", server.base))
        .bearer_auth(ops["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200, "the promoted user administers");

    // Promoting again changes nothing and succeeds; an unknown email fails
    // with one line.
    let again = users_promote(&db, "ops@example.com");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let unknown = users_promote(&db, "nobody@example.com");
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sigil: ") && last.contains("no user"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_creates_the_bootstrap_admin_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_BOOTSTRAP_ADMIN_EMAIL", "boss@example.com"),
            ("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ],
    );
    let base = server.base.clone();
    let client = reqwest::Client::new();

    let login = client
        .post(format!("{base}/auth/login"))
        .form(&[("username", "boss@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["scope"], "profile admin");
    let pid_file = dir.path().join("data/sigil.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        server.child.id().to_string()
    );
    assert!(
        dir.path().join("keys/keyset.json").exists(),
        "keys generated under ./keys"
    );
    assert!(
        dir.path().join("data/sigil.db").exists(),
        "database under ./data"
    );

    server.signal("TERM");
    let exit = server.wait_for_exit();
    assert_eq!(exit.code(), Some(0));
    assert!(!pid_file.exists(), "pid file removed on exit");
}

#[tokio::test]
async fn sigterm_during_a_burst_answers_every_accepted_request_in_full_and_exits_0() {
    stop_during_a_burst("TERM").await;
}

#[tokio::test]
async fn sigint_during_a_burst_answers_every_accepted_request_in_full_and_exits_0() {
    stop_during_a_burst("INT").await;
}

/// Sends `signal` while a burst of logins is queued for the hasher: every
/// accepted request is answered in full and the server exits 0.
async fn stop_during_a_burst(signal: &str) {
    // One hash at a time at a real cost: a burst of logins queues up and is
    // still in flight when the signal arrives.
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_ARGON2_MEMORY_KIB", "19456"),
            ("SIGIL_ARGON2_ITERATIONS", "2"),
            ("SIGIL_HASH_CONCURRENCY", "1"),
            ("SIGIL_HASH_QUEUE", "100"),
            ("SIGIL_ADDRESS_FREE_LOGIN_FAILURES", "1000"),
        ],
    );
    let base = server.base.clone();
    // A fresh connection per request: a request is accepted once the server
    // has read it, which the metrics below confirm.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let burst: Vec<_> = (0..20)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                client
                    .post(format!("{base}/auth/login"))
                    .form(&[
                        ("username", format!("user{i}@example.com")),
                        ("password", "not the password".to_owned()),
                    ])
                    .send()
                    .await
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let waiting = text
            .lines()
            .find_map(|l| l.strip_prefix("sigil_password_hashes_waiting "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if waiting >= 10.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the burst never queued up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.signal(signal);

    let mut answered = 0;
    for request in burst {
        match request.await.unwrap() {
            Ok(resp) => {
                assert_eq!(resp.status(), 401);
                let body: Value = resp.json().await.expect("a complete body");
                assert_eq!(body["status"], 401);
                answered += 1;
            }
            // Not yet accepted when the listener closed: refused, never cut off.
            Err(e) => assert!(e.is_connect(), "an accepted request failed: {e}"),
        }
    }
    assert!(
        answered >= 10,
        "the queued requests were answered ({answered})"
    );
    let status = server.wait_for_exit();
    assert_eq!(status.code(), Some(0));
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "nothing listens any more"
    );
}
