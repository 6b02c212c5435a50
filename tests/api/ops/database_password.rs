//! A database URL with a password, on a PostgreSQL server that accepts it:
//! a whole start, a registration, `/readyz`, `sigil users create` and
//! `sigil clients list`, with debug logs on, print the URL masked and the
//! password nowhere. (The test server trusts local connections, so it
//! ignores the password it is given.)

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::json;

use super::helpers::{BACKEND, PASSWORD, ServerProcess, unique_email};

const SECRET: &str = "hunter2-xyz";

/// `url` with `SECRET` as the password, in the user-info or in the query.
fn with_password(url: &str, in_query: bool) -> String {
    if in_query {
        let joint = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joint}sslmode=disable&password={SECRET}")
    } else {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (user, rest) = rest.split_once('@').unwrap();
        format!("{scheme}://{user}:{SECRET}@{rest}")
    }
}

fn sigil(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .env_clear()
        .env("RUST_LOG", "debug")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn a_server_and_the_commands_on_a_database_url_with_a_password_never_print_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = BACKEND.fresh_database(dir.path()).await else {
        return;
    };
    for in_query in [false, true] {
        let url = with_password(database.url.expose(), in_query);
        let mut server = ServerProcess::start(
            dir.path(),
            &[("SIGIL_DATABASE_URL", url.as_str()), ("RUST_LOG", "debug")],
        );
        let http = reqwest::Client::new();
        let registered = http
            .post(format!("{}/auth/register", server.base))
            .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
        let ready = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        server.signal("TERM");
        assert!(server.wait_for_exit().success());
        let created = sigil(
            dir.path(),
            &[
                "users",
                "create",
                "--email",
                &unique_email(),
                "--name",
                "Cli",
                "--database-url",
                &url,
                "--argon2-memory-kib",
                "256",
                "--argon2-iterations",
                "1",
            ],
            &format!("{PASSWORD}\n"),
        );
        let listed = sigil(dir.path(), &["clients", "list", "--database-url", &url], "");

        let log = server.log.lock().unwrap().join("\n");
        assert!(!log.contains(SECRET), "{log}");
        let opened = server
            .json_lines()
            .into_iter()
            .find(|line| line["message"] == "database opened")
            .unwrap_or_else(|| panic!("a line names the database: {log}"));
        let shown = opened["database"].as_str().unwrap();
        assert!(
            shown.contains(":***@") || shown.contains("password=***"),
            "{shown}"
        );
        for output in [&created, &listed] {
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(!printed.contains(SECRET), "{printed}");
        }
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    }
}
