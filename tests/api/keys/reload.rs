//! A running server follows its keys folder: SIGHUP and the folder watcher
//! reload it, and a folder that fails to load changes nothing.

use std::path::Path;

use serde_json::Value;

use crate::helpers::{PASSWORD, ServerProcess, keys, unique_email};

const ERROR_LINE: &str = "key set could not be loaded";

fn copy_folder(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Puts the saved folder back, file by file (the folder itself stays, so the watcher keeps working).
fn restore(backup: &Path, keys: &Path) {
    for entry in std::fs::read_dir(keys).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    for entry in std::fs::read_dir(backup).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
    }
}

/// Load errors of reloads that SIGHUP caused: the restore between cases
/// can make the watcher load a half-copied folder too, and such an error
/// must not stand in for the one the broken folder causes.
fn signal_errors(lines: &[Value]) -> usize {
    lines
        .iter()
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains(ERROR_LINE))
                && v["trigger"] == "Signal"
        })
        .count()
}

#[tokio::test]
async fn a_broken_keys_folder_is_refused_with_a_logged_error_while_serving_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[("SIGIL_SIGNING_ALG", "EdDSA")]);
    let client = reqwest::Client::new();
    let keys = dir.path().join("keys");
    let backup = dir.path().join("keys-backup");
    copy_folder(&keys, &backup);
    let email = unique_email();
    let body: Value = client
        .post(format!("{}/auth/register", server.base))
        .json(&serde_json::json!({"email": email, "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let etag_before = client
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    let kid_of = |state: &str| keys::kid_in_state(&keys, state);
    let (active, next) = (kid_of("active"), kid_of("next"));

    type Breakage = Box<dyn Fn(&Path)>;
    let breakages: Vec<(&str, Breakage)> = vec![
        (
            "garbage manifest",
            Box::new(|k: &Path| std::fs::write(k.join("keyset.json"), "{ not json").unwrap()),
        ),
        (
            "truncated active key",
            Box::new(move |k: &Path| {
                let path = k.join(format!("{active}.pem"));
                let text = std::fs::read(&path).unwrap();
                std::fs::write(&path, &text[..text.len() / 2]).unwrap();
            }),
        ),
        (
            "unreadable next key",
            Box::new(move |k: &Path| {
                let path = k.join(format!("{next}.pem"));
                std::fs::remove_file(&path).unwrap();
                std::fs::create_dir(&path).unwrap();
            }),
        ),
    ];
    for (case, breakage) in &breakages {
        restore(&backup, &keys);
        let errors_before = signal_errors(&server.json_lines());
        breakage(&keys);
        server.signal("HUP");
        // The error of the reload this SIGHUP caused: the broken folder was
        // loaded and refused.
        server.wait_for_lines("the load error", |lines| {
            signal_errors(lines) > errors_before
        });

        let me = client
            .get(format!("{}/me", server.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "{case}: old tokens still verify");
        let jwks = client
            .get(format!("{}/.well-known/jwks.json", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(jwks.status(), 200);
        assert_eq!(
            jwks.headers()["etag"],
            etag_before,
            "{case}: the served set did not change"
        );
        let login = client
            .post(format!("{}/auth/login", server.base))
            .form(&[("username", email.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "{case}: signing goes on");
    }
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains("PRIVATE KEY"), "no key material in logs");
}

#[tokio::test]
async fn reloading_an_unchanged_folder_swaps_nothing_and_a_broken_one_is_an_error() {
    let app = crate::helpers::spawn_app().await;
    let reloaded = app
        .reloader
        .reload(sigil::reload::Trigger::Signal)
        .await
        .unwrap();
    assert!(!reloaded);

    std::fs::write(app.keys_dir.join("keyset.json"), b"[]").unwrap();
    assert!(
        app.reloader
            .reload(sigil::reload::Trigger::Signal)
            .await
            .is_err()
    );
    assert_eq!(app.get("/readyz", None).await.status(), 200);
}

#[tokio::test]
async fn a_rotation_is_picked_up_without_sighup_by_watching_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    // This test sends no signal, and `sigil keys rotate` sends none either.
    let server = ServerProcess::start(dir.path(), &[("SIGIL_SIGNING_ALG", "EdDSA")]);
    let keys = dir.path().join("keys");
    let before = keys::kid_in_state(&keys, "active");

    // `sigil keys rotate` alone rotates the folder and signals no one.
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
        .env_clear()
        .env("SIGIL_KEYS_DIR", &keys)
        .env("SIGIL_SIGNING_ALG", "EdDSA")
        .current_dir(dir.path())
        .args(["keys", "rotate", "--force"])
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let after = keys::kid_in_state(&keys, "active");
    assert_ne!(before, after);

    server.wait_for_log("the reload of the rotated folder", |v| {
        v["event"] == "keys_reloaded" && v["active_kid"] == after.as_str()
    });
    let reloads: Vec<Value> = server
        .json_lines()
        .into_iter()
        .filter(|v| v["event"] == "keys_reloaded" && v["active_kid"] == after.as_str())
        .collect();
    for reload in &reloads {
        assert!(
            reload["trigger"] == "Watcher" || reload["trigger"] == "Poll",
            "reloaded by watching the folder, not by a signal: {reload}"
        );
    }
    let body: Value = reqwest::Client::new()
        .post(format!("{}/auth/register", server.base))
        .json(&serde_json::json!({"email": unique_email(), "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = crate::helpers::segment(body["access_token"].as_str().unwrap(), 0);
    assert_eq!(header["kid"], after.as_str(), "it signs with the new key");
}
