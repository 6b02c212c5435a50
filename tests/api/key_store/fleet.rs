//! What the key store tests share: a fleet on one PostgreSQL database with
//! `SIGIL_KEY_STORE=database` and one key-encryption key, instances that
//! are real `sigil serve` processes each in its own empty working directory
//! (no shared folder), `sigil keys …` against the same database, and
//! reading what the instances publish and log.

#![allow(dead_code)]

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sqlx::Connection as _;
use tempfile::TempDir;

use super::helpers::relay::with_sslmode_disable;
use super::helpers::{BACKEND, ServerProcess, TestDatabase};

/// The issuer every instance of a fleet shares.
pub const ISSUER: &str = "http://sigil.test";

/// A fresh key-encryption key: 32 random bytes in base64, as
/// `openssl rand -base64 32` makes one.
pub fn new_kek() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    STANDARD.encode(bytes)
}

/// One PostgreSQL database for the key set, and what every instance and
/// every `sigil keys …` needs to reach it.
pub struct Fleet {
    /// Working directory of the `sigil keys …` commands (empty).
    scratch: TempDir,
    /// The database URL (`sslmode=disable`, as instances through a relay need).
    pub url: String,
    /// `SIGIL_KEY_ENCRYPTION_KEY`.
    pub kek: String,
    /// Last, so that the database outlives whatever uses it.
    database: TestDatabase,
}

/// A `sigil serve` of the fleet and its own working directory.
pub struct Instance {
    /// The process (killed on drop).
    pub server: ServerProcess,
    /// Its working directory, empty at start.
    pub dir: TempDir,
}

impl Instance {
    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.server.base
    }
}

impl Fleet {
    /// A fresh database and key-encryption key, or `None` when the test is
    /// skipped (no PostgreSQL; a failure under `CI=true`).
    pub async fn new() -> Option<Fleet> {
        let scratch = tempfile::tempdir().unwrap();
        let database = BACKEND.fresh_database(scratch.path()).await?;
        Some(Fleet {
            url: with_sslmode_disable(database.url.expose()),
            kek: new_kek(),
            scratch,
            database,
        })
    }

    /// `host:port` of the PostgreSQL server, for a relay in front of it.
    pub fn server_address(&self) -> String {
        let url = reqwest::Url::parse(&self.url).unwrap();
        format!(
            "{}:{}",
            url.host_str().unwrap(),
            url.port().unwrap_or(5432)
        )
    }

