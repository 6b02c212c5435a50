//! The client-credentials grant at `/auth/login` (RFC 6749 §4.4), the
//! `client_id` claim of every access token (RFC 9068 §2.2), and what a
//! client's token may do on sigil's own routes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::helpers::{Auth, Options, assert_problem, spawn_app, spawn_app_with};
use super::support::{
    assert_oauth_error, claims, client_access_token, create_client, patch_client, rotate_secret,
    token_basic, token_post,
};

#[tokio::test]
async fn a_client_gets_a_token_with_basic_and_with_post_and_no_refresh_token() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile", "admin"], None).await;

    for resp in [
        token_basic(&app, &client.id, &client.secret, None).await,
        token_post(&app, &client.id, &client.secret, None).await,
    ] {
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: Value = resp.json().await.unwrap();
        assert!(body.get("refresh_token").is_none(), "no refresh token: {body}");
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["scope"], "profile admin");
        assert_eq!(body["expires_in"], 900);
        let claims = claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["sub"], client.id.as_str());
        assert_eq!(claims["client_id"], client.id.as_str());
        assert_eq!(claims["scope"], "profile admin");
        assert_eq!(claims["aud"], app.issuer.as_str(), "default audience");
        assert_eq!(claims["iss"], app.issuer.as_str());
    }
}

#[tokio::test]
async fn a_client_with_an_audience_gets_tokens_for_that_audience_which_introspect_and_revoke() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], Some("https://orders.test")).await;

    let token = client_access_token(&app, &client).await;

    assert_eq!(claims(&token)["aud"], "https://orders.test");
    // Meant for another service, not for sigil's own routes.
    assert_problem(app.get("/admin/users", Some(&token)).await, 401).await;
    // That service may still ask sigil about it, and the client may revoke it.
    let active = app.introspect(Auth::Bearer(&admin), &token).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["aud"], "https://orders.test");
    assert_eq!(active["client_id"], client.id.as_str());
    let revoked = app
        .post_oauth(
            "/oauth/revoke",
            Auth::Basic(&client.id, &client.secret),
            &[("token", token.as_str())],
        )
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        app.introspect(Auth::Bearer(&admin), &token).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_requested_scope_must_be_a_subset_of_the_clients_scopes() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let narrowed = token_basic(&app, &client.id, &client.secret, Some("profile")).await;
    assert_eq!(narrowed.status(), 200);
    let body: Value = narrowed.json().await.unwrap();
    assert_eq!(claims(body["access_token"].as_str().unwrap())["scope"], "profile");

    let wider = token_basic(&app, &client.id, &client.secret, Some("profile admin")).await;
    assert_oauth_error(wider, 400, "invalid_scope").await;
    let unknown = token_post(&app, &client.id, &client.secret, Some("root")).await;
    assert_oauth_error(unknown, 400, "invalid_scope").await;
}

#[tokio::test]
async fn a_wrong_or_missing_client_authentication_is_invalid_client() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let basic = token_basic(&app, &client.id, "wrong-secret", None).await;
    assert_eq!(basic.headers()["www-authenticate"], r#"Basic realm="sigil""#);
    assert_oauth_error(basic, 401, "invalid_client").await;

    let post = token_post(&app, &client.id, "wrong-secret", None).await;
    assert!(post.headers().get("www-authenticate").is_none(), "Basic was not tried");
    assert_oauth_error(post, 401, "invalid_client").await;

    let none = app
        .post_form("/auth/login", &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(none, 401, "invalid_client").await;
    let id_only = app
        .post_form(
            "/auth/login",
            &[("grant_type", "client_credentials"), ("client_id", &client.id)],
        )
        .await;
    assert_oauth_error(id_only, 401, "invalid_client").await;

    let unknown = app
        .post_form("/auth/login", &[("grant_type", "authorization_code")])
        .await;
    assert_oauth_error(unknown, 400, "unsupported_grant_type").await;
}

#[tokio::test]
async fn a_disabled_client_is_refused_on_its_very_next_token_request_and_its_tokens_too() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["admin"], None).await;
    let token = client_access_token(&app, &client).await;
    assert_eq!(app.get("/admin/users", Some(&token)).await.status(), 200);
    assert_eq!(app.introspect(Auth::Bearer(&admin), &token).await["active"], true);

    let resp = patch_client(&app, &admin, &client.id, &json!({"disabled": true})).await;
    assert_eq!(resp.status(), 200);

    let next = token_basic(&app, &client.id, &client.secret, None).await;
    assert_oauth_error(next, 401, "invalid_client").await;
    assert_problem(app.get("/admin/users", Some(&token)).await, 401).await;
    assert_eq!(
        app.introspect(Auth::Bearer(&admin), &token).await,
        json!({"active": false}),
        "a disabled client's token introspects inactive"
    );

    let resp = patch_client(&app, &admin, &client.id, &json!({"disabled": false})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        token_basic(&app, &client.id, &client.secret, None).await.status(),
        200,
        "re-enabled"
    );
}

