//! Hostile and broken input at the token endpoint and `/admin/clients`:
//! malformed Basic headers, two authentication methods at once, repeated
//! parameters, control characters, oversized bodies. Each gets a clear 4xx
//! with a JSON body, never a 5xx, and nothing is stored.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app};
use super::support::{assert_oauth_error, basic, create_client, post_client};

async fn client_count(app: &TestApp, admin: &str) -> usize {
    let listed: Value = app
        .get("/admin/clients?limit=500", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    listed.as_array().unwrap().len()
}

async fn send_with_authorization(app: &TestApp, authorization: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url("/auth/login"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(authorization).unwrap(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_basic_headers_get_a_clear_4xx_and_never_a_5xx() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;
    let b64 = |raw: &[u8]| format!("Basic {}", STANDARD.encode(raw)).into_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no colon", b64(client.id.as_bytes())),
        ("not base64", b"Basic !!!***".to_vec()),
        ("empty", b"Basic ".to_vec()),
        ("scheme only", b"Basic".to_vec()),
        ("not UTF-8", b64(b"\xff\xfe:\xc3\x28")),
        ("%00 in the secret", b64(format!("{}:%00{}", client.id, client.secret).as_bytes())),
        ("%ZZ in the id", b64(format!("%ZZ{}:{}", client.id, client.secret).as_bytes())),
        ("half an escape", b64(format!("{}:{}%4", client.id, client.secret).as_bytes())),
        ("encoded newline in the id", b64(format!("{}%0A:{}", client.id, client.secret).as_bytes())),
        ("empty id", b64(format!(":{}", client.secret).as_bytes())),
        ("10 KB", b64(&[b'a'; 10 * 1024])),
        ("2 KB", b64(&[b'a'; 2 * 1024])),
    ];

    for (what, header) in cases {
        let resp = send_with_authorization(&app, &header).await;
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{what}: {status}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["title"].is_string(), "{what}: {body}");
        if status == 401 {
            assert_eq!(body["error"], "invalid_client", "{what}");
        }
    }
    assert_eq!(client_count(&app, &admin).await, 1, "nothing stored");
}

#[tokio::test]
async fn a_secret_in_the_header_and_in_the_body_is_invalid_request() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let resp = app
        .client
        .post(app.url("/auth/login"))
        .header("authorization", basic(&client.id, &client.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 400, "invalid_request").await;

    let other_id = app
        .client
        .post(app.url("/auth/login"))
        .header("authorization", basic(&client.id, &client.secret))
        .form(&[("grant_type", "client_credentials"), ("client_id", "svc_someoneelse000")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(other_id, 400, "invalid_request").await;

    let two_headers = app
        .client
        .post(app.url("/auth/login"))
        .header("authorization", basic(&client.id, &client.secret))
        .header("authorization", basic(&client.id, &client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(two_headers, 400, "invalid_request").await;
}

async fn raw_form(app: &TestApp, authorization: Option<String>, body: &str) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(authorization) = authorization {
        req = req.header("authorization", authorization);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;
    let auth = || Some(basic(&client.id, &client.secret));

    for body in [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&grant_type=password",
        "grant_type=client_credentials&scope=profile&scope=admin",
        "grant_type=client_credentials&foo=1&foo=2",
        "grant_type=client_credentials&%67rant_type=password",
    ] {
        let resp = raw_form(&app, auth(), body).await;
        assert_oauth_error(resp, 400, "invalid_request").await;
    }
    let repeated_password = raw_form(
        &app,
        None,
        "grant_type=password&username=a%40example.com&password=x&password=y",
    )
    .await;
    assert_oauth_error(repeated_password, 400, "invalid_request").await;
    // The same request without the repetition works.
    let once = raw_form(&app, auth(), "grant_type=client_credentials&scope=profile").await;
    assert_eq!(once.status(), 200);
}

#[tokio::test]
async fn scope_strings_with_control_characters_are_refused_clearly() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    for scope in ["profile%00", "pro%01file", "profile%7F", "%1B%5B31m"] {
        let body = format!("grant_type=client_credentials&scope={scope}");
        let resp = raw_form(&app, Some(basic(&client.id, &client.secret)), &body).await;
        assert_oauth_error(resp, 400, "invalid_scope").await;
    }
    let resp = post_client(
        &app,
        &admin,
        &json!({"name": "x", "scopes": ["profile\u{0}"]}),
    )
    .await;
    assert_eq!(resp.status(), 422);
    let resp = post_client(&app, &admin, &json!({"name": "bell\u{7}", "scopes": []})).await;
    assert_eq!(resp.status(), 422);
    let resp = post_client(
        &app,
        &admin,
        &json!({"name": "x", "scopes": [], "audience": "https://a.test/\u{7}x"}),
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(client_count(&app, &admin).await, 1, "nothing stored");
}

#[tokio::test]
async fn a_one_megabyte_body_is_413_and_nothing_is_stored() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;
    let padding = "a".repeat(1024 * 1024);

    let token = raw_form(
        &app,
        Some(basic(&client.id, &client.secret)),
        &format!("grant_type=client_credentials&pad={padding}"),
    )
    .await;
    assert_eq!(token.status(), 413);
    let create = post_client(&app, &admin, &json!({"name": padding, "scopes": []})).await;
    assert_eq!(create.status(), 413);
    let wrong_shape = post_client(&app, &admin, &json!({"name": "x", "scopes": "profile"})).await;
    assert_eq!(wrong_shape.status(), 400);

    assert_eq!(client_count(&app, &admin).await, 1, "nothing stored");
}
