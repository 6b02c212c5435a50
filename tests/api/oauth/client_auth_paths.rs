//! Revocation and introspection by confidential clients (SPEC §7), written
//! against the HTTP contract only: clients are made with `POST
//! /admin/clients` and get tokens from the client-credentials grant.
//!
//! Not listed in `per_backend!` yet: it needs the clients branch
//! (`/admin/clients`, client authentication). Enable it at the merge with
//! `oauth: [client_auth_paths, errors, introspect, revoke]`.

use serde_json::{Value, json};

use super::helpers::{Auth, TestApp, assert_oauth_error, spawn_app};

/// A confidential client: (client_id, client_secret).
async fn create_client(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let resp = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(admin)
        .json(&json!({"name": name, "scopes": ["profile"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "client creation failed");
    let body: Value = resp.json().await.unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An access token from the client-credentials grant, by HTTP Basic.
async fn client_token(app: &TestApp, id: &str, secret: &str) -> String {
    let resp = app
        .client
        .post(app.url("/auth/login"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "client-credentials grant failed");
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_revokes_its_own_access_tokens_by_basic_and_by_post() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (id, secret) = create_client(&app, &admin, "orders").await;
    let revoked_by_basic = client_token(&app, &id, &secret).await;
    let revoked_by_post = client_token(&app, &id, &secret).await;
    assert_eq!(
        app.introspect(Auth::Bearer(&admin), &revoked_by_basic)
            .await["active"],
        true
    );

    let basic = app
        .revoke(Auth::Basic(&id, &secret), &revoked_by_basic)
        .await;
    let post = app.revoke(Auth::Post(&id, &secret), &revoked_by_post).await;

    assert_eq!(basic.status(), 200);
    assert_eq!(post.status(), 200);
    for token in [&revoked_by_basic, &revoked_by_post] {
        assert_eq!(
            app.introspect(Auth::Bearer(&admin), token).await,
            json!({"active": false})
        );
    }
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token_or_a_users_tokens() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (owner, owner_secret) = create_client(&app, &admin, "owner").await;
    let (other, other_secret) = create_client(&app, &admin, "other").await;
    let token = client_token(&app, &owner, &owner_secret).await;
    let (_, user_access, user_refresh) = app.signed_up_user().await;

    for victim in [&token, &user_access, &user_refresh] {
        let resp = app.revoke(Auth::Basic(&other, &other_secret), victim).await;
        let body = assert_oauth_error(resp, 400).await;
        assert_eq!(body["error"], "unauthorized_client");
    }

    assert_eq!(
        app.introspect(Auth::Bearer(&admin), &token).await["active"],
        true
    );
    assert_eq!(app.get("/me", Some(&user_access)).await.status(), 200);
    assert_eq!(app.refresh(&user_refresh).await.status(), 200);
}

#[tokio::test]
async fn a_client_introspects_users_tokens_and_its_own() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (id, secret) = create_client(&app, &admin, "gateway").await;
    let own = client_token(&app, &id, &secret).await;
    let (email, user_access, _) = app.signed_up_user().await;

    let user = app
        .introspect(Auth::Basic(&id, &secret), &user_access)
        .await;
    let mine = app.introspect(Auth::Post(&id, &secret), &own).await;

    assert_eq!(user["active"], true);
    assert_eq!(user["username"], email);
    assert_eq!(user["client_id"], "sigil");
    assert_eq!(mine["active"], true);
    assert_eq!(mine["client_id"], id);
    assert_eq!(mine["sub"], id);
    assert!(mine.get("username").is_none(), "{mine}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_401_invalid_client_on_both_endpoints() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (id, secret) = create_client(&app, &admin, "mistyped").await;
    let token = client_token(&app, &id, &secret).await;

    let revoke = app.revoke(Auth::Basic(&id, "wrong"), &token).await;
    let challenge = revoke.headers()["www-authenticate"].clone();
    let revoke = assert_oauth_error(revoke, 401).await;
    let introspect = app
        .post_oauth(
            "/oauth/introspect",
            Auth::Post(&id, "wrong"),
            &[("token", &token)],
        )
        .await;
    let introspect = assert_oauth_error(introspect, 401).await;

    assert_eq!(revoke["error"], "invalid_client");
    assert!(challenge.to_str().unwrap().starts_with("Basic"));
    assert_eq!(introspect["error"], "invalid_client");
    assert_eq!(
        app.introspect(Auth::Bearer(&admin), &token).await["active"],
        true
    );
}
