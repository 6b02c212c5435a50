//! What the logs say, and what they must never say: a full session through a
//! real `sigil serve` process (register, failed and good logins, refresh,
//! refresh reuse, an admin change, a key rotation and reload) with every log
//! line kept; no password, token, password hash or private key may appear,
//! while the audit events that an operator needs must.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, ServerProcess};

const ADMIN_PASSWORD: &str = "admin pass phrase 9f2c";
const WRONG_PASSWORD: &str = "not the password 77aa";

/// Everything secret that went over the wire during the session.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} is too short to search for");
        self.0.push((what.to_owned(), value.to_owned()));
    }

    /// Access and refresh tokens of a token response, and the access token's
    /// signature on its own (a logger might cut a token at a dot).
    fn add_tokens(&mut self, body: &Value) {
        let access = body["access_token"].as_str().unwrap();
        self.add("access token", access);
        self.add("access-token signature", access.rsplit('.').next().unwrap());
        self.add("refresh token", body["refresh_token"].as_str().unwrap());
    }
}

/// A request body, as JSON or as a form.
enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
}

fn audit(server: &ServerProcess, event: &str) -> Vec<Value> {
    server
        .json_lines()
        .into_iter()
        .filter(|v| v["target"] == "audit" && v["event"] == event)
        .collect()
}

#[tokio::test]
async fn a_full_session_logs_its_audit_events_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &[
            // The most a debugging operator would turn on, dependencies included.
            ("RUST_LOG", "debug"),
            ("SIGIL_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
            ("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            // The second presentation of a refresh token below is reuse at once.
            ("SIGIL_REFRESH_REUSE_INTERVAL", "0"),
        ],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let mut secrets = Secrets::default();
    secrets.add("password", PASSWORD);
    secrets.add("admin password", ADMIN_PASSWORD);
    secrets.add("wrong password", WRONG_PASSWORD);

    let post = |path: &str, body: Body| {
        let request = http.post(format!("{base}{path}"));
        async move {
            let request = match body {
                Body::Json(v) => request.json(&v),
                Body::Form(f) => request.form(&f),
            };
            request.send().await.unwrap()
        }
    };
    let form = |pairs: &[(&str, &str)]| {
        Body::Form(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };

    // Register, fail once, log in (form); the admin logs in with JSON below.
    let registered = post(
        "/auth/register",
        Body::Json(json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"})),
    )
    .await;
    secrets.add_tokens(&registered.json().await.unwrap());
    let failed = post(
        "/auth/login",
        form(&[
            ("username", "ada@example.com"),
            ("password", WRONG_PASSWORD),
        ]),
    )
    .await;
    assert_eq!(failed.status(), 401);
    let login: Value = post(
        "/auth/login",
        form(&[("username", "ada@example.com"), ("password", PASSWORD)]),
    )
    .await
    .json()
    .await
    .unwrap();
    secrets.add_tokens(&login);
    let me = http
        .get(format!("{base}/me"))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let user_id = me.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Refresh, then present the used-up token again.
    let old_refresh = login["refresh_token"].as_str().unwrap();
    let refreshed = post(
        "/auth/refresh",
        Body::Json(json!({"refresh_token": old_refresh})),
    )
    .await;
    secrets.add_tokens(&refreshed.json().await.unwrap());
    let reuse = post(
        "/auth/refresh",
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh),
        ]),
    )
    .await;
    assert_eq!(reuse.status(), 401);

    // An administrator disables the user.
    let admin: Value = post(
        "/auth/login",
        Body::Json(json!({"email": "root@example.com", "password": ADMIN_PASSWORD})),
    )
    .await
    .json()
    .await
    .unwrap();
    secrets.add_tokens(&admin);
    let patch = http
        .patch(format!("{base}/admin/users/{user_id}"))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);

    // Rotate the keys and tell the server.
    let rotate = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
        .env_clear()
        .env("RUST_LOG", "debug")
        .current_dir(dir.path())
        .args(["keys", "rotate", "--force"])
        .output()
        .unwrap();
    assert!(rotate.status.success(), "{rotate:?}");
    server.signal("HUP");
    server.wait_for_log("the reload", |v| v["event"] == "keys_reloaded");

    // Everything the server wrote, plus what the rotate command printed.
    let mut log = server.log.lock().unwrap().join("\n");
    log.push_str(&String::from_utf8_lossy(&rotate.stdout));
    log.push_str(&String::from_utf8_lossy(&rotate.stderr));

    // The password hashes and private keys as they are on disk.
    let db = sigil::config::DatabaseUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("data/sigil.db").display()
    ))
    .unwrap();
    let store = sigil::startup::open_store(&db).await.unwrap();
    for email in ["ada@example.com", "root@example.com"] {
        let hash = store
            .user_by_email(email)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        secrets.add("password hash", &hash);
        secrets.add("hash digest", hash.rsplit('$').next().unwrap());
    }
    for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pem") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                if line.len() >= 16 {
                    secrets.add("private key material", line);
                }
            }
        }
    }

    for (what, value) in &secrets.0 {
        assert!(!log.contains(value.as_str()), "the log shows a {what}");
    }
    assert!(!log.contains("PRIVATE KEY"), "the log shows PEM text");
    assert!(!log.contains("$argon2"), "the log shows a PHC string");

    // And what an operator needs is there, with the user and the client.
    for event in ["user_registered", "login_failed", "login_succeeded"] {
        // The bootstrap administrator was made by no request and no client.
        let events: Vec<_> = audit(&server, event)
            .into_iter()
            .filter(|e| e["span"]["name"] == "request")
            .collect();
        assert!(!events.is_empty(), "no {event} event from a request");
        assert!(
            events
                .iter()
                .all(|e| e["client"] == "127.0.0.1" && e["user_id"].is_string()),
            "{event}: {events:?}"
        );
    }
    let reused = audit(&server, "refresh_token_reused");
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0]["user_id"], user_id.as_str());
    let updated = audit(&server, "user_updated");
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["user_id"], user_id.as_str());
    assert!(updated[0]["admin_id"].is_string());
    assert_eq!(audit(&server, "keys_reloaded").len(), 1);
}

