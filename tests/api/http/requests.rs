//! How the server answers requests as such, before any route's own rules:
//! malformed, mistyped, oversized and hostile input each get a 4xx
//! problem+json answer before any expensive work, and the server goes on
//! serving; unknown routes and methods, request ids, health and readiness.

use serde_json::json;

use super::helpers::{
    PASSWORD, TestApp, assert_error_at, assert_oauth_error, assert_problem, spawn_app,
    unique_email,
};

#[tokio::test]
async fn malformed_json_is_a_400() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();

    assert_problem(resp, 400).await;
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();

    assert_problem(resp, 415).await;
}

#[tokio::test]
async fn a_missing_content_type_is_a_415() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .client
        .post(app.url("/auth/login"))
        .body("username=a")
        .send()
        .await
        .unwrap();

    assert_oauth_error(resp, 415).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_with_or_without_content_length() {
    let Some(app) = spawn_app().await else { return };
    let big = format!(
        "{{\"email\":\"{}\",\"password\":\"x\",\"name\":\"{}\"}}",
        unique_email(),
        "n".repeat(70 * 1024)
    );

    let declared = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(declared, 413).await;

    // A streamed body has no Content-Length: the limit must still hold.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(8192)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let streamed = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_problem(streamed, 413).await;
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.get("/nope", None).await;

    assert_problem(resp, 404).await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .client
        .delete(app.url("/auth/register"))
        .send()
        .await
        .unwrap();

    assert_problem(resp, 405).await;
}

#[tokio::test]
async fn a_405_names_the_methods_the_path_allows() {
    let Some(app) = spawn_app().await else { return };
    let user = uuid::Uuid::new_v4();
    let cases = [
        ("DELETE", "/auth/register".to_owned(), "POST"),
        ("TRACE", format!("/admin/users/{user}"), "PATCH"),
        ("PUT", "/.well-known/jwks.json".to_owned(), "GET, HEAD"),
        ("POST", "/openapi.json".to_owned(), "GET, HEAD"),
        (
            "DELETE",
            "/.well-known/openid-configuration".to_owned(),
            "GET, HEAD",
        ),
        ("POST", "/docs".to_owned(), "GET, HEAD"),
    ];

    for (method, path, allowed) in cases {
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();

        assert_eq!(
            resp.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allowed),
            "{method} {path}"
        );
        assert_problem(resp, 405).await;
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_sane_one_from_the_client() {
    let Some(app) = spawn_app().await else { return };

    let own = app.get("/healthz", None).await;
    let given = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    let insane = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "a b c")
        .send()
        .await
        .unwrap();

    assert_eq!(own.headers()["x-request-id"].len(), 36);
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    assert_ne!(insane.headers()["x-request-id"], "a b c");
}

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let Some(app) = spawn_app().await else { return };

    assert_eq!(app.get("/healthz", None).await.status(), 200);
    assert_eq!(app.get("/readyz", None).await.status(), 200);
}

// --- Oversized and hostile input ---

async fn still_serving(app: &TestApp) {
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let resp = app.post_register(&unique_email(), PASSWORD, "Ada").await;
    assert_eq!(resp.status(), 201, "and still registers users");
}

#[tokio::test]
async fn a_100_kb_authorization_header_is_refused_with_431_before_it_is_parsed() {
    let Some(app) = spawn_app().await else { return };
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
    let Some(app) = spawn_app().await else { return };
    let token = "A".repeat(8 * 1024 - "Bearer ".len());

    let resp = app.get("/me", Some(&token)).await;

    assert_problem(resp, 401).await;
}

#[tokio::test]
async fn a_10_mb_body_is_refused_with_413_and_the_server_keeps_serving() {
    let Some(app) = spawn_app().await else { return };
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
    let Some(app) = spawn_app().await else { return };
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

        assert_error_at(path, resp, 400).await;
    }
    still_serving(&app).await;
}

#[tokio::test]
async fn invalid_utf8_in_json_or_form_bodies_is_a_400() {
    let Some(app) = spawn_app().await else { return };
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
        assert_error_at(path, resp, status).await;
    }
    still_serving(&app).await;
}

#[tokio::test]
async fn repeated_fields_in_refresh_and_login_forms_are_refused() {
    let Some(app) = spawn_app().await else { return };
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

        assert_oauth_error(resp, 400).await;
    }
}

#[tokio::test]
async fn an_email_over_254_characters_is_refused_on_login_without_a_lookup() {
    let Some(app) = spawn_app().await else { return };
    let long = format!("{}@example.com", "a".repeat(250));

    let json_login = app
        .post_json("/auth/login", &json!({"email": long, "password": PASSWORD}))
        .await;
    let register = app.post_register(&long, PASSWORD, "Ada").await;

    assert_oauth_error(json_login, 422).await;
    let body = assert_problem(register, 422).await;
    assert_eq!(body["errors"][0]["field"], "email");
}
