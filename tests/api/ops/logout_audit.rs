//! The `logout` audit event names the user whose session ended, like every
//! other audit event about a user.

use serde_json::{Value, json};

use crate::helpers::{ServerProcess, register_at};

#[tokio::test]
async fn the_logout_audit_event_carries_the_user_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[("SIGIL_SIGNING_ALG", "EdDSA")]);
    let http = reqwest::Client::new();
    let tokens = register_at(&http, &server.base).await;
    let me: Value = http
        .get(format!("{}/me", server.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logout = |token: String| {
        http.post(format!("{}/auth/logout", server.base))
            .json(&json!({"refresh_token": token}))
            .send()
    };

    let known = logout(tokens["refresh_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    let unknown = logout("x".repeat(43)).await.unwrap();

    assert_eq!(known.status(), 204);
    assert_eq!(unknown.status(), 204);
    server.wait_for_log("the logout event", |v| v["event"] == "logout");
    let events: Vec<Value> = server
        .json_lines()
        .into_iter()
        .filter(|v| v["target"] == "audit" && v["event"] == "logout")
        .collect();
    assert_eq!(
        events.len(),
        1,
        "an unknown token logs out nobody: {events:?}"
    );
    assert_eq!(events[0]["user_id"], me["id"], "{events:?}");
    assert!(events[0]["family_id"].is_string(), "{events:?}");
}
