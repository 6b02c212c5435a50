//! Oversized and malformed input: each gets a 4xx problem+json answer before
//! any expensive work, and the server goes on serving.

use serde_json::json;

use super::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, unique_email};

async fn still_serving(app: &TestApp) {
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let resp = app.post_register(&unique_email(), PASSWORD, "Ada").await;
    assert_eq!(resp.status(), 201, "and still registers users");
}

#[tokio::test]
async fn a_100_kb_authorization_header_is_refused_with_431_before_it_is_parsed() {
    let app = spawn_app().await;
    let huge = format!("Bearer {}", "A".repeat(100 * 1024));

    let resp = app
        .client
        .get(app.url("/me"))
        .header("authorization", huge)
        .send()
        .await
        .unwrap();

    let body = assert_problem(resp, 431).await;
    assert!(body["detail"].as_str().unwrap().contains("8 KiB"), "{body}");
    still_serving(&app).await;
}

#[tokio::test]
async fn an_authorization_header_just_under_the_limit_is_read_and_refused_as_a_bad_token() {
    let app = spawn_app().await;
    let token = "A".repeat(8 * 1024 - "Bearer ".len());

    let resp = app.get("/me", Some(&token)).await;

    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_10_mb_body_is_refused_with_413_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let body = vec![b'{'; 10 * 1024 * 1024];

    let resp = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;

    // The server answers before reading the body; the client may still be
    // writing when the connection closes. Either way nothing was accepted.
    match resp {
        Ok(resp) => {
            assert_problem(resp, 413).await;
        }
        Err(e) => assert!(
            e.is_request() || e.is_body() || e.to_string().contains("connection"),
            "unexpected client error {e}"
        ),
    }
    still_serving(&app).await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_400() {
    let app = spawn_app().await;
    let nested = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
    ] {
        let resp = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(nested.clone())
            .send()
            .await
            .unwrap();

        assert_problem(resp, 400).await;
    }
    still_serving(&app).await;
}

#[tokio::test]
async fn invalid_utf8_in_json_or_form_bodies_is_a_400() {
    let app = spawn_app().await;
    let mut json_body = br#"{"email":"a@example.com","password":""#.to_vec();
    json_body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    json_body.extend_from_slice(br#"","name":"x"}"#);
    let cases: [(&str, &str, Vec<u8>); 3] = [
        ("/auth/register", "application/json", json_body.clone()),
        ("/auth/login", "application/json", json_body),
        (
            "/auth/login",
            "application/x-www-form-urlencoded",
            b"username=a%40example.com&password=\xff\xfe".to_vec(),
        ),
    ];
    for (path, content_type, body) in cases {
        let resp = app
            .client
            .post(app.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();

        let status = resp.status().as_u16();
        assert!(
            status == 400 || status == 422,
            "{path} {content_type}: {status}"
        );
        assert_problem(resp, status).await;
    }
    still_serving(&app).await;
}

#[tokio::test]
async fn repeated_fields_in_refresh_and_login_forms_are_refused() {
    let app = spawn_app().await;
    let cases = [
        (
            "/auth/refresh",
            "grant_type=refresh_token&refresh_token=a&refresh_token=b",
        ),
        (
            "/auth/login",
            "grant_type=refresh_token&grant_type=password&username=a%40example.com&password=x",
        ),
    ];
    for (path, form) in cases {
        let resp = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();

        assert_problem(resp, 400).await;
    }
}

#[tokio::test]
async fn an_email_over_254_characters_is_refused_on_login_without_a_lookup() {
    let app = spawn_app().await;
    let long = format!("{}@example.com", "a".repeat(250));

    let json_login = app
        .post_json("/auth/login", &json!({"email": long, "password": PASSWORD}))
        .await;
    let register = app.post_register(&long, PASSWORD, "Ada").await;

    assert_problem(json_login, 422).await;
    let body = assert_problem(register, 422).await;
    assert_eq!(body["errors"][0]["field"], "email");
}
