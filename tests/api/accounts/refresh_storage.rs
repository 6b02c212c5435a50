//! What refreshing costs the database (issue 12, finding 5), over HTTP on
//! each backend: a chain that keeps refreshing keeps only the rows that can
//! still decide an answer, so its storage is bounded by the refresh rate
//! times the token lifetime and not by the number of refreshes; and a token
//! the database does not hold is answered from a reader, so a flood of
//! made-up tokens neither waits for nor delays the one writer.
//!
//! Rows are counted through a connection of the test's own to the server's
//! database, as an operator would look at it.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sigil::keys::Algorithm;

use super::helpers::{BACKEND, Backend, Options, TestApp, spawn_app_with};

/// A well-formed refresh token (43 base64url characters) that was never
/// issued.
fn made_up_token() -> String {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refreshes `token` and returns its successor; panics on anything but 200.
async fn next_in_chain(app: &TestApp, token: &str) -> String {
    let resp = app.refresh(token).await;
    assert_eq!(resp.status(), 200, "{BACKEND:?}: a legitimate refresh");
    let body: Value = resp.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// How many refresh-token rows the server's database holds (the test's
/// database holds one user with one family).
async fn refresh_token_rows(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) FROM refresh_tokens").await
}

/// The answer of the `COUNT(*)` query `sql` on the server's database.
async fn count(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Connection as _;
    let url = app.database_url.expose();
    match BACKEND {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

/// The median of `samples`.
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_refreshes_of_one_chain_keep_only_the_rows_of_the_last_token_lifetime() {
    // Arrange: a short lifetime, so that rows stop mattering during the test.
    // The default reuse interval stays on: repeats keep working throughout.
    // PostgreSQL gets half as many: a debug build refreshes about 150 times a
    // second there (over a minute for 10,000 on a loaded machine), and the
    // bound below depends on the rate, not on the count, either way.
    let refreshes: usize = match BACKEND {
        Backend::Sqlite => 10_000,
        Backend::Postgres => 5_000,
    };
    const TTL: Duration = Duration::from_secs(2);
    let Some(app) = spawn_app_with(Options {
        alg: Algorithm::EdDsa,
        tweak: Box::new(|s| s.refresh_ttl = TTL),
    })
    .await
    else {
        return;
    };
    let (_, _, mut token) = app.signed_up_user().await;

    // Act: one client refreshing as fast as it can.
    let started = Instant::now();
    let mut done_at = Vec::with_capacity(refreshes);
    let mut rows_halfway = 0;
    for i in 0..refreshes {
        token = next_in_chain(&app, &token).await;
        done_at.push(Instant::now());
        if i + 1 == refreshes / 2 {
            rows_halfway = refresh_token_rows(&app).await;
        }
    }
    let rows = refresh_token_rows(&app).await;

    // Assert: what is kept is what was made within the last lifetime (plus
    // the allowance for clocks of other instances, and a second of slack for
    // the moment of the count), not the whole chain.
    let elapsed = started.elapsed();
    let window = TTL + Duration::from_secs(2) + Duration::from_secs(1);
    let end = Instant::now();
    let recent = done_at
        .iter()
        .filter(|t| end.duration_since(**t) <= window)
        .count();
    let bound = i64::try_from(recent).unwrap() + 2;
    eprintln!(
        "{BACKEND:?}: {refreshes} refreshes in {elapsed:?}; rows halfway {rows_halfway}, \
         at the end {rows}; refreshes within the last {window:?}: {recent}"
    );
    assert!(
        rows <= bound,
        "{BACKEND:?}: {rows} rows after {refreshes} refreshes; at most {bound} can still matter"
    );
    let sealed = count(
        &app,
        "SELECT COUNT(*) FROM refresh_tokens WHERE sealed_successor IS NOT NULL",
    )
    .await;
    assert!(sealed <= 1, "{BACKEND:?}: {sealed} sealed successors kept");
    // The chain still works, and its newest token is the one that does.
    next_in_chain(&app, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_made_up_tokens_do_not_delay_a_legitimate_refresh() {
    // Arrange: a legitimate chain, and its latency with no one else around.
    const MADE_UP: usize = 2_000;
    const AT_ONCE: usize = 16;
    let Some(app) = spawn_app_with(Options {
        alg: Algorithm::EdDsa,
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (_, _, mut token) = app.signed_up_user().await;
    let mut quiet = Vec::new();
    for _ in 0..60 {
        let sent = Instant::now();
        token = next_in_chain(&app, &token).await;
        quiet.push(sent.elapsed());
    }
    let baseline = median(&mut quiet);

    // Act: a flood of made-up tokens, AT_ONCE at a time, while the chain
    // keeps refreshing.
    let flood = {
        let (client, url) = (app.client.clone(), app.url("/auth/refresh"));
        tokio::spawn(async move {
            futures_util::stream::iter(0..MADE_UP)
                .map(|_| {
                    let (client, url) = (client.clone(), url.clone());
                    async move {
                        client
                            .post(url)
                            .json(&json!({"refresh_token": made_up_token()}))
                            .send()
                            .await
                            .unwrap()
                            .status()
                            .as_u16()
                    }
                })
                .buffer_unordered(AT_ONCE)
                .collect::<Vec<u16>>()
                .await
        })
    };
    let mut busy = Vec::new();
    while !flood.is_finished() {
        let sent = Instant::now();
        token = next_in_chain(&app, &token).await;
        busy.push(sent.elapsed());
    }
    let statuses = flood.await.unwrap();

    // Assert: every made-up token is refused, and the legitimate refreshes
    // answered about as fast as without the flood.
    assert!(
        statuses.iter().all(|s| *s == 401),
        "{BACKEND:?}: made-up tokens answered {:?}",
        statuses.iter().filter(|s| **s != 401).take(5).collect::<Vec<_>>()
    );
    assert!(!busy.is_empty());
    let worst = *busy.iter().max().unwrap();
    let during = median(&mut busy);
    let bound = baseline * 3 + Duration::from_millis(50);
    eprintln!(
        "{BACKEND:?}: legitimate refresh p50 {baseline:?} alone, {during:?} during \
         {MADE_UP} made-up tokens ({} legitimate refreshes, worst {worst:?}); bound {bound:?}",
        busy.len(),
    );
    assert!(
        during <= bound,
        "{BACKEND:?}: p50 {during:?} during the flood, {baseline:?} alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tokens_are_answered_while_another_transaction_holds_the_refresh_tables() {
    // Arrange: another connection holds what a refresh writes (SQLite: the
    // database's write lock; PostgreSQL: the refresh tables, against any
    // lock a refresh's writing transaction would take).
    const ANSWER_WITHIN: Duration = Duration::from_secs(3);
    let Some(app) = spawn_app_with(Options {
        alg: Algorithm::EdDsa,
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (_, _, token) = app.signed_up_user().await;
    let mut holder = WriteLockHolder::take(&app).await;

    // Act: made-up tokens presented to refresh and to logout.
    let mut answers = Vec::new();
    for path in ["/auth/refresh", "/auth/logout"] {
        for _ in 0..5 {
            let body = json!({"refresh_token": made_up_token()});
            let status = tokio::time::timeout(ANSWER_WITHIN, app.post_json(path, &body))
                .await
                .map(|resp| resp.status().as_u16());
            answers.push((path, status));
        }
    }
    holder.release().await;

    // Assert: refused (refresh) or accepted as a no-op (logout) without
    // waiting for the holder; the legitimate token was never touched.
    eprintln!("{BACKEND:?}: answers with the refresh tables held: {answers:?}");
    for (path, status) in &answers {
        let expected = if *path == "/auth/refresh" { 401 } else { 204 };
        assert_eq!(
            status.as_ref().ok(),
            Some(&expected),
            "{BACKEND:?}: {path} with a made-up token, refresh tables held elsewhere"
        );
    }
    next_in_chain(&app, &token).await;
}

/// A connection of the test's own that can hold the refresh tables for
/// writing in a transaction.
enum WriteLockHolder {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLockHolder {
    /// Connects to the server's database and holds the refresh tables.
    async fn take(app: &TestApp) -> WriteLockHolder {
        let mut holder = WriteLockHolder::connect(app.database_url.expose()).await;
        holder.hold().await;
        holder
    }

    async fn connect(url: &str) -> WriteLockHolder {
        use sqlx::Connection as _;
        match BACKEND {
            Backend::Sqlite => WriteLockHolder::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap()),
            Backend::Postgres => WriteLockHolder::Postgres(sqlx::PgConnection::connect(url).await.unwrap()),
        }
    }

    /// Begins a transaction that holds what a refresh writes: SQLite's write
    /// lock, or PostgreSQL's refresh tables against any lock a refresh's
    /// writing transaction would take (plain reads still pass).
    async fn hold(&mut self) {
        match self {
            WriteLockHolder::Sqlite(conn) => {
                sqlx::query("BEGIN IMMEDIATE").execute(conn).await.unwrap();
            }
            WriteLockHolder::Postgres(conn) => {
                sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
                sqlx::query("LOCK TABLE refresh_tokens, refresh_families IN EXCLUSIVE MODE")
                    .execute(conn)
                    .await
                    .unwrap();
            }
        }
    }

    /// Ends the transaction.
    async fn release(&mut self) {
        match self {
            WriteLockHolder::Sqlite(conn) => {
                sqlx::query("ROLLBACK").execute(conn).await.unwrap();
            }
            WriteLockHolder::Postgres(conn) => {
                sqlx::query("ROLLBACK").execute(conn).await.unwrap();
            }
        }
    }
}