#[tokio::test]
async fn json_logs_parse_line_by_line_and_every_line_of_a_request_carries_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let base = server.base.clone();
    let http = reqwest::Client::new();

    let mut sent = Vec::new();
    for (i, (email, password)) in [
        ("nobody@example.com", WRONG_PASSWORD),
        ("nobody@example.com", WRONG_PASSWORD),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("req-{i}-{}", uuid::Uuid::new_v4().simple());
        let resp = http
            .post(format!("{base}/auth/login"))
            .header("x-request-id", &id)
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()["x-request-id"],
            id.as_str(),
            "the id comes back"
        );
        sent.push(id);
    }
    let forged = http
        .get(format!("{base}/healthz"))
        .header("x-request-id", "evil\" level=ERROR msg=\"forged")
        .send()
        .await
        .unwrap();
    let replaced = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&replaced).is_ok(),
        "an unsafe id is replaced: {replaced}"
    );
    server.wait_for_log("the last request line", |v| {
        v["span"]["id"] == replaced.as_str()
    });

    let lines = server.log.lock().unwrap().clone();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    // Lines are picked by what they are, never by the id, so a line that
    // lost its id shows up here as a failure instead of vanishing.
    let failed_logins: Vec<&Value> = parsed
        .iter()
        .filter(|v| v["event"] == "login_failed")
        .collect();
    assert_eq!(failed_logins.len(), 2, "{failed_logins:?}");
    let mut ids: Vec<&str> = failed_logins
        .iter()
        .map(|v| v["span"]["id"].as_str().unwrap_or("<no id>"))
        .collect();
    ids.sort();
    assert_eq!(
        ids, sent,
        "each audit event inside a request carries that request's id"
    );
    let finished: Vec<&Value> = parsed
        .iter()
        .filter(|v| v["message"] == "request finished")
        .collect();
    assert_eq!(
        finished.len(),
        3,
        "two logins and one health check: {finished:?}"
    );
    for id in &sent {
        let of_request: Vec<&&Value> = finished
            .iter()
            .filter(|v| v["span"]["id"] == id.as_str())
            .collect();
        assert_eq!(of_request.len(), 1, "{finished:?}");
        assert_eq!(of_request[0]["status"], 401);
        assert_eq!(of_request[0]["span"]["path"], "/auth/login");
    }
    assert!(
        finished
            .iter()
            .any(|v| v["span"]["id"] == replaced.as_str() && v["span"]["path"] == "/healthz"),
        "the health check's line carries the id that replaced the forged one: {finished:?}"
    );
    for v in &parsed {
        if v.get("span").is_some() {
            assert!(
                v["span"]["id"].as_str().is_some_and(|id| !id.is_empty()),
                "a line inside a request span has the request's id: {v}"
            );
        }
    }
    assert!(
        parsed
            .iter()
            .all(|v| v["level"].is_string() && v["timestamp"].is_string()),
        "every line has a level and a time"
    );
    assert!(
        !lines.iter().any(|l| l.contains("evil")),
        "a forged id never reaches the log"
    );
}
