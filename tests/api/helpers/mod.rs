//! `spawn_app()` and typed request helpers shared by every integration test.
//! Over 400 lines on purpose: this is the suite's one vocabulary (start a
//! server, make a user, log in, sign a token), kept in one place so that no
//! test file grows its own copy; keys, processes, PostgreSQL databases and
//! the skip rule have their own files beside it.

pub mod keys;
pub mod oauth;
pub mod postgres;
mod process;
pub mod relay;
pub mod skip;

pub use oauth::{Auth, OAUTH_ENDPOINTS, assert_error_at, assert_oauth_error};
pub use process::{ServerProcess, kill_at_a_random_moment};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use sigil::config::{Argon2Cost, DatabaseUrl, HashingSettings, Settings};
use sigil::keys::{Algorithm, KeyFolder};
use sigil::startup::Application;
use tempfile::TempDir;

/// A password that passes the rules.
pub const PASSWORD: &str = "correct horse battery staple";

/// Cheap argon2 parameters, set through the same settings the product reads.
pub fn test_hashing() -> HashingSettings {
    HashingSettings {
        cost: Argon2Cost {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        concurrency: 2,
        queue: 64,
    }
}

/// A running server and what the test needs to reach it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The issuer the server uses.
    pub issuer: String,
    /// The server's keys folder.
    pub keys_dir: PathBuf,
    /// The server's database.
    pub database_url: DatabaseUrl,
    /// HTTP client (no redirects, no cookies).
    pub client: Client,
    /// Reloads the server's key set, as SIGHUP would.
    pub reloader: sigil::reload::KeyReloader,
    _dir: TempDir,
    /// Dropped last: the PostgreSQL database goes with the test.
    _database: TestDatabase,
}

/// Options for [`spawn_app_with`].
pub struct Options {
    /// Algorithm of the generated keys.
    pub alg: Algorithm,
    /// Changes to the default test settings.
    pub tweak: Box<dyn FnOnce(&mut Settings) + Send>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alg: Algorithm::Rs256,
            tweak: Box::new(|_| {}),
        }
    }
}

impl Options {
    /// A server that trusts the forwarding headers of 127.0.0.1, where
    /// every test request comes from: a test names its client in
    /// `X-Forwarded-For` or `Forwarded`.
    pub fn behind_loopback_proxy() -> Options {
        Options::behind_loopback_proxy_and(|_| {})
    }

    /// [`Options::behind_loopback_proxy`] with further changes.
    pub fn behind_loopback_proxy_and(
        tweak: impl FnOnce(&mut Settings) + Send + 'static,
    ) -> Options {
        Options {
            tweak: Box::new(move |s| {
                s.trusted_proxies =
                    sigil::http::client_addr::TrustedProxies::parse("127.0.0.1").unwrap();
                tweak(s);
            }),
            ..Options::default()
        }
    }
}

/// Where a test server keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary folder.
    Sqlite,
    /// A fresh database on the server named by `SIGIL_TEST_POSTGRES_URL`.
    Postgres,
}

/// A test's own empty database, dropped (PostgreSQL) when this is dropped.
pub struct TestDatabase {
    /// Where it is.
    pub url: DatabaseUrl,
    /// The PostgreSQL database to drop with this, if any.
    pub postgres: Option<postgres::PostgresDatabase>,
}

impl Backend {
    /// A fresh, empty database of this backend (SQLite files go in `dir`),
    /// or `None` after [`skip::skip`] when the backend is not available
    /// (PostgreSQL without `SIGIL_TEST_POSTGRES_URL`; under CI that panics).
    pub async fn fresh_database(self, dir: &Path) -> Option<TestDatabase> {
        match self {
            Backend::Sqlite => Some(TestDatabase {
                url: DatabaseUrl::parse(&format!("sqlite://{}", dir.join("sigil.db").display()))
                    .unwrap(),
                postgres: None,
            }),
            Backend::Postgres => {
                let Some(base) = postgres::base_url() else {
                    skip::skip(&format!(
                        "{} is not set, so there is no PostgreSQL to test on",
                        postgres::URL_VARIABLE
                    ));
                    return None;
                };
                let database = postgres::PostgresDatabase::create(&base).await;
                Some(TestDatabase {
                    url: DatabaseUrl::parse(database.url()).unwrap(),
                    postgres: Some(database),
                })
            }
        }
    }
}

