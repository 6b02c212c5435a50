use serde_json::{Value, json};

use super::helpers::{PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn admins_list_users_with_limit_and_offset() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    for _ in 0..3 {
        app.signed_up_user().await;
    }

    let all: Value = app
        .get("/admin/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let page = app.get("/admin/users?limit=2&offset=1", Some(&admin)).await;

    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    for user in all {
        let mut names: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(
            names,
            ["created_at", "disabled", "email", "id", "name", "scopes"]
        );
    }
    assert_eq!(page.status(), 200);
    let page: Value = page.json().await.unwrap();
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["id"], all[1]["id"]);
    assert_eq!(page[1]["id"], all[2]["id"]);
}

#[tokio::test]
async fn a_limit_outside_1_to_500_is_a_400() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;

    for query in ["limit=0", "limit=501", "limit=-1", "limit=abc", "offset=-5"] {
        let resp = app
            .get(&format!("/admin/users?{query}"), Some(&admin))
            .await;
        assert_problem(resp, 400).await;
    }
    assert_eq!(
        app.get("/admin/users?limit=500", Some(&admin))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn patching_an_unknown_user_is_a_404_and_an_unknown_scope_a_422() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (email, _, _) = app.signed_up_user().await;
    let users: Value = app
        .get("/admin/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email.as_str())
        .unwrap()["id"]
        .clone();

    let unknown = app
        .client
        .patch(app.url(&format!("/admin/users/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404).await;

    let bad_scope = app
        .client
        .patch(app.url(&format!("/admin/users/{}", id.as_str().unwrap())))
        .bearer_auth(&admin)
        .json(&json!({"scopes": ["profile", "root"]}))
        .send()
        .await
        .unwrap();
    assert_problem(bad_scope, 422).await;
}

#[tokio::test]
async fn granting_admin_takes_effect_at_the_next_login() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (email, _, _) = app.signed_up_user().await;
    let users: Value = app
        .get("/admin/users", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email.as_str())
        .unwrap()["id"]
        .clone();

    let resp = app
        .client
        .patch(app.url(&format!("/admin/users/{}", id.as_str().unwrap())))
        .bearer_auth(&admin)
        .json(&json!({"scopes": ["profile", "admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["scopes"], json!(["profile", "admin"]));

    let login: Value = app.login_form(&email, PASSWORD).await.json().await.unwrap();
    assert_eq!(login["scope"], "profile admin");
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(app.get("/admin/users", Some(token)).await.status(), 200);
}

#[tokio::test]
async fn a_disabled_administrators_still_valid_token_is_refused_on_admin_routes_with_401() {
    let Some(app) = spawn_app().await else { return };
    let (victim, other) = (app.admin_token().await, app.admin_token().await);
    let me: Value = app.get("/me", Some(&victim)).await.json().await.unwrap();
    assert_eq!(
        app.get("/admin/users", Some(&victim)).await.status(),
        200,
        "the token works before"
    );

    let patch = app
        .client
        .patch(app.url(&format!("/admin/users/{}", me["id"].as_str().unwrap())))
        .bearer_auth(&other)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);

    let resp = app.get("/admin/users", Some(&victim)).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
    assert_eq!(
        app.get("/admin/users", Some(&other)).await.status(),
        200,
        "the other administrator is unaffected"
    );
}
