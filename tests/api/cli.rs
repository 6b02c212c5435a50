//! The `sigil` binary itself: configuration errors, `users create`, the
//! first-start administrator, and graceful shutdown on SIGTERM.

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

#[test]
fn users_create_reads_the_password_from_stdin_and_makes_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sigil.db").display());
    let mut child = sigil()
        .args([
            "users",
            "create",
            "--email",
            "root@example.com",
            "--name",
            "Root",
            "--admin",
            "--database-url",
            &db,
        ])
        .args(CHEAP)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();

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

    let again = sigil()
        .args([
            "users",
            "create",
            "--email",
            "ROOT@example.com",
            "--name",
            "Root",
            "--database-url",
            &db,
        ])
        .args(CHEAP)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "empty stdin or duplicate email is refused"
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
    let exit = wait_with_timeout(&mut server.child, Duration::from_secs(30));
    assert_eq!(exit.code(), Some(0));
    assert!(!pid_file.exists(), "pid file removed on exit");
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("server did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