/// Starts a server with a fresh SQLite database and RS256 keys.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// Starts a server with a fresh SQLite database and keys of `alg`.
pub async fn spawn_app_with(options: Options) -> TestApp {
    spawn_app_on(Backend::Sqlite, options)
        .await
        .expect("SQLite is always there")
}

/// Starts a server on `backend` with a fresh database and keys of `alg`;
/// `None` when the backend is not available and the test is skipped (see
/// [`Backend::fresh_database`]): `let Some(app) = … else { return };`.
pub async fn spawn_app_on(backend: Backend, options: Options) -> Option<TestApp> {
    init_test_logging();
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    copy_dir(template_keys(options.alg), &keys_dir);
    let database = backend.fresh_database(dir.path()).await?;
    let mut settings = Settings::new(database.url.clone(), &keys_dir);
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.hashing = test_hashing();
    settings.signing_alg = options.alg;
    // Every test client is 127.0.0.1: the per-address registration limit
    // would stop suites that register hundreds of users. Tests of the limit
    // set it back.
    settings.throttles.registrations.free_attempts = 1_000_000;
    (options.tweak)(&mut settings);
    let (keys_dir, database_url) = (settings.keys_dir.clone(), settings.database_url.clone());
    let app = Application::build(settings).await.expect("server builds");
    let address = format!("http://{}", app.local_addr());
    let issuer = app.issuer().to_owned();
    let reloader = app.reloader();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Some(TestApp {
        address,
        issuer,
        keys_dir,
        database_url,
        client,
        reloader,
        _dir: dir,
        _database: database,
    })
}

/// Keys are generated once per algorithm and copied into each test's folder:
/// RSA generation is the slowest step of start-up.
fn template_keys(alg: Algorithm) -> &'static Path {
    static RSA: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    static ED: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    let cell = match alg {
        Algorithm::Rs256 => &RSA,
        Algorithm::EdDsa => &ED,
    };
    &cell
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let keys = dir.path().join("keys");
            KeyFolder::new(&keys)
                .load_or_init(alg, 2048)
                .expect("template keys");
            (dir, keys)
        })
        .1
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            // fs::copy keeps the permission bits (0600 for keys).
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn init_test_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_test_writer()
                .try_init();
        }
    });
}