fn overlap(seconds: u64) -> Options {
    Options {
        tweak: Box::new(move |s| s.clients.secret_overlap = Duration::from_secs(seconds)),
        ..Options::default()
    }
}

#[tokio::test]
async fn the_previous_secret_works_until_the_overlap_ends_and_then_fails() {
    let Some(app) = spawn_app_with(overlap(2)).await else {
        return;
    };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let new = rotate_secret(&app, &admin, &client.id).await;

    assert_eq!(token_basic(&app, &client.id, &client.secret, None).await.status(), 200);
    assert_eq!(token_basic(&app, &client.id, &new, None).await.status(), 200);
    // Ask until the old secret stops working: within the overlap and a
    // margin, never before the overlap (checked against the clock above).
    let rotated = Instant::now();
    let ended = loop {
        let resp = token_basic(&app, &client.id, &client.secret, None).await;
        if resp.status() == 401 {
            break rotated.elapsed();
        }
        assert_eq!(resp.status(), 200);
        assert!(rotated.elapsed() < Duration::from_secs(30), "the old secret never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ended > Duration::from_millis(500), "the old secret worked for a while");
    assert_eq!(token_basic(&app, &client.id, &new, None).await.status(), 200);
}

#[tokio::test]
async fn with_no_overlap_the_previous_secret_fails_at_once() {
    let Some(app) = spawn_app_with(overlap(0)).await else {
        return;
    };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let new = rotate_secret(&app, &admin, &client.id).await;

    let old = token_basic(&app, &client.id, &client.secret, None).await;
    assert_oauth_error(old, 401, "invalid_client").await;
    assert_eq!(token_post(&app, &client.id, &new, None).await.status(), 200);
}

#[tokio::test]
async fn every_users_token_carries_the_public_client_id() {
    let Some(app) = spawn_app().await else { return };
    let (email, registered, refresh) = app.signed_up_user().await;
    let login: Value = app
        .login_form(&email, super::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let refreshed: Value = app.refresh(&refresh).await.json().await.unwrap();

    for token in [
        registered.as_str(),
        login["access_token"].as_str().unwrap(),
        refreshed["access_token"].as_str().unwrap(),
    ] {
        assert_eq!(claims(token)["client_id"], "sigil");
    }
    let admin = app.admin_token().await;
    assert_eq!(claims(&admin)["client_id"], "sigil");
}

#[tokio::test]
async fn the_public_client_id_is_a_setting() {
    let options = Options {
        tweak: Box::new(|s| s.clients.public_client_id = "web-app".to_owned()),
        ..Options::default()
    };
    let Some(app) = spawn_app_with(options).await else {
        return;
    };
    let (_, token, _) = app.signed_up_user().await;

    assert_eq!(claims(&token)["client_id"], "web-app");
    assert_eq!(app.get("/me", Some(&token)).await.status(), 200);
}

#[tokio::test]
async fn a_client_token_gets_403_on_me_and_200_on_admin_users_with_admin() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let robot = create_client(&app, &admin, &["profile", "admin"], None).await;
    let token = client_access_token(&app, &robot).await;

    let me = app.get("/me", Some(&token)).await;
    let body = assert_problem(me, 403).await;
    assert_eq!(body["type"], "urn:sigil:problem:not-a-user");
    assert_eq!(app.get("/admin/users", Some(&token)).await.status(), 200);

    let plain = create_client(&app, &admin, &["profile"], None).await;
    let token = client_access_token(&app, &plain).await;
    assert_problem(app.get("/admin/users", Some(&token)).await, 403).await;
}
