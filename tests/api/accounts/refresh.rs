use serde_json::{Value, json};

use super::helpers::{Options, assert_oauth_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_refresh_returns_new_tokens_and_uses_up_the_old_refresh_token() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, refresh) = app.signed_up_user().await;

    let first = app.refresh(&refresh).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let body: Value = first.json().await.unwrap();
    let newer = body["refresh_token"].as_str().unwrap();
    assert_ne!(newer, refresh);
    assert_eq!(body["scope"], "profile");

    let again = app.refresh(newer).await;
    assert_eq!(again.status(), 200, "the new refresh token works");
}

/// A server whose refresh tokens have no reuse interval: every second
/// presentation of a used-up token is reuse.
fn strict() -> Options {
    Options {
        tweak: Box::new(|s| s.refresh_reuse_interval = std::time::Duration::ZERO),
        ..Options::default()
    }
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_whole_family() {
    let Some(app) = spawn_app_with(strict()).await else {
        return;
    };
    let (_, _, original) = app.signed_up_user().await;
    let body: Value = app.refresh(&original).await.json().await.unwrap();
    let newest = body["refresh_token"].as_str().unwrap().to_owned();

    let reuse = app.refresh(&original).await;

    assert_oauth_error(reuse, 401).await;
    let newest_after = app.refresh(&newest).await;
    assert_oauth_error(newest_after, 401).await;
}

#[tokio::test]
async fn refresh_accepts_the_oauth2_form_on_both_endpoints() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, refresh) = app.signed_up_user().await;

    let on_refresh = app
        .post_form(
            "/auth/refresh",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(on_refresh.status(), 200);
    let body: Value = on_refresh.json().await.unwrap();

    let on_login = app
        .post_form(
            "/auth/login",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(on_login.status(), 200);
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens_get_401() {
    let Some(app) = spawn_app().await else { return };

    for token in ["", "short", &"A".repeat(43), &"x".repeat(5000)] {
        let resp = app.refresh(token).await;
        let body = assert_oauth_error(resp, 401).await;
        assert_eq!(body["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn logout_revokes_the_family_and_answers_204_even_for_unknown_tokens() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, refresh) = app.signed_up_user().await;
    let body: Value = app.refresh(&refresh).await.json().await.unwrap();
    let current = body["refresh_token"].as_str().unwrap().to_owned();

    let logout = app
        .post_json("/auth/logout", &json!({"refresh_token": refresh}))
        .await;
    assert_eq!(logout.status(), 204);

    assert_oauth_error(app.refresh(&current).await, 401).await;
    let unknown = app
        .post_json("/auth/logout", &json!({"refresh_token": "A".repeat(43)}))
        .await;
    assert_eq!(unknown.status(), 204);
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, _) = app.signed_up_user().await;

    assert_oauth_error(app.refresh(&access).await, 401).await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_a_401_over_http() {
    const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| s.refresh_ttl = TTL),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (_, _, refresh) = app.signed_up_user().await;
    // The token was made before the answer came: it has expired one TTL
    // later, plus a second for whole-second clocks. Never presented before,
    // so nothing but its age can be the reason.
    let expired_by = std::time::Instant::now() + TTL + std::time::Duration::from_secs(1);
    tokio::time::sleep_until(expired_by.into()).await;

    let resp = app.refresh(&refresh).await;

    let problem = assert_oauth_error(resp, 401).await;
    assert_eq!(problem["error"], "invalid_grant", "{problem}");
}
