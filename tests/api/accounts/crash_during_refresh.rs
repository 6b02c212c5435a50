//! `sigil serve` killed with SIGKILL in the middle of a burst of refreshes
//! (many refresh chains at once, so on SQLite many rotations share one
//! group commit), then started again on the same database: every refresh
//! that was answered is there, and no token an answered refresh used up
//! works again. A refresh in flight at the kill may have happened or not,
//! but not half: either its token still works and has no successor stored,
//! or it is used up and its successor is stored.
//!
//! With a reuse interval of zero, presenting a used-up token is reuse and
//! revokes its family, which would make every later check of that family
//! pass for the wrong reason; so each family is checked from its newest
//! token back: first the database's count of its tokens, then the newest
//! token the test holds, then the tokens answered refreshes used up.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{BACKEND, PASSWORD, ServerProcess, unique_email};

/// Refresh chains running at once.
const CHAINS: usize = 24;
/// Kills (and restarts) per backend.
const ROUNDS: usize = 3;

/// What one chain saw before the kill.
#[derive(Debug, Default)]
struct Chain {
    email: String,
    /// The token the chain started with, then each answered successor.
    tokens: Vec<String>,
    /// Whether a refresh of the last token was sent and never answered.
    in_flight: bool,
}

impl Chain {
    fn newest(&self) -> &str {
        self.tokens.last().unwrap()
    }

    /// Tokens used up by answered refreshes, newest first.
    fn used_up(&self) -> impl Iterator<Item = &String> {
        self.tokens[..self.tokens.len() - 1].iter().rev()
    }
}

/// Refreshes from `first` on, one after the other, until the server stops
/// answering.
async fn run_chain(base: String, email: String, first: String) -> Chain {
    let http = reqwest::Client::new();
    let mut chain = Chain {
        email,
        tokens: vec![first],
        in_flight: false,
    };
    loop {
        let sent = http
            .post(format!("{base}/auth/refresh"))
            .json(&json!({"refresh_token": chain.newest()}))
            .send()
            .await;
        let body = match sent {
            Ok(resp) => {
                let status = resp.status();
                match resp.json::<Value>().await {
                    Ok(body) => {
                        assert_eq!(status, 200, "a refresh during the burst: {body}");
                        body
                    }
                    Err(_) => {
                        chain.in_flight = true;
                        return chain;
                    }
                }
            }
            Err(_) => {
                chain.in_flight = true;
                return chain;
            }
        };
        let next = body["refresh_token"].as_str().unwrap().to_owned();
        chain.tokens.push(next);
    }
}

/// How many refresh tokens each account's (one) family holds, by email.
async fn tokens_per_account(url: &str) -> HashMap<String, i64> {
    const QUERY: &str = "SELECT u.email, COUNT(t.id) FROM users u \
        JOIN refresh_families f ON f.user_id = u.id \
        JOIN refresh_tokens t ON t.family_id = f.id GROUP BY u.email";
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(QUERY).fetch_all(&mut conn).await.unwrap();
        rows.into_iter().collect()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(QUERY).fetch_all(&mut conn).await.unwrap();
        rows.into_iter().collect()
    }
}

/// Presents `token`; the status.
async fn present(http: &reqwest::Client, base: &str, token: &str) -> (u16, Value) {
    let resp = http
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A number of milliseconds in `low..high`, different on every call.
fn random_millis(low: u64, high: u64) -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    low + u64::from_le_bytes(bytes) % (high - low)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answered_refresh_survives_kill_9_and_no_used_up_token_works_again() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = BACKEND.fresh_database(dir.path()).await else {
        return;
    };
    let url = database.url.expose().to_owned();
    let env = [
        ("SIGIL_DATABASE_URL", url.as_str()),
        ("SIGIL_ISSUER", "http://sigil.test"),
        ("SIGIL_REFRESH_REUSE_INTERVAL", "0"),
    ];
    let http = reqwest::Client::new();
    let (mut answered, mut in_flight, mut in_flight_done) = (0, 0, 0);

    for round in 0..ROUNDS {
        let mut server = ServerProcess::start(dir.path(), &env);
        let mut starts = Vec::new();
        for _ in 0..CHAINS {
            let email = unique_email();
            let resp = http
                .post(format!("{}/auth/register", server.base))
                .json(&json!({"email": email, "password": PASSWORD, "name": "Chain"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            let body: Value = resp.json().await.unwrap();
            starts.push((email, body["refresh_token"].as_str().unwrap().to_owned()));
        }
        let chains: Vec<_> = starts
            .into_iter()
            .map(|(email, first)| tokio::spawn(run_chain(server.base.clone(), email, first)))
            .collect();
        tokio::time::sleep(Duration::from_millis(random_millis(100, 1500))).await;
        server.child.kill().unwrap();
        server.wait_for_exit();
        let chains: Vec<Chain> = futures_util::future::join_all(chains)
            .await
            .into_iter()
            .map(|c| c.unwrap())
            .collect();

        let server = ServerProcess::start(dir.path(), &env);
        let stored = tokens_per_account(&url).await;
        for chain in &chains {
            let what = format!("round {round}, {}", chain.email);
            let rows = stored[&chain.email];
            let durable = i64::try_from(chain.tokens.len()).unwrap();
            answered += chain.tokens.len() - 1;
            // Every answered refresh stored its successor (durable); the one
            // in flight, if any, stored one more or none.
            let rotated_in_flight = if chain.in_flight && rows == durable + 1 {
                true
            } else {
                assert_eq!(rows, durable, "{what}: tokens stored after the restart");
                false
            };
            in_flight += usize::from(chain.in_flight);
            in_flight_done += usize::from(rotated_in_flight);

            // The newest token works unless the refresh in flight used it
            // up; then presenting it is reuse (never both).
            let (status, body) = present(&http, &server.base, chain.newest()).await;
            if rotated_in_flight {
                assert_eq!(status, 401, "{what}: the token the kill's refresh used up");
                continue;
            }
            assert_eq!(status, 200, "{what}: the newest answered token works: {body}");
            let successor = body["refresh_token"].as_str().unwrap().to_owned();

            // No token an answered refresh used up works again: the first
            // one presented is reuse and ends the family, successor and all.
            let mut used_up = chain.used_up();
            if let Some(first) = used_up.next() {
                let (status, _) = present(&http, &server.base, first).await;
                assert_eq!(status, 401, "{what}: a used-up token after the restart");
                let (status, _) = present(&http, &server.base, &successor).await;
                assert_eq!(status, 401, "{what}: the reuse revoked the family");
            }
            for token in used_up {
                let (status, _) = present(&http, &server.base, token).await;
                assert_eq!(status, 401, "{what}: a used-up token after the restart");
            }
        }
        drop(server);
    }
    eprintln!(
        "{ROUNDS} kills on {BACKEND:?}: {answered} answered refreshes durable, \
         {in_flight} in flight at the kill of which {in_flight_done} were stored"
    );
    assert!(answered > 0, "the kills came after some refreshes were answered");
}
