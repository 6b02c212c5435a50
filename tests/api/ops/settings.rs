//! Settings as the binary reads them: with nothing but `--bind`, the
//! defaults of SPEC §1 as the binary itself applies them (not
//! `Settings::new`, which the other tests start from); `.env` in the working
//! directory; a restart with a different bootstrap password; the README's
//! configuration table against the flags of `sigil serve`.

use std::path::Path;
use std::str::FromStr as _;

use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, Row as _};

use super::helpers::{PASSWORD, ServerProcess, segment, unique_email};

/// `sigil serve --bind 127.0.0.1:0` in `dir`, with no variables at all.
fn serve_with_only_bind(dir: &Path) -> ServerProcess {
    let mut cmd = ServerProcess::bare_command(dir);
    cmd.args(["serve", "--bind", "127.0.0.1:0"]);
    ServerProcess::spawn(cmd)
}

/// A read-only connection to the SQLite file at `path`.
async fn sqlite(path: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .read_only(true);
    SqliteConnection::connect_with(&options).await.unwrap()
}

fn timestamp(text: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap()
}

#[tokio::test]
async fn serve_with_only_bind_has_the_documented_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_only_bind(dir.path());
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // The issuer is `http://` + the bind address (port 0 resolved).
    let metadata: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], base.as_str());

    // The JWK Set may be cached for 300 s.
    let jwks = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let cache_control = jwks.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache_control.split(',').any(|d| d.trim() == "max-age=300"),
        "{cache_control}"
    );

    // Access tokens: RS256, 15 minutes, iss and aud the issuer.
    let email = unique_email();
    let registered = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let body: Value = registered.json().await.unwrap();
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(segment(access, 0)["alg"], "RS256");
    let claims = segment(access, 1);
    assert_eq!(claims["iss"], base.as_str());
    assert_eq!(
        claims["aud"],
        base.as_str(),
        "the default audience is the issuer"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    // Where the data went: ./data/sigil.db, ./keys, ./data/sigil.pid.
    let db_path = dir.path().join("data/sigil.db");
    assert!(db_path.exists(), "the database is ./data/sigil.db");
    assert!(
        dir.path().join("keys/keyset.json").exists(),
        "keys in ./keys"
    );
    assert!(
        dir.path().join("data/sigil.pid").exists(),
        "pid in ./data/sigil.pid"
    );

    // What the server stored: an argon2id hash with m=19456, t=2, p=1, and a
    // refresh token that expires 7 days after it was made. Only the
    // parameters are ever printed, never the hash.
    let mut db = sqlite(&db_path).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email_lower = ?")
        .bind(email.to_lowercase())
        .fetch_one(&mut db)
        .await
        .unwrap();
    let parameters: String = hash.split('$').take(4).collect::<Vec<_>>().join("$");
    assert_eq!(parameters, "$argon2id$v=19$m=19456,t=2,p=1");
    // `sigil users create` without cost flags hashes the same way.
    let db_url = format!("sqlite://{}", db_path.display());
    let created =
        super::cli::users_create(&db_url, "cli@example.com", &[], &format!("{PASSWORD}\n"));
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email_lower = ?")
        .bind("cli@example.com")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let parameters: String = hash.split('$').take(4).collect::<Vec<_>>().join("$");
    assert_eq!(parameters, "$argon2id$v=19$m=19456,t=2,p=1", "users create");
    let row = sqlx::query("SELECT created_at, expires_at FROM refresh_tokens")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let lifetime = timestamp(row.get("expires_at")) - timestamp(row.get("created_at"));
    // The two columns come from two readings of the clock.
    let off = (lifetime - chrono::Duration::days(7)).abs();
    assert!(
        off < chrono::Duration::seconds(1),
        "refresh tokens live 7 days, not {lifetime}"
    );
}

