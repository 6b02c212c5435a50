//! Malformed, oversized and mistyped requests get problem+json 4xx answers.

use super::helpers::{assert_problem, spawn_app, unique_email};

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

    assert_problem(resp, 415).await;
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