    /// The settings every instance and command of the fleet shares: the
    /// database store, the database, the key-encryption key, EdDSA, and a
    /// JWK Set max-age of 1 s (a rotation without `--force` waits only that).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("SIGIL_KEY_STORE", "database"),
            ("SIGIL_DATABASE_URL", self.url.as_str()),
            ("SIGIL_KEY_ENCRYPTION_KEY", self.kek.as_str()),
            ("SIGIL_ISSUER", ISSUER),
            ("SIGIL_SIGNING_ALG", "EdDSA"),
            ("SIGIL_JWKS_MAX_AGE", "1s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Starts an instance in a new empty directory, with the fleet's
    /// settings and then `extra` (which may override them; a value of
    /// `None` removes the setting).
    pub fn start(&self, extra: &[(&str, Option<&str>)]) -> Instance {
        self.start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// Starts an instance in `dir`, as [`Fleet::start`] does.
    pub fn start_in(&self, dir: TempDir, extra: &[(&str, Option<&str>)]) -> Instance {
        let server = start_server(dir.path(), &self.merged(extra));
        Instance { server, dir }
    }

    /// Starts `n` instances at the same moment (each in its own thread).
    pub fn start_many(&self, n: usize, extra: &[(&str, Option<&str>)]) -> Vec<Instance> {
        std::thread::scope(|scope| {
            let started: Vec<_> = (0..n)
                .map(|_| scope.spawn(|| self.start(extra)))
                .collect();
            started.into_iter().map(|t| t.join().unwrap()).collect()
        })
    }

    /// `sigil serve` of the fleet in `dir`, not yet spawned, for a start
    /// that is expected to fail (see [`run_bounded`]).
    pub fn serve_command(&self, dir: &Path, extra: &[(&str, Option<&str>)]) -> Command {
        let mut cmd = ServerProcess::bare_command(dir);
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
            .env("RUST_LOG", "info");
        for (k, v) in self.merged(extra) {
            cmd.env(k, v);
        }
        cmd
    }

    /// `sigil keys <args>` against the fleet's database, from an empty
    /// directory, with nothing of the developer's environment.
    pub fn keys(&self, args: &[&str]) -> Command {
        self.keys_with(args, &[])
    }

    /// `sigil keys <args>` with `extra` settings on top of the fleet's.
    pub fn keys_with(&self, args: &[&str], extra: &[(&str, Option<&str>)]) -> Command {
        let mut cmd = ServerProcess::bare_command(self.scratch.path());
        cmd.arg("keys").args(args).env("RUST_LOG", "warn");
        for (k, v) in self.merged(extra) {
            cmd.env(k, v);
        }
        cmd
    }

    /// `sigil keys list --json`, which also loads (opens) the whole set.
    pub fn list(&self) -> Vec<Value> {
        let out = succeed(&mut self.keys(&["list", "--json"]));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// A connection to the fleet's database, for the test's own reading.
    pub async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }

    /// Every row of `signing_keys` (kid, state, sealed bytes, kek_id), by
    /// kid, and the set's version: what "nothing was written" compares.
    pub async fn table(&self) -> (Vec<(String, String, Vec<u8>, String)>, i64) {
        let mut conn = self.connect().await;
        let rows = sqlx::query_as(
            "SELECT kid, state, sealed_key, kek_id FROM signing_keys ORDER BY kid",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let version = sqlx::query_scalar("SELECT version FROM signing_key_set")
            .fetch_optional(&mut conn)
            .await
            .unwrap()
            .unwrap_or(0);
        (rows, version)
    }

    fn merged(&self, extra: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
        let mut env = self.env();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            if let Some(v) = v {
                env.push(((*k).to_owned(), (*v).to_owned()));
            }
        }
        env
    }
}

/// [`ServerProcess::start`] with owned settings.
fn start_server(dir: &Path, env: &[(String, String)]) -> ServerProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start(dir, &env)
}

/// The JWK Set an instance serves: its body and its ETag.
pub async fn jwks(http: &reqwest::Client, base: &str) -> (String, String) {
    let resp = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{base}");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    (resp.text().await.unwrap(), etag)
}

/// Waits, at most `within`, until every instance serves one same JWK Set
/// whose ETag is not `old`; returns its body and ETag.
pub async fn wait_until_all_serve_new(
    http: &reqwest::Client,
    instances: &[&Instance],
    old: &str,
    within: Duration,
) -> (String, String) {
    let deadline = Instant::now() + within;
    loop {
        let mut served = Vec::new();
        for instance in instances {
            served.push(jwks(http, instance.base()).await);
        }
        if served[0].1 != old && served.iter().all(|s| s == &served[0]) {
            return served.swap_remove(0);
        }
        let etags: Vec<&str> = served.iter().map(|s| s.1.as_str()).collect();
        assert!(
            Instant::now() < deadline,
            "not every instance serves a new JWK Set within {within:?} (old {old}): {etags:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the gauge `sigil_key_notifications_connected` on `base`.
pub async fn notifications_gauge(http: &reqwest::Client, base: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("sigil_key_notifications_connected ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no sigil_key_notifications_connected on {base}/metrics"))
}

/// Waits, at most `within`, until the gauge on `base` reads `value`.
pub async fn wait_for_gauge(http: &reqwest::Client, base: &str, value: f64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = notifications_gauge(http, base).await;
        if now == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sigil_key_notifications_connected on {base} reads {now}, not {value}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits, at most `within`, for a `keys_reloaded` line in `server`'s log
/// with this trigger and active kid; panics with the reloads seen if none.
pub fn wait_for_reload(server: &ServerProcess, trigger: &str, active_kid: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let lines = server.json_lines();
        let reloads: Vec<&Value> = lines
            .iter()
            .filter(|v| v["event"] == "keys_reloaded")
            .collect();
        if reloads
            .iter()
            .any(|v| v["trigger"] == trigger && v["active_kid"] == active_kid)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no keys_reloaded with trigger {trigger} and active kid {active_kid} within {within:?}; reloads: {reloads:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `cmd` to its end, which must come within `within` (else it is
/// killed and the test fails), and returns what it did.
pub fn run_bounded(cmd: &mut Command, within: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            // The arguments only: the environment holds the test's key.
            let args: Vec<_> = cmd.get_args().collect();
            panic!(
                "sigil {args:?} did not end within {within:?}; stderr: {}",
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs `cmd` (bounded) and asserts that it succeeded.
pub fn succeed(cmd: &mut Command) -> Output {
    let out = run_bounded(cmd, Duration::from_secs(60));
    let args: Vec<_> = cmd.get_args().collect();
    assert!(
        out.status.success(),
        "sigil {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The lines of `out`'s stderr that start with `sigil: ` (the binary's own
/// one-line errors, as opposed to log lines).
pub fn sigil_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("sigil: "))
        .map(str::to_owned)
        .collect()
}

/// Stdout and stderr of `out` as text.
pub fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one key of `state` in a `sigil keys list --json` listing.
pub fn kid_in_state(list: &[Value], state: &str) -> String {
    let found: Vec<&Value> = list.iter().filter(|k| k["state"] == state).collect();
    assert_eq!(found.len(), 1, "one {state} key in {list:#?}");
    found[0]["kid"].as_str().unwrap().to_owned()
}

/// The last line of stdout: the kid `sigil keys rotate` printed.
pub fn printed_kid(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Files anywhere under `dir` that look like a key set (`*.pem`, `keyset.json`).
pub fn key_files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n == "keyset.json" || n.to_string_lossy().ends_with(".pem"))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}
