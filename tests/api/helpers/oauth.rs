//! Requests to the standard OAuth 2.0 endpoints (`/oauth/revoke`,
//! `/oauth/introspect`) and the check of their error shape (SPEC §2:
//! `application/json` with `error` beside the problem members).

use reqwest::Response;
use serde_json::Value;

use super::TestApp;

/// How a request to `/oauth/*` authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// No credentials.
    None,
    /// `Authorization: Bearer`.
    Bearer(&'a str),
    /// HTTP Basic (`client_secret_basic`).
    Basic(&'a str, &'a str),
    /// `client_id` and `client_secret` in the form (`client_secret_post`).
    Post(&'a str, &'a str),
}

impl TestApp {
    /// POST `form` to `path` (an `/oauth/*` endpoint) with `auth`.
    pub async fn post_oauth(&self, path: &str, auth: Auth<'_>, form: &[(&str, &str)]) -> Response {
        let mut form = form.to_vec();
        let mut req = self.client.post(self.url(path));
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => req = req.bearer_auth(token),
            Auth::Basic(id, secret) => req = req.basic_auth(id, Some(secret)),
            Auth::Post(id, secret) => form.extend([("client_id", id), ("client_secret", secret)]),
        }
        req.form(&form).send().await.unwrap()
    }

    /// POST /oauth/revoke with `token` and `auth`.
    pub async fn revoke(&self, auth: Auth<'_>, token: &str) -> Response {
        self.post_oauth("/oauth/revoke", auth, &[("token", token)])
            .await
    }

    /// POST /oauth/introspect with `token` and `auth`; the answer's body,
    /// after checking that it is a 200 that no one may cache.
    pub async fn introspect(&self, auth: Auth<'_>, token: &str) -> Value {
        let resp = self
            .post_oauth("/oauth/introspect", auth, &[("token", token)])
            .await;
        assert_eq!(resp.status(), 200, "introspection failed");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        resp.json().await.unwrap()
    }
}

/// Asserts an OAuth 2.0 error (SPEC §2): `status`, `application/json` (not
/// problem+json), the problem members and a string `error` and
/// `error_description`; returns the body.
pub async fn assert_oauth_error(resp: Response, status: u16) -> Value {
    assert_eq!(resp.status(), status, "unexpected status");
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    for member in ["type", "title", "detail", "error", "error_description"] {
        assert!(
            body[member].is_string(),
            "OAuth error lacks {member}: {body}"
        );
    }
    body
}

/// The OAuth 2.0 endpoints of SPEC §2, whose errors are `application/json`.
pub const OAUTH_ENDPOINTS: [&str; 4] = [
    "/auth/login",
    "/auth/refresh",
    "/oauth/revoke",
    "/oauth/introspect",
];

/// Asserts the error answer of a request to `path`: an OAuth 2.0 error on
/// the [`OAUTH_ENDPOINTS`], problem+json elsewhere.
pub async fn assert_error_at(path: &str, resp: Response, status: u16) -> Value {
    if OAUTH_ENDPOINTS.contains(&path) {
        assert_oauth_error(resp, status).await
    } else {
        super::assert_problem(resp, status).await
    }
}
