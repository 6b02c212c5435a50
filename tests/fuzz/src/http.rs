//! The whole application in process: `sigil::http::app` (every middleware,
//! every route) over an in-memory SQLite store with cheap argon2, called
//! without a socket. [`Harness::send`] runs one request and checks the answer.
//! The harness holds an administrator, a user, and a confidential client
//! made through `POST /admin/clients` (SPEC §7), with a token of each.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderValue, Method, StatusCode, Uri, header};
use poem::{Endpoint, EndpointExt, Request};
use serde_json::Value;
use sigil::accounts::{Accounts, Registration};
use sigil::config::{Argon2Cost, HashingSettings, TrustedProxies};
use sigil::http::ApiContext;
use sigil::keys::Keyring;
use sigil::password::PasswordHasher;
use sigil::store::SqliteStore;
use sigil::telemetry::metrics::Metrics;
use tokio::runtime::Runtime;
use uuid::Uuid;

use crate::keys::{access_tokens, new_key_set};

/// The password of every account the harness makes.
pub const PASSWORD: &str = "correct horse battery staple";
/// The administrator's email.
pub const ADMIN_EMAIL: &str = "admin@sigil.fuzz";
/// The ordinary user's email.
pub const USER_EMAIL: &str = "user@sigil.fuzz";

/// The app, a runtime to drive it, and credentials to reach every route.
pub struct Harness {
    runtime: Runtime,
    app: BoxEndpoint<'static>,
    /// Access token with scopes `profile admin`.
    pub admin_token: String,
    /// Access token with scope `profile`.
    pub user_token: String,
    /// A refresh token of the user (used up by the first refresh that names it).
    pub refresh_token: String,
    /// The user's id, a target for `PATCH /admin/users/{id}`.
    pub user_id: Uuid,
    /// The confidential client's id (SPEC §7).
    pub client_id: String,
    /// Its secret, for `client_secret_basic` and `client_secret_post`.
    pub client_secret: String,
    /// An access token of the client (client credentials grant).
    pub client_token: String,
    /// The app's password hasher, to see its slots after an abandoned request.
    hasher: PasswordHasher,
}

/// What an answer looked like, for targets that want more checks.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

