//! Bearer checks are answered from memory, and a change of the user by
//! another process is still seen by the very next request: here `sigil users
//! promote`, a process of its own on the same database (on SQLite through
//! the change file beside the database, on PostgreSQL through
//! notifications).

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, spawn_app};

async fn patch_user(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Runs `sigil users promote EMAIL` on the app's database, as an operator.
fn users_promote(app: &TestApp, email: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .env_clear()
        .args(["users", "promote", email, "--database-url"])
        .arg(app.database_url.expose())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refused_admin_is_accepted_by_the_very_next_request_after_users_promote() {
    let Some(app) = spawn_app().await else { return };
    let root = app.admin_token().await;
    let (email, _, _) = app.signed_up_user().await;
    let me: Value = app.login_form(&email, PASSWORD).await.json().await.unwrap();
    let id = {
        let token = me["access_token"].as_str().unwrap();
        let me: Value = app.get("/me", Some(token)).await.json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    };
    let granted = patch_user(&app, &root, &id, json!({"scopes": ["profile", "admin"]})).await;
    assert_eq!(granted.status(), 200);
    // A token that names `admin`, of a user who no longer holds it.
    let login: Value = app.login_form(&email, PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    assert!(login["scope"].as_str().unwrap().contains("admin"));
    let demoted = patch_user(&app, &root, &id, json!({"scopes": ["profile"]})).await;
    assert_eq!(demoted.status(), 200);
    for _ in 0..3 {
        // Refused, and the user as it is now held in memory.
        let users = app.get("/admin/users", Some(&token)).await;
        assert_eq!(users.status(), 403);
    }

    users_promote(&app, &email);

    let users = app.get("/admin/users", Some(&token)).await;
    assert_eq!(users.status(), 200, "the very next request sees the promotion");
}