/// An HTTP client whose connections come from `ip` (any 127.x.y.z works on
/// Linux loopback), to act as a second client address.
pub fn client_from(ip: &str) -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Unique email per call, so tests never collide.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// The name of the PostgreSQL database this app made (dropped with it).
    pub fn postgres_database(&self) -> Option<&str> {
        self._database.postgres.as_ref().map(|db| db.name())
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POST JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POST a form.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The value of one series of `/metrics`, named with its labels
    /// (`sigil_logins_failed_total{reason="throttled"}`); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics", None).await.text().await.unwrap();
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// GET with an optional bearer token.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    }

    /// Registers a user and returns the token response.
    pub async fn register(&self, email: &str) -> Value {
        let resp = self.post_register(email, PASSWORD, "Test User").await;
        assert_eq!(resp.status(), 201, "registration failed");
        resp.json().await.unwrap()
    }

    /// POST /auth/register.
    pub async fn post_register(&self, email: &str, password: &str, name: &str) -> Response {
        self.post_json(
            "/auth/register",
            &json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    /// Password login through the OAuth 2.0 form.
    pub async fn login_form(&self, email: &str, password: &str) -> Response {
        self.login_form_with(&self.client, email, password).await
    }

    /// Password login through the OAuth 2.0 form, sent by `client`.
    pub async fn login_form_with(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/auth/login"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Tries `password` until the account's lock is over, bounded (attempts
    /// a lock refuses are not counted), and returns the first answer that
    /// is not 429: waiting on the server's answer instead of the clock.
    pub async fn login_once_unlocked(&self, email: &str, password: &str) -> Response {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let resp = self.login_form(email, password).await;
            if resp.status() != 429 {
                return resp;
            }
            assert!(std::time::Instant::now() < deadline, "the lock never ended");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// POST /auth/refresh with JSON.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    /// Registers a user and returns (email, access token, refresh token).
    pub async fn signed_up_user(&self) -> (String, String, String) {
        let email = unique_email();
        let tokens = self.register(&email).await;
        (
            email,
            tokens["access_token"].as_str().unwrap().to_owned(),
            tokens["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates an administrator through the library's account function and logs in.
    pub async fn admin_token(&self) -> String {
        let email = unique_email();
        let store = sigil::startup::open_store(&self.database_url)
            .await
            .unwrap();
        let hasher = sigil::password::PasswordHasher::new(&test_hashing()).unwrap();
        sigil::accounts::create_account(
            store.as_ref(),
            &hasher,
            sigil::accounts::Registration {
                email: email.clone(),
                password: PASSWORD.to_owned().into(),
                name: "Admin".into(),
            },
            &["profile", "admin"],
        )
        .await
        .unwrap();
        let resp = self.login_form(&email, PASSWORD).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Claims of a valid access token for the user `sub`, 10 minutes long,
    /// for tokens the test signs itself.
    pub fn valid_claims(&self, sub: &str) -> Value {
        let t = now();
        json!({
            "iss": self.issuer, "sub": sub, "aud": self.issuer,
            "exp": t + 600, "iat": t, "nbf": t,
            "jti": uuid::Uuid::new_v4().to_string(), "scope": "profile"
        })
    }

    /// The server's manifest, as the test reads it (never via the server).
    pub fn manifest(&self) -> Value {
        keys::manifest(&self.keys_dir)
    }

    /// The kid of the server's active key, read from the manifest.
    pub fn active_kid(&self) -> String {
        self.kid_in_state("active")
    }

    /// The kid of the server's key in `state`, read from the manifest.
    pub fn kid_in_state(&self, state: &str) -> String {
        keys::kid_in_state(&self.keys_dir, state)
    }

    /// Signs `header`.`claims` with the server's active RS256 key, read from its
    /// PEM file by the test itself (ring, not sigil's code): for crafting tokens
    /// that are correctly signed but wrong in some other way.
    pub fn sign_with_active_key(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw_with_active_key(&header.to_string(), &claims.to_string())
    }

    /// Like [`Self::sign_with_active_key`], for JSON the test wrote by hand.
    pub fn sign_raw_with_active_key(&self, header: &str, claims: &str) -> String {
        self.sign_with_key(&self.active_kid(), Algorithm::Rs256, header, claims)
    }

    /// Signs `header`.`claims` (JSON text) with the server's key `kid`, of `alg`.
    pub fn sign_with_key(&self, kid: &str, alg: Algorithm, header: &str, claims: &str) -> String {
        let file = self.keys_dir.join(format!("{kid}.pem"));
        keys::sign_json(&file, alg, header, claims)
    }
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes one base64url segment of a JWS as JSON.
pub fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Asserts a problem+json answer with `status` and returns its body.
pub async fn assert_problem(resp: Response, status: u16) -> Value {
    assert_eq!(resp.status(), status, "unexpected status");
    let content_type = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content-type {content_type}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], status);
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}

/// Current Unix time.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Registers a new user (unique email, [`PASSWORD`]) on the server at
/// `base` (`http://…`), asserts the 201, and returns the token response:
/// for tests that talk to servers other than a [`TestApp`].
pub async fn register_at(http: &Client, base: &str) -> Value {
    let resp = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Test User"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "registration at {base} failed");
    resp.json().await.unwrap()
}
