//! An administrator cannot lock themselves out (remove their own admin
//! scope, disable themselves); another administrator can demote them, and
//! disabling revokes refresh at once.

use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, assert_oauth_error, assert_problem, spawn_app};

async fn user_id(app: &TestApp, admin: &str, email: &str) -> String {
    let users: Value = app
        .get("/admin/users?limit=500", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch_user(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_administrator_cannot_remove_their_own_admin_scope_or_disable_themselves() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    let my_id = me["id"].as_str().unwrap();

    let demote = patch_user(&app, &admin, my_id, json!({"scopes": ["profile"]})).await;
    let body = assert_problem(demote, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("your own"),
        "{body}"
    );
    let disable = patch_user(&app, &admin, my_id, json!({"disabled": true})).await;
    assert_problem(disable, 409).await;

    let still: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    assert_eq!(still["scopes"], json!(["profile", "admin"]));
    let harmless = patch_user(&app, &admin, my_id, json!({"scopes": ["admin", "profile"]})).await;
    assert_eq!(harmless.status(), 200, "keeping admin is fine");
}

#[tokio::test]
async fn another_administrator_can_demote_an_admin_and_disabling_revokes_refresh_at_once() {
    let Some(app) = spawn_app().await else { return };
    let first = app.admin_token().await;
    let (email, access, refresh) = app.signed_up_user().await;
    let id = user_id(&app, &first, &email).await;
    let promote = patch_user(&app, &first, &id, json!({"scopes": ["profile", "admin"]})).await;
    assert_eq!(promote.status(), 200);

    let disable = patch_user(&app, &first, &id, json!({"disabled": true})).await;
    let body: Value = disable.json().await.unwrap();

    assert_eq!(body["disabled"], true);
    assert_oauth_error(app.refresh(&refresh).await, 401).await;
    assert_problem(app.get("/me", Some(&access)).await, 401).await;
    let login = app.login_form(&email, PASSWORD).await;
    let problem = assert_oauth_error(login, 401).await;
    assert_eq!(problem["title"], "Invalid credentials", "the generic 401");
}
