//! `sigil clients create | list | disable | rotate-secret` against the
//! database of a running server: what the command makes, the server serves.

use std::process::{Command, Output};

use serde_json::Value;

use super::helpers::{Options, TestApp, spawn_app_with};
use super::support::{assert_oauth_error, claims, token_basic, token_post};

/// `sigil clients ARGS` on the app's database, with two declared scopes.
async fn sigil(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    cmd.env_clear()
        .env("RUST_LOG", "warn")
        .env("SIGIL_DATABASE_URL", app.database_url.expose())
        .env("SIGIL_SCOPES", "orders:read orders:write")
        .args(["clients"])
        .args(args);
    run(cmd).await
}

/// Runs `cmd` off the test's runtime: the server lives on that runtime, and
/// a write it has begun must be able to finish while the command waits for
/// the database.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// The `name: value` lines a command printed on stdout.
fn printed(out: &Output, name: &str) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .to_owned()
}

fn declaring_orders() -> Options {
    Options {
        tweak: Box::new(|s| {
            s.clients.scopes = vec!["orders:read".into(), "orders:write".into()];
        }),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_client_made_on_the_command_line_gets_tokens_until_it_is_disabled() {
    let Some(app) = spawn_app_with(declaring_orders()).await else {
        return;
    };

    let out = sigil(
        &app,
        &["create", "--name", "Orders sync", "--scope", "orders:read orders:write", "--audience", "https://orders.test"],
    ).await;
    let id = printed(&out, "client_id");
    let secret = printed(&out, "client_secret");
    assert!(String::from_utf8_lossy(&out.stderr).contains("never shown again"));

    let resp = token_basic(&app, &id, &secret, Some("orders:read")).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["aud"], "https://orders.test");
    assert_eq!(claims["scope"], "orders:read");

    let listed = sigil(&app, &["list", "--json"]).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert_eq!(listed[0]["scopes"][1], "orders:write");
    assert!(!String::from_utf8_lossy(&sigil(&app, &["list"]).await.stdout).contains(&secret));

    let disabled = sigil(&app, &["disable", &id]).await;
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    let refused = token_post(&app, &id, &secret, None).await;
    assert_oauth_error(refused, 401, "invalid_client").await;
}

#[tokio::test]
async fn rotate_secret_prints_a_new_secret_and_the_old_one_keeps_working_for_the_overlap() {
    let Some(app) = spawn_app_with(declaring_orders()).await else {
        return;
    };
    let out = sigil(&app, &["create", "--name", "Job", "--scope", "profile"]).await;
    let (id, old) = (printed(&out, "client_id"), printed(&out, "client_secret"));

    let rotated = sigil(&app, &["rotate-secret", &id]).await;
    let new = printed(&rotated, "client_secret");

    assert_ne!(new, old);
    assert_eq!(token_basic(&app, &id, &new, None).await.status(), 200);
    assert_eq!(token_basic(&app, &id, &old, None).await.status(), 200, "within a day");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    cmd.env_clear()
        .env("SIGIL_DATABASE_URL", app.database_url.expose())
        .env("SIGIL_CLIENT_SECRET_OVERLAP", "0")
        .args(["clients", "rotate-secret", &id]);
    let now = run(cmd).await;
    let newest = printed(&now, "client_secret");
    assert_eq!(token_basic(&app, &id, &newest, None).await.status(), 200);
    assert_eq!(token_basic(&app, &id, &new, None).await.status(), 401, "no overlap");
}

#[tokio::test]
async fn the_command_line_refuses_undeclared_scopes_and_unknown_clients_in_one_line() {
    let Some(app) = spawn_app_with(declaring_orders()).await else {
        return;
    };

    let undeclared = sigil(&app, &["create", "--name", "x", "--scope", "orders:delete"]).await;
    assert_eq!(undeclared.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&undeclared.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sigil: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("orders:delete"), "{stderr}");

    let unknown = sigil(&app, &["disable", "svc_nosuchclient0000"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such client"));

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    cmd.env_clear()
        .env("SIGIL_DATABASE_URL", app.database_url.expose())
        .env("SIGIL_SCOPES", "a\"b")
        .args(["clients", "create", "--name", "x", "--scope", "profile"]);
    let bad_setting = run(cmd).await;
    assert_eq!(bad_setting.status.code(), Some(2));
    let listed: Value = serde_json::from_slice(&sigil(&app, &["list", "--json"]).await.stdout).unwrap();
    assert_eq!(listed, serde_json::json!([]), "nothing stored");
}
