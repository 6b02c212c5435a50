//! Real OAuth 2.0 client libraries use sigil with no adapter (SPEC §7):
//! Python's authlib (`OAuth2Session`) and node's openid-client (v6), pointed
//! at a running `sigil serve`, obtain, refresh, introspect and revoke tokens
//! with the password and client-credentials grants, and see failed grants as
//! their own error objects. The scripts in `tests/interop/` check every answer
//! and exit 0 only when all their checks passed; this file starts the server
//! the way an operator would (declared scopes, a bootstrap administrator),
//! creates a user and a confidential client over HTTP, and runs them.
//!
//! `.ci/run` installs the libraries (the venv `target/interop-venv` from
//! `tests/interop/requirements.txt`, `npm ci` in `tests/interop`); without
//! them a test is skipped (`helpers::skip`: SKIPPED outside CI, a failure
//! under `CI=true`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{BACKEND, PASSWORD, ServerProcess, TestDatabase, skip::skip, unique_email};
use crate::interop::tools::{interop_dir, node_with, run_bounded, venv_python};

/// The audience of access tokens; not the issuer, so a script that confused
/// the two would be caught.
const AUDIENCE: &str = "https://api.interop.example";
/// The API scopes the server declares (`SIGIL_SCOPES`); the client gets both.
const API_SCOPES: &str = "orders:read orders:write";
/// sigil's public first-party client (`SIGIL_PUBLIC_CLIENT_ID`'s default).
const PUBLIC_CLIENT_ID: &str = "sigil";

/// One of the client libraries, as the program and script that drive it.
struct Library {
    name: &'static str,
    program: PathBuf,
    script: &'static str,
    /// The last line the script prints when every check passed.
    done: &'static str,
}

/// What the scripts need from the running server.
struct Setup {
    server: ServerProcess,
    email: String,
    client_id: String,
    client_secret: String,
    /// Dropped after the server (fields drop in order): PostgreSQL's test
    /// database goes with the test.
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

/// Starts `sigil serve` on this backend with declared API scopes and a
/// bootstrap administrator; registers a user and creates a confidential
/// client with the API scopes through `POST /admin/clients`.
async fn running_sigil() -> Option<Setup> {
    let dir = tempfile::tempdir().unwrap();
    let database = BACKEND.fresh_database(dir.path()).await?;
    let admin_email = unique_email();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_DATABASE_URL", database.url.expose()),
            ("SIGIL_AUDIENCE", AUDIENCE),
            ("SIGIL_SCOPES", API_SCOPES),
            ("SIGIL_BOOTSTRAP_ADMIN_EMAIL", admin_email.as_str()),
            ("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD),
        ],
    );
    let http = reqwest::Client::new();

    let login = http
        .post(format!("{}/auth/login", server.base))
        .form(&[
            ("grant_type", "password"),
            ("username", admin_email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the bootstrap administrator logs in");
    let admin: Value = login.json().await.unwrap();
    let admin_token = admin["access_token"].as_str().unwrap();

    let scopes: Vec<&str> = API_SCOPES.split(' ').collect();
    let created = http
        .post(format!("{}/admin/clients", server.base))
        .bearer_auth(admin_token)
        .json(&json!({"name": "interop", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        201,
        "POST /admin/clients creates a client"
    );
    let client: Value = created.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let client_secret = client["client_secret"].as_str().unwrap().to_owned();

    let email = unique_email();
    let registered = http
        .post(format!("{}/auth/register", server.base))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Interop User"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201, "the user registers");

    Some(Setup {
        server,
        email,
        client_id,
        client_secret,
        _database: database,
        _dir: dir,
    })
}

/// Runs `library`'s script against a fresh server and asserts that every
/// check in it passed.
async fn library_passes_every_check(library: Library) {
    let Some(setup) = running_sigil().await else {
        return;
    };
    let target = match library.name {
        // authlib is given the metadata URL; openid-client discovers from the issuer.
        "authlib" => format!(
            "{}/.well-known/oauth-authorization-server",
            setup.server.base
        ),
        _ => setup.server.base.clone(),
    };
    let mut command = Command::new(&library.program);
    command
        .arg(interop_dir().join(library.script))
        .arg(&target)
        .env("SIGIL_INTEROP_USER_EMAIL", &setup.email)
        .env("SIGIL_INTEROP_USER_PASSWORD", PASSWORD)
        .env("SIGIL_INTEROP_CLIENT_ID", &setup.client_id)
        .env("SIGIL_INTEROP_CLIENT_SECRET", &setup.client_secret)
        .env("SIGIL_INTEROP_CLIENT_SCOPE", API_SCOPES)
        .env("SIGIL_INTEROP_AUDIENCE", AUDIENCE)
        .env("SIGIL_INTEROP_PUBLIC_CLIENT_ID", PUBLIC_CLIENT_ID);
    let (code, output) =
        tokio::task::spawn_blocking(move || run_bounded(command, Duration::from_secs(120)))
            .await
            .unwrap();
    assert_eq!(
        code, 0,
        "{} against sigil on {BACKEND:?} failed (exit {code}; 1 = a check failed, 2 = it could not run):\n{output}",
        library.name
    );
    assert!(
        output.contains(library.done),
        "{} exited 0 without finishing its checks:\n{output}",
        library.name
    );
    drop(setup);
}

#[tokio::test]
async fn authlib_obtains_refreshes_introspects_and_revokes_tokens_and_sees_failures_as_oauth_errors()
 {
    match venv_python("authlib, requests") {
        Ok(python) => {
            library_passes_every_check(Library {
                name: "authlib",
                program: python,
                script: "oauth_authlib.py",
                done: "all authlib checks passed",
            })
            .await
        }
        Err(why) => skip(&why),
    }
}

#[tokio::test]
async fn openid_client_discovers_sigil_and_obtains_refreshes_introspects_and_revokes_tokens() {
    match node_with("openid-client") {
        Ok(node) => {
            library_passes_every_check(Library {
                name: "openid-client",
                program: node,
                script: "oauth_openid_client.mjs",
                done: "all openid-client checks passed",
            })
            .await
        }
        Err(why) => skip(&why),
    }
}
