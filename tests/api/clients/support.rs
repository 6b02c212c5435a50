//! The vocabulary of the client tests: create a client over the admin API,
//! ask for a token with HTTP Basic or with the form, read a token's claims.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Response;
use serde_json::{Value, json};

use super::helpers::{TestApp, segment};

/// A client as the admin API created it.
pub struct NewClient {
    /// Its id.
    pub id: String,
    /// Its secret, shown once.
    pub secret: String,
}

/// RFC 6749 §2.3.1: each part form-urlencoded, then `id:secret` in base64.
pub fn basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

/// `POST /admin/clients` as `admin`.
pub async fn post_client(app: &TestApp, admin: &str, body: &Value) -> Response {
    app.client
        .post(app.url("/admin/clients"))
        .bearer_auth(admin)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Creates a client with `scopes` (and `audience`) and returns its id and secret.
pub async fn create_client(
    app: &TestApp,
    admin: &str,
    scopes: &[&str],
    audience: Option<&str>,
) -> NewClient {
    let mut body = json!({"name": "Billing service", "scopes": scopes});
    if let Some(audience) = audience {
        body["audience"] = json!(audience);
    }
    let resp = post_client(app, admin, &body).await;
    assert_eq!(resp.status(), 201, "client created");
    let created: Value = resp.json().await.unwrap();
    NewClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// `PATCH /admin/clients/{id}` as `admin`.
pub async fn patch_client(app: &TestApp, admin: &str, id: &str, changes: &Value) -> Response {
    app.client
        .patch(app.url(&format!("/admin/clients/{id}")))
        .bearer_auth(admin)
        .json(changes)
        .send()
        .await
        .unwrap()
}

/// `POST /admin/clients/{id}/secret` as `admin`; the new secret.
pub async fn rotate_secret(app: &TestApp, admin: &str, id: &str) -> String {
    let resp = app
        .client
        .post(app.url(&format!("/admin/clients/{id}/secret")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "secret rotated");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    body["client_secret"].as_str().unwrap().to_owned()
}

/// The client-credentials grant with HTTP Basic, sent by `http`.
pub async fn token_basic_with(
    app: &TestApp,
    http: &reqwest::Client,
    id: &str,
    secret: &str,
    scope: Option<&str>,
) -> Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    http.post(app.url("/auth/login"))
        .header("authorization", basic(id, secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The client-credentials grant with HTTP Basic.
pub async fn token_basic(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> Response {
    token_basic_with(app, &app.client, id, secret, scope).await
}

/// The client-credentials grant with `client_id` and `client_secret` in the form.
pub async fn token_post(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.post_form("/auth/login", &form).await
}

/// A client's access token (the grant must succeed).
pub async fn client_access_token(app: &TestApp, client: &NewClient) -> String {
    let resp = token_basic(app, &client.id, &client.secret, None).await;
    assert_eq!(resp.status(), 200, "client token issued");
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// The claims of an access token, unverified (the tests check them as data).
pub fn claims(token: &str) -> Value {
    segment(token, 1)
}

/// Asserts an OAuth 2.0 error answer (`application/json` or problem+json
/// with `error`), never a 5xx, and returns the body.
pub async fn assert_oauth_error(resp: Response, status: u16, error: &str) -> Value {
    assert_eq!(resp.status(), status, "status");
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.contains("json"), "content-type {content_type}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}
