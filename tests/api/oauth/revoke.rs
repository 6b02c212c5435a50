//! `POST /oauth/revoke` (RFC 7009): refresh tokens by family, access tokens
//! until they expire, 200 for anything unknown, and who may revoke what.

use serde_json::{Value, json};

use super::helpers::{Auth, assert_oauth_error, now, spawn_app};

#[tokio::test]
async fn a_refresh_token_revoked_without_client_authentication_revokes_its_family() {
    let Some(app) = spawn_app().await else { return };
    let (email, _, first) = app.signed_up_user().await;
    let rotated: Value = app.refresh(&first).await.json().await.unwrap();
    let successor = rotated["refresh_token"].as_str().unwrap().to_owned();
    let other: Value = app
        .login_form(&email, super::helpers::PASSWORD)
        .await
        .json()
        .await
        .unwrap();

    // The used-up first token names the family; revoking it ends the successor.
    let resp = app.revoke(Auth::None, &first).await;

    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.refresh(&successor).await.status(),
        401,
        "the family's newest token is revoked with it"
    );
    let other_session = app
        .refresh(other["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(other_session.status(), 200, "another login's family is untouched");
}

#[tokio::test]
async fn the_public_client_id_in_the_form_changes_nothing_and_a_wrong_hint_does_not_stop_the_search()
{
    let Some(app) = spawn_app().await else { return };
    for hint in ["access_token", "no_such_hint"] {
        let (_, _, refresh) = app.signed_up_user().await;

        let resp = app
            .post_oauth(
                "/oauth/revoke",
                Auth::None,
                &[
                    ("token", &refresh),
                    ("token_type_hint", hint),
                    ("client_id", "sigil"),
                ],
            )
            .await;

        assert_eq!(resp.status(), 200, "hint {hint}");
        assert_eq!(app.refresh(&refresh).await.status(), 401, "hint {hint}");
    }
}

#[tokio::test]
async fn unknown_garbage_empty_expired_and_huge_tokens_get_200() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, refresh) = app.signed_up_user().await;
    let admin = app.admin_token().await;
    let mut expired = app.valid_claims(&uuid::Uuid::new_v4().to_string());
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 4000);
    expired["nbf"] = json!(now() - 4000);
    let expired = app.sign_with_active_key(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": app.active_kid()}),
        &expired,
    );
    let huge = "x".repeat(10 * 1024);
    let unknown_refresh = "A".repeat(43);
    let tokens = [
        "",
        "garbage",
        "a.b.c",
        unknown_refresh.as_str(),
        expired.as_str(),
        huge.as_str(),
    ];

    for token in tokens {
        for auth in [Auth::None, Auth::Bearer(&admin)] {
            let resp = app.revoke(auth, token).await;
            assert_eq!(resp.status(), 200, "token of {} bytes", token.len());
        }
    }

    assert_eq!(app.get("/me", Some(&access)).await.status(), 200);
    assert_eq!(app.refresh(&refresh).await.status(), 200, "nothing else was revoked");
}

#[tokio::test]
async fn an_access_token_presented_without_client_authentication_is_refused_and_keeps_working() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, _) = app.signed_up_user().await;

    let resp = app.revoke(Auth::None, &access).await;

    let body = assert_oauth_error(resp, 401).await;
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(app.get("/me", Some(&access)).await.status(), 200);
}

#[tokio::test]
async fn an_access_token_revoked_by_an_administrator_is_refused_by_sigil_from_then_on() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, refresh) = app.signed_up_user().await;
    let admin = app.admin_token().await;
    assert_eq!(app.get("/me", Some(&access)).await.status(), 200);

    let first = app
        .post_oauth(
            "/oauth/revoke",
            Auth::Bearer(&admin),
            &[("token", &access), ("token_type_hint", "refresh_token")],
        )
        .await;
    let again = app.revoke(Auth::Bearer(&admin), &access).await;

    assert_eq!(first.status(), 200);
    assert_eq!(again.status(), 200, "revoking twice is fine");
    let me = app.get("/me", Some(&access)).await;
    assert_eq!(me.status(), 401);
    assert_eq!(
        me.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(
        app.refresh(&refresh).await.status(),
        200,
        "revoking an access token leaves its login's refresh family alone"
    );
    assert_eq!(app.get("/me", Some(&admin)).await.status(), 200);
}

#[tokio::test]
async fn a_bearer_token_without_admin_cannot_revoke_access_tokens() {
    let Some(app) = spawn_app().await else { return };
    let (_, victim, _) = app.signed_up_user().await;
    let (_, attacker, _) = app.signed_up_user().await;

    let resp = app.revoke(Auth::Bearer(&attacker), &victim).await;

    let body = assert_oauth_error(resp, 401).await;
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(app.get("/me", Some(&victim)).await.status(), 200);
}

#[tokio::test]
async fn unknown_client_credentials_get_401_invalid_client_and_revoke_nothing() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, refresh) = app.signed_up_user().await;

    let basic = app
        .revoke(Auth::Basic("no-such-client", "wrong-secret"), &refresh)
        .await;
    let challenge = basic.headers().get("www-authenticate").cloned();
    let basic = assert_oauth_error(basic, 401).await;
    let post = app
        .revoke(Auth::Post("no-such-client", "wrong-secret"), &refresh)
        .await;
    let post = assert_oauth_error(post, 401).await;
    let unauthenticated_id = app
        .post_oauth(
            "/oauth/revoke",
            Auth::None,
            &[("token", &refresh), ("client_id", "no-such-client")],
        )
        .await;
    let unauthenticated_id = assert_oauth_error(unauthenticated_id, 401).await;

    assert_eq!(basic["error"], "invalid_client");
    assert!(
        challenge.is_some_and(|c| c.to_str().unwrap().starts_with("Basic")),
        "Basic was tried, so the challenge is Basic"
    );
    assert_eq!(post["error"], "invalid_client");
    assert_eq!(unauthenticated_id["error"], "invalid_client");
    assert_eq!(app.refresh(&refresh).await.status(), 200, "nothing was revoked");
}

#[tokio::test]
async fn a_request_without_a_token_is_invalid_request() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .post_oauth("/oauth/revoke", Auth::None, &[("token_type_hint", "access_token")])
        .await;

    let body = assert_oauth_error(resp, 400).await;
    assert_eq!(body["error"], "invalid_request");
}
