//! The refresh reuse interval (SPEC §3), over HTTP on each backend: several
//! tabs presenting one refresh token at once all get the same successor, the
//! family does not branch, the database never holds that successor usable,
//! and after the interval a presentation is reuse again. The strict policy
//! (interval `0`) is also covered by `refresh::refresh_token_reuse_revokes_the_whole_family`
//! and `concurrency::one_refresh_token_presented_twenty_times_at_once_…`.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{BACKEND, Backend, Options, TestApp, b64, spawn_app, spawn_app_with};

/// A server whose reuse interval is `interval`.
fn with_interval(interval: Duration) -> Options {
    Options {
        tweak: Box::new(move |s| s.refresh_reuse_interval = interval),
        ..Options::default()
    }
}

/// Presents `token` `n` times at once; the status and body of each answer.
async fn refresh_at_once(app: &TestApp, token: &str, n: usize) -> Vec<(u16, Value)> {
    let attempts = (0..n).map(|_| {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/auth/refresh"),
            token.to_owned(),
        );
        tokio::spawn(async move {
            let resp = client
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    });
    futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// The refresh token of a token response.
fn refresh_token(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// How many sessions `/me/sessions` lists for the holder of `access`.
async fn session_count(app: &TestApp, access: &str) -> usize {
    let resp = app.get("/me/sessions", Some(access)).await;
    assert_eq!(resp.status(), 200);
    resp.json::<Vec<Value>>().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_within_the_interval_all_get_one_and_the_same_successor() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, refresh) = app.signed_up_user().await;

    let results = refresh_at_once(&app, &refresh, 20).await;

    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{BACKEND:?}: {statuses:?}"
    );
    let successors: HashSet<String> = results.iter().map(|(_, b)| refresh_token(b)).collect();
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    let access_tokens: HashSet<&str> = results
        .iter()
        .map(|(_, b)| b["access_token"].as_str().unwrap())
        .collect();
    assert_eq!(
        access_tokens.len(),
        20,
        "each answer has a fresh access token"
    );
    for (_, body) in &results {
        assert_eq!(
            app.get("/me", Some(body["access_token"].as_str().unwrap()))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        session_count(&app, &access).await,
        1,
        "the family did not branch"
    );
    let successor = successors.into_iter().next().unwrap();
    assert_ne!(successor, refresh);
    let next = app.refresh(&successor).await;
    assert_eq!(next.status(), 200, "the one successor works");
    let next: Value = next.json().await.unwrap();
    assert_ne!(refresh_token(&next), successor);
}

#[tokio::test]
async fn a_used_up_token_presented_after_the_interval_is_reuse_and_ends_the_family() {
    const INTERVAL: Duration = Duration::from_secs(1);
    let Some(app) = spawn_app_with(with_interval(INTERVAL)).await else {
        return;
    };
    let (_, access, original) = app.signed_up_user().await;
    let first: Value = app.refresh(&original).await.json().await.unwrap();
    let successor = refresh_token(&first);
    // The token was used up before the answer came: the interval has passed
    // one interval later, plus a margin for whole-second clocks.
    tokio::time::sleep(INTERVAL + Duration::from_millis(500)).await;

    let late = app.refresh(&original).await;

    assert_eq!(late.status(), 401);
    let problem: Value = late.json().await.unwrap();
    assert_eq!(problem["error"], "invalid_grant");
    assert_eq!(
        app.refresh(&successor).await.status(),
        401,
        "the successor died with the family"
    );
    assert_eq!(session_count(&app, &access).await, 0);
}

#[tokio::test]
async fn a_repeat_after_the_successor_was_used_is_reuse_and_ends_the_family() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, original) = app.signed_up_user().await;
    let first: Value = app.refresh(&original).await.json().await.unwrap();
    let second: Value = app
        .refresh(&refresh_token(&first))
        .await
        .json()
        .await
        .unwrap();

    let behind = app.refresh(&original).await;

    assert_eq!(behind.status(), 401, "the family moved on");
    assert_eq!(app.refresh(&refresh_token(&second)).await.status(), 401);
    assert_eq!(session_count(&app, &access).await, 0);
}

#[tokio::test]
async fn with_the_interval_off_a_second_presentation_is_reuse_and_ends_the_family() {
    let Some(app) = spawn_app_with(with_interval(Duration::ZERO)).await else {
        return;
    };
    let (_, access, original) = app.signed_up_user().await;
    let first: Value = app.refresh(&original).await.json().await.unwrap();

    let again = app.refresh(&original).await;

    assert_eq!(again.status(), 401);
    assert_eq!(app.refresh(&refresh_token(&first)).await.status(), 401);
    assert_eq!(session_count(&app, &access).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_holds_the_repeated_successor_only_sealed_under_the_presented_token() {
    let Some(app) = spawn_app().await else { return };
    let (_, _, presented) = app.signed_up_user().await;
    let results = refresh_at_once(&app, &presented, 5).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let successor = refresh_token(&results[0].1);

    // Nothing stored shows the successor, or the used-up token, as sent or as raw bytes.
    let stored = stored_bytes(&app).await;
    for token in [&successor, &presented] {
        let raw = sigil::token::base64url_decode(token).unwrap();
        for needle in [
            token.as_bytes().to_vec(),
            raw.clone(),
            hex(token.as_bytes()).into_bytes(),
            hex(&raw).into_bytes(),
        ] {
            assert!(
                !contains(&stored, &needle),
                "{BACKEND:?}: a token is stored in clear"
            );
        }
    }
    // What is stored on the used-up token's row opens with that token only.
    let row = sigil::token::refresh::hash(&presented);
    let sealed = sealed_successor(&app, &row).await;
    let opened = sigil::token::refresh::open_successor(&presented, &sealed, &row).unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&opened), successor);
    let successor_row = sigil::token::refresh::hash(&successor);
    for stored_value in [
        b64(&row),
        hex(&row),
        b64(&successor_row),
        hex(&successor_row),
    ] {
        assert!(
            sigil::token::refresh::open_successor(&stored_value, &sealed, &row).is_none(),
            "what the database holds opens nothing"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Everything the server's database holds: the SQLite file and its WAL as
/// bytes, or every row of every PostgreSQL table as text (`bytea` in hex).
async fn stored_bytes(app: &TestApp) -> Vec<u8> {
    let url = app.database_url.expose();
    match BACKEND {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap();
            let mut bytes = std::fs::read(path).unwrap();
            bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            bytes
        }
        Backend::Postgres => {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let mut text = String::new();
            for table in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                text.extend(rows);
            }
            text.into_bytes()
        }
    }
}

/// The sealed successor stored on the token row with hash `row`.
async fn sealed_successor(app: &TestApp, row: &[u8]) -> Vec<u8> {
    use sqlx::Connection as _;
    let url = app.database_url.expose();
    match BACKEND {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar("SELECT sealed_successor FROM refresh_tokens WHERE token_hash = ?")
                .bind(row)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar("SELECT sealed_successor FROM refresh_tokens WHERE token_hash = $1")
                .bind(row)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }
}
