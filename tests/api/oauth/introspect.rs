//! `POST /oauth/introspect` (RFC 7662) with an administrator's bearer token:
//! what is active, what is `{"active": false}` and nothing more, and who is
//! turned away.

use serde_json::{Value, json};

use super::helpers::{Auth, TestApp, assert_oauth_error, now, segment, spawn_app};

/// `{"active": false}`, exactly: an inactive token reveals nothing else.
fn inactive() -> Value {
    json!({"active": false})
}

async fn user_id(app: &TestApp, access: &str) -> String {
    let me: Value = app.get("/me", Some(access)).await.json().await.unwrap();
    me["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_live_access_token_is_active_with_every_member_taken_from_its_claims() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (email, access, _) = app.signed_up_user().await;
    let claims = segment(&access, 1);

    let answer = app.introspect(Auth::Bearer(&admin), &access).await;

    assert_eq!(answer["active"], true, "{answer}");
    for member in ["sub", "exp", "iat", "nbf", "iss", "aud", "jti", "scope"] {
        assert_eq!(answer[member], claims[member], "{member}: {answer}");
    }
    assert_eq!(answer["client_id"], "sigil");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["username"], email);
    assert_eq!(answer["sub"], user_id(&app, &access).await);
}

#[tokio::test]
async fn tokens_sigil_would_refuse_introspect_as_exactly_inactive() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (_, revoked, _) = app.signed_up_user().await;
    assert_eq!(app.revoke(Auth::Bearer(&admin), &revoked).await.status(), 200);
    let (_, disabled, disabled_refresh) = app.signed_up_user().await;
    let id = user_id(&app, &disabled).await;
    let patched = app
        .client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let (_, live, _) = app.signed_up_user().await;
    let sub = segment(&live, 1)["sub"].as_str().unwrap().to_owned();
    let mut claims = app.valid_claims(&sub);
    claims["exp"] = json!(now() - 3600);
    claims["iat"] = json!(now() - 4000);
    claims["nbf"] = json!(now() - 4000);
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": app.active_kid()});
    let expired = app.sign_with_active_key(&header, &claims);
    let unknown_kid = app.sign_with_active_key(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "no-such-key"}),
        &app.valid_claims(&sub),
    );
    let mut tampered = live.clone();
    tampered.push('A');

    for (what, token) in [
        ("expired", expired.as_str()),
        ("revoked", revoked.as_str()),
        ("a disabled user's access token", disabled.as_str()),
        ("a disabled user's refresh token", disabled_refresh.as_str()),
        ("unknown key", unknown_kid.as_str()),
        ("tampered", tampered.as_str()),
        ("malformed", "not.a.token"),
        ("empty", ""),
        ("huge", &"x".repeat(10 * 1024)),
    ] {
        let answer = app.introspect(Auth::Bearer(&admin), token).await;
        assert_eq!(answer, inactive(), "{what}");
    }
    let control = app.introspect(Auth::Bearer(&admin), &live).await;
    assert_eq!(control["active"], true, "the same checks pass a live token");
}

#[tokio::test]
async fn a_live_refresh_token_is_active_a_used_up_one_is_not_and_looking_uses_nothing_up() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (email, access, first) = app.signed_up_user().await;
    let claims = segment(&access, 1);

    let answer = app.introspect(Auth::Bearer(&admin), &first).await;

    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["token_type"], "refresh_token");
    assert_eq!(answer["client_id"], "sigil");
    assert_eq!(answer["sub"], claims["sub"]);
    assert_eq!(answer["username"], email);
    assert_eq!(answer["scope"], claims["scope"]);
    assert_eq!(answer["iss"], claims["iss"]);
    let exp = answer["exp"].as_i64().unwrap();
    assert!(exp > now() + 6 * 24 * 3600, "about 7 days ahead: {exp}");
    assert!((answer["iat"].as_i64().unwrap() - now()).abs() < 300);

    let rotated = app.refresh(&first).await;
    assert_eq!(rotated.status(), 200, "introspection did not use the token up");
    let second: Value = rotated.json().await.unwrap();
    let second = second["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(Auth::Bearer(&admin), &first).await, inactive());
    let hinted = app
        .post_oauth(
            "/oauth/introspect",
            Auth::Bearer(&admin),
            &[("token", second), ("token_type_hint", "access_token")],
        )
        .await;
    let hinted: Value = hinted.json().await.unwrap();
    assert_eq!(hinted["active"], true, "a wrong hint does not stop the search");
}

#[tokio::test]
async fn introspection_without_credentials_or_with_a_refused_or_non_admin_bearer_is_401() {
    let Some(app) = spawn_app().await else { return };
    let (_, user, _) = app.signed_up_user().await;

    let nobody = app
        .post_oauth("/oauth/introspect", Auth::None, &[("token", &user)])
        .await;
    let nobody_challenge = nobody.headers().get("www-authenticate").cloned();
    let nobody = assert_oauth_error(nobody, 401).await;
    let not_admin = app
        .post_oauth("/oauth/introspect", Auth::Bearer(&user), &[("token", &user)])
        .await;
    let not_admin_challenge = not_admin.headers()["www-authenticate"].clone();
    let not_admin = assert_oauth_error(not_admin, 401).await;
    let bad_bearer = app
        .post_oauth("/oauth/introspect", Auth::Bearer("garbage"), &[("token", &user)])
        .await;
    let bad_challenge = bad_bearer.headers()["www-authenticate"].clone();
    let bad_bearer = assert_oauth_error(bad_bearer, 401).await;

    assert_eq!(nobody["error"], "invalid_client");
    assert!(nobody_challenge.is_some(), "a 401 names how to authenticate");
    assert_eq!(not_admin["error"], "insufficient_scope");
    assert_eq!(
        not_admin_challenge,
        r#"Bearer error="insufficient_scope", scope="admin""#
    );
    assert_eq!(bad_bearer["error"], "invalid_token");
    assert_eq!(bad_challenge, r#"Bearer error="invalid_token""#);
}

#[tokio::test]
async fn a_revoked_refresh_family_introspects_inactive() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let (_, _, refresh) = app.signed_up_user().await;
    assert_eq!(app.introspect(Auth::Bearer(&admin), &refresh).await["active"], true);

    assert_eq!(app.revoke(Auth::None, &refresh).await.status(), 200);

    assert_eq!(app.introspect(Auth::Bearer(&admin), &refresh).await, inactive());
}
