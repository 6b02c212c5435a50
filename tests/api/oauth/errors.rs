//! Errors of the OAuth 2.0 endpoints (`/auth/login`, `/auth/refresh`,
//! `/oauth/revoke`, `/oauth/introspect`) are `application/json` with an RFC
//! 6749 §5.2 `error` beside the problem members (SPEC §2), whether the
//! handler refused the request or it was refused before any handler ran;
//! never a 5xx. The other routes keep problem+json.

use reqwest::RequestBuilder;

use super::helpers::{
    OAUTH_ENDPOINTS, PASSWORD, TestApp, assert_oauth_error, assert_problem, spawn_app,
    unique_email,
};

/// Sends `req` and asserts an OAuth error of `status` with code `error`.
async fn expect(req: RequestBuilder, status: u16, error: &str, what: &str) {
    let resp = req.send().await.unwrap();
    assert!(resp.status().as_u16() < 500, "{what}: {}", resp.status());
    let body = assert_oauth_error(resp, status).await;
    assert_eq!(body["error"], error, "{what}: {body}");
}

fn post(app: &TestApp, path: &str) -> RequestBuilder {
    app.client.post(app.url(path))
}

#[tokio::test]
async fn refusals_of_the_password_grant_are_json_with_an_oauth_error_code() {
    let Some(app) = spawn_app().await else { return };
    let (email, _, _) = app.signed_up_user().await;
    let form = |pairs: &[(&str, &str)]| post(&app, "/auth/login").form(pairs);

    expect(
        form(&[("grant_type", "password"), ("username", &email), ("password", "wrong password")]),
        401,
        "invalid_grant",
        "wrong password",
    )
    .await;
    expect(
        form(&[("username", &unique_email()), ("password", PASSWORD)]),
        401,
        "invalid_grant",
        "unknown user",
    )
    .await;
    expect(
        form(&[("grant_type", "urn:example:magic"), ("username", &email), ("password", PASSWORD)]),
        400,
        "unsupported_grant_type",
        "unknown grant_type",
    )
    .await;
    expect(
        form(&[("grant_type", "password"), ("username", &email)]),
        400,
        "invalid_request",
        "no password",
    )
    .await;
    expect(
        form(&[("grant_type", "password"), ("username", &email), ("password", PASSWORD), ("scope", "no-such-scope")]),
        400,
        "invalid_scope",
        "unknown scope",
    )
    .await;
    expect(
        form(&[("username", &email), ("password", &"x".repeat(129))]),
        422,
        "invalid_request",
        "a password over 128 characters",
    )
    .await;
}

#[tokio::test]
async fn requests_refused_before_any_handler_are_json_with_an_oauth_error_code_on_every_oauth_endpoint()
 {
    let Some(app) = spawn_app().await else { return };
    let just_over = format!("token={}", "t".repeat(65 * 1024));

    for path in OAUTH_ENDPOINTS {
        expect(
            post(&app, path).header("content-type", "text/plain").body("token=x"),
            415,
            "invalid_request",
            &format!("{path}: wrong content type"),
        )
        .await;
        expect(
            post(&app, path).header("content-type", "application/x-www-form-urlencoded").body("token=%FF%FE"),
            400,
            "invalid_request",
            &format!("{path}: a form that is not UTF-8"),
        )
        .await;
        expect(
            post(&app, path).header("content-type", "application/x-www-form-urlencoded").body(just_over.clone()),
            413,
            "invalid_request",
            &format!("{path}: a body over 64 KiB"),
        )
        .await;
        expect(
            app.client.get(app.url(path)),
            405,
            "invalid_request",
            &format!("{path}: GET"),
        )
        .await;
        expect(
            post(&app, path)
                .header("authorization", format!("Bearer {}", "a".repeat(9 * 1024)))
                .form(&[("token", "x")]),
            431,
            "invalid_request",
            &format!("{path}: an Authorization header over 8 KiB"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_1_mb_body_on_an_oauth_endpoint_gets_413_json_and_the_server_keeps_serving() {
    let Some(app) = spawn_app().await else { return };
    let body = format!("username=a&password={}", "p".repeat(1024 * 1024));

    for path in OAUTH_ENDPOINTS {
        let resp = post(&app, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await;
        // The server answers from Content-Length before reading the body; the
        // client may still be writing when the connection closes.
        match resp {
            Ok(resp) => {
                let problem = assert_oauth_error(resp, 413).await;
                assert_eq!(problem["error"], "invalid_request", "{path}");
            }
            Err(e) => assert!(
                e.is_request() || e.is_body() || e.to_string().contains("connection"),
                "{path}: unexpected client error {e}"
            ),
        }
    }
    let (email, _, _) = app.signed_up_user().await;
    assert_eq!(app.login_form(&email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn refusals_of_refresh_are_json_with_an_oauth_error_code() {
    let Some(app) = spawn_app().await else { return };

    expect(
        post(&app, "/auth/refresh").json(&serde_json::json!({"refresh_token": "A".repeat(43)})),
        401,
        "invalid_grant",
        "unknown refresh token",
    )
    .await;
    expect(
        post(&app, "/auth/refresh").form(&[("grant_type", "password"), ("refresh_token", "x")]),
        400,
        "unsupported_grant_type",
        "wrong grant_type",
    )
    .await;
    expect(
        post(&app, "/auth/refresh").header("content-type", "application/json").body("{\"refresh_token\": "),
        400,
        "invalid_request",
        "malformed JSON",
    )
    .await;
    expect(
        post(&app, "/auth/login").form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")]),
        401,
        "invalid_grant",
        "refresh grant at the token endpoint",
    )
    .await;
}

#[tokio::test]
async fn the_other_routes_keep_problem_json_without_an_oauth_code() {
    let Some(app) = spawn_app().await else { return };

    let register = post(&app, "/auth/register")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let logout = post(&app, "/auth/logout")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();

    let register = assert_problem(register, 400).await;
    let logout = assert_problem(logout, 415).await;
    assert!(register.get("error").is_none(), "{register}");
    assert!(logout.get("error").is_none(), "{logout}");
}