#[tokio::test]
async fn a_dotenv_file_in_the_working_directory_is_read_and_real_variables_win() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "SIGIL_ISSUER=https://dotenv.test/sigil\nSIGIL_JWKS_MAX_AGE=42s\nSIGIL_ACCESS_TTL=5m\n",
    )
    .unwrap();
    let mut cmd = ServerProcess::bare_command(dir.path());
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env("SIGIL_ACCESS_TTL", "7m");
    let server = ServerProcess::spawn(cmd);
    let http = reqwest::Client::new();

    let metadata: Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "https://dotenv.test/sigil", "from .env");
    let jwks = http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap();
    let cache_control = jwks.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache_control.split(',').any(|d| d.trim() == "max-age=42"),
        "from .env: {cache_control}"
    );
    let body: Value = http
        .post(format!("{}/auth/register", server.base))
        .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["expires_in"], 420,
        "the process environment wins over .env"
    );
}

#[tokio::test]
async fn restarting_with_a_different_bootstrap_password_does_not_change_the_existing_admin() {
    const FIRST: &str = "first bootstrap pass 1a2b";
    const SECOND: &str = "second bootstrap pass 3c4d";
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let login = |base: String, password: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("{base}/auth/login"))
                .form(&[("username", "boss@example.com"), ("password", password)])
                .send()
                .await
                .unwrap()
        }
    };

    let mut first = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_BOOTSTRAP_ADMIN_EMAIL", "boss@example.com"),
            ("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", FIRST),
        ],
    );
    assert_eq!(login(first.base.clone(), FIRST).await.status(), 200);
    first.signal("TERM");
    assert_eq!(first.wait_for_exit().code(), Some(0));
    drop(first);

    let second = ServerProcess::start(
        dir.path(),
        &[
            ("SIGIL_BOOTSTRAP_ADMIN_EMAIL", "boss@example.com"),
            ("SIGIL_BOOTSTRAP_ADMIN_PASSWORD", SECOND),
        ],
    );
    let refused = login(second.base.clone(), SECOND).await;
    assert_eq!(
        refused.status(),
        401,
        "the new bootstrap password is ignored"
    );
    let kept = login(second.base.clone(), FIRST).await;
    assert_eq!(kept.status(), 200, "the admin keeps the password it had");
    let body: Value = kept.json().await.unwrap();
    let scopes: Vec<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert!(scopes.contains(&"admin"), "and its admin scope: {scopes:?}");
}

/// The rows of the README's configuration table: (variable, flag, default).
fn readme_settings() -> Vec<(String, String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("### Configuration")
        .nth(1)
        .expect("the README has a Configuration section");
    table
        .lines()
        .skip_while(|l| !l.starts_with("| variable"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let unquote = |c: &str| c.trim_matches('`').to_owned();
            (unquote(cells[1]), unquote(cells[2]), cells[3].to_owned())
        })
        .collect()
}

#[test]
fn the_readme_configuration_table_matches_the_flags_of_sigil_serve() {
    use clap::CommandFactory;
    let cli = sigil::cli::Cli::command();
    let serve = cli.find_subcommand("serve").unwrap();
    let flags: Vec<(String, String, Option<String>)> = serve
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_owned();
            let flag = format!("--{}", arg.get_long()?);
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((env, flag, default))
        })
        .collect();
    let rows = readme_settings();

    let mut documented: Vec<&str> = rows.iter().map(|(v, _, _)| v.as_str()).collect();
    let mut real: Vec<&str> = flags.iter().map(|(v, _, _)| v.as_str()).collect();
    documented.sort_unstable();
    real.sort_unstable();
    assert_eq!(
        documented, real,
        "the README lists exactly the settings of `sigil serve`"
    );
    for (variable, real_flag, real_default) in &flags {
        let (_, flag, default) = rows.iter().find(|(v, _, _)| v == variable).unwrap();
        assert_eq!(flag, real_flag, "{variable}");
        if let Some(real_default) = real_default {
            assert!(
                default.contains(&format!("`{real_default}`")),
                "{variable}: the README says {default:?}, the flag defaults to {real_default:?}"
            );
        }
    }
}