impl Harness {
    /// The shared harness, built on first use.
    pub fn get() -> &'static Harness {
        static HARNESS: OnceLock<Harness> = OnceLock::new();
        HARNESS.get_or_init(Harness::build)
    }

    fn build() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (app, user_id, tokens, client, hasher) = runtime.block_on(async {
            let store = SqliteStore::connect("sqlite::memory:")
                .await
                .expect("an in-memory store");
            let hashing = HashingSettings {
                cost: Argon2Cost {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                concurrency: 1,
                queue: 64,
            };
            let hasher = PasswordHasher::new(&hashing).expect("a password hasher");
            let mut tokens = access_tokens();
            // The app runs on the real clock; a long lifetime keeps the
            // harness's tokens valid for the whole run.
            tokens.ttl = Duration::from_secs(7 * 24 * 3600);
            let keyring = Arc::new(Keyring::new(new_key_set()));
            // One registry for the accounts and the routes, as the server wires it.
            let metrics = Arc::new(Metrics::new());
            let accounts = Accounts::new(
                Arc::new(store),
                hasher.clone(),
                tokens,
                keyring.clone(),
                Duration::from_secs(7 * 24 * 3600),
            )
            .with_metrics(metrics.clone());
            let registration = |email: &str| Registration {
                email: email.to_owned(),
                password: PASSWORD.to_owned().into(),
                name: "Fuzz".to_owned(),
            };
            accounts
                .create_user(registration(ADMIN_EMAIL), &["profile", "admin"])
                .await
                .expect("the administrator");
            let user = accounts
                .create_user(registration(USER_EMAIL), &["profile"])
                .await
                .expect("the user");
            let app = sigil::http::app(ApiContext {
                scopes: accounts.scopes().clone(),
                accounts,
                keyring,
                issuer: crate::keys::ISSUER.to_owned(),
                jwks_max_age: Duration::from_secs(300),
                // Requests come without a socket, so there is no peer to trust.
                trusted_proxies: TrustedProxies::default(),
                metrics,
            })
            .boxed();
            let mut tokens = Vec::new();
            for email in [ADMIN_EMAIL, USER_EMAIL] {
                tokens.push(login(&app, email).await);
            }
            let client = new_client(&app, &tokens[0].0).await;
            (app, user.id, tokens, client, hasher)
        });
        let [(admin_token, _), (user_token, refresh_token)] =
            <[(String, String); 2]>::try_from(tokens).expect("two logins");
        let (client_id, client_secret, client_token) = client;
        Harness {
            runtime,
            app,
            admin_token,
            user_token,
            refresh_token,
            user_id,
            client_id,
            client_secret,
            client_token,
            hasher,
        }
    }

    /// Polls the request `polls` times, then drops it as a client that hangs
    /// up would, and panics unless every hashing slot it took is given back
    /// within a few seconds (a hash already handed to a worker finishes or
    /// is skipped; nothing leaks).
    pub fn abandon(&self, request: Request, polls: u8) {
        self.runtime.block_on(async {
            let mut answer = std::pin::pin!(self.app.get_response(request));
            for _ in 0..polls {
                if poll_once(answer.as_mut()).await {
                    return;
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.hasher.in_flight() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} hashing slots still taken 5 s after the client left",
                self.hasher.in_flight()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends one request and panics unless the answer is well-formed: never
    /// 5xx, every error problem+json with its status inside (on the OAuth 2.0
    /// endpoints `application/json` with an `error` too, SPEC §2), and, when
    /// `json_success` (documented API routes), every other answer JSON.
    pub fn send(&self, request: Request, json_success: bool) -> Answer {
        let oauth = sigil::http::middleware::OAUTH_ENDPOINTS.contains(&request.uri().path());
        self.runtime.block_on(async {
            let response = self.app.get_response(request).await;
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if std::env::var_os("SIGIL_FUZZ_STATUS").is_some() {
                // For judging a corpus: `SIGIL_FUZZ_STATUS=1 http_api CORPUS -runs=0`.
                eprintln!("status {}", status.as_u16());
            }
            let body = response
                .into_body()
                .into_vec()
                .await
                .expect("the body can be read");
            assert!(
                !status.is_server_error(),
                "{status} answered: {}",
                String::from_utf8_lossy(&body)
            );
            if status.is_client_error() {
                let media_type = if oauth {
                    "application/json"
                } else {
                    "application/problem+json"
                };
                assert!(
                    content_type.starts_with(media_type),
                    "{status} with content type {content_type:?}"
                );
                let problem: Value = serde_json::from_slice(&body).expect("a problem body is JSON");
                assert_eq!(problem["status"], status.as_u16(), "{problem}");
                assert_eq!(problem["error"].is_string(), oauth, "{problem}");
                for member in ["type", "title", "detail"] {
                    assert!(
                        problem[member].is_string(),
                        "problem without {member}: {problem}"
                    );
                }
            } else if status == StatusCode::NO_CONTENT {
                assert!(body.is_empty(), "204 with a body");
            } else if json_success {
                assert!(status.is_success(), "unexpected {status}");
                assert!(
                    content_type.starts_with("application/json"),
                    "{status} with content type {content_type:?}"
                );
                serde_json::from_slice::<Value>(&body).expect("a success body is JSON");
            }
            Answer { status, body }
        })
    }
}

/// The value of an `Authorization` header for `client_secret_basic`: the
/// form-urlencoded id and secret, base64 (RFC 6749 §2.3.1).
pub fn basic_auth(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{}:{}", form_encode(id), form_encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// application/x-www-form-urlencoded of `text`: unreserved characters as
/// they are, every other byte percent-encoded.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends `request` to `app` and returns the status and the body as JSON.
async fn call(app: &BoxEndpoint<'static>, request: Request) -> (StatusCode, Value) {
    let response = app.get_response(request).await;
    let status = response.status();
    let body = response.into_body().into_vec().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Creates a confidential client with scope `profile` through
/// `POST /admin/clients` and gets a token for it with the client credentials
/// grant: (client id, secret, access token).
async fn new_client(app: &BoxEndpoint<'static>, admin_token: &str) -> (String, String, String) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(Uri::from_static("/admin/clients"))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .header(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {admin_token}")).unwrap(),
        )
        .body(r#"{"name":"fuzz","scopes":["profile"]}"#);
    let (status, created) = call(app, request).await;
    assert_eq!(status, StatusCode::CREATED, "harness client: {created}");
    let text = |name: &str| created[name].as_str().expect("a client member").to_owned();
    let (id, secret) = (text("client_id"), text("client_secret"));
    let request = Request::builder()
        .method(Method::POST)
        .uri(Uri::from_static("/auth/login"))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(
            header::AUTHORIZATION,
            HeaderValue::from_str(&basic_auth(&id, &secret)).unwrap(),
        )
        .body("grant_type=client_credentials");
    let (status, body) = call(app, request).await;
    assert_eq!(status, StatusCode::OK, "harness client credentials: {body}");
    let token = body["access_token"].as_str().expect("a token").to_owned();
    (id, secret, token)
}

async fn login(app: &BoxEndpoint<'static>, email: &str) -> (String, String) {
    let form =
        format!("grant_type=password&username={email}&password=correct+horse+battery+staple");
    let request = Request::builder()
        .method(Method::POST)
        .uri(Uri::from_static("/auth/login"))
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(form);
    let response = app.get_response(request).await;
    assert_eq!(response.status(), StatusCode::OK, "harness login");
    let body: Value = serde_json::from_slice(&response.into_body().into_vec().await.unwrap())
        .expect("a token response");
    let token = |name: &str| body[name].as_str().expect("a token").to_owned();
    (token("access_token"), token("refresh_token"))
}

/// Polls `future` once, then yields to the runtime; true when it finished.
async fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> bool {
    let mut future = Some(future);
    let done = std::future::poll_fn(|cx| {
        let future = future.take().expect("polled once");
        std::task::Poll::Ready(future.poll(cx).is_ready())
    })
    .await;
    if !done {
        tokio::task::yield_now().await;
    }
    done
}
