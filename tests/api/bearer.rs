//! RFC 6750 §3 answers on bearer-protected routes.

use serde_json::Value;

use super::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn me_returns_the_signed_in_user() {
    let Some(app) = spawn_app().await else { return };
    let (email, access, _) = app.signed_up_user().await;

    let resp = app.get("/me", Some(&access)).await;

    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], "Test User");
    assert_eq!(body["scopes"], serde_json::json!(["profile"]));
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(
        body.as_object().unwrap().len(),
        4,
        "no hash or other member: {body}"
    );
}

#[tokio::test]
async fn no_authorization_header_is_a_401_with_a_bare_bearer_challenge() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.get("/me", None).await;

    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn an_unreadable_authorization_header_is_a_401_with_a_bare_bearer_challenge() {
    let Some(app) = spawn_app().await else { return };

    for value in ["Basic dXNlcjpwYXNz", "Bearer", "token-without-scheme"] {
        let resp = app
            .client
            .get(app.url("/me"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer",
            "for {value:?}"
        );
        assert_problem(resp, 401).await;
    }
}

#[tokio::test]
async fn a_garbage_token_is_a_401_invalid_token() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.get("/me", Some("not.a.token")).await;

    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_refresh_token_sent_as_bearer_is_rejected() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, refresh) = app.signed_up_user().await;

    let resp = app.get("/me", Some(&refresh)).await;

    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_token_without_the_admin_scope_gets_403_insufficient_scope_on_admin_routes() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, _) = app.signed_up_user().await;

    let resp = app.get("/admin/users", Some(&access)).await;

    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="admin""#
    );
    assert_problem(resp, 403).await;
}

#[tokio::test]
async fn a_disabled_users_still_valid_token_gets_401() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (_, access, refresh) = app.signed_up_user().await;
    let me: Value = app.get("/me", Some(&access)).await.json().await.unwrap();

    let patch = app
        .client
        .patch(app.url(&format!("/admin/users/{}", me["id"].as_str().unwrap())))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);

    let resp = app.get("/me", Some(&access)).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_problem(resp, 401).await;
    assert_problem(app.refresh(&refresh).await, 401).await;
}
