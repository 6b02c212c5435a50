//! The refresh reuse interval across two `sigil serve` processes sharing one
//! PostgreSQL database and keys folder: concurrent refreshes of one token,
//! split over both, all succeed with one and the same successor.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::helpers::{BACKEND, ServerProcess, register_at};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_split_over_two_instances_get_one_successor() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = BACKEND.fresh_database(dir.path()).await else {
        return;
    };
    let pid = |name: &str| {
        dir.path()
            .join(format!("data/{name}.pid"))
            .display()
            .to_string()
    };
    let (pid_a, pid_b) = (pid("a"), pid("b"));
    let common = [
        ("SIGIL_DATABASE_URL", database.url.expose()),
        ("SIGIL_ISSUER", "http://sigil.test"),
    ];
    let a = ServerProcess::start(
        dir.path(),
        &[common.as_slice(), &[("SIGIL_PID_FILE", pid_a.as_str())]].concat(),
    );
    let b = ServerProcess::start(
        dir.path(),
        &[common.as_slice(), &[("SIGIL_PID_FILE", pid_b.as_str())]].concat(),
    );
    let http = reqwest::Client::new();
    let registered = register_at(&http, &a.base).await;
    let refresh = registered["refresh_token"].as_str().unwrap().to_owned();

    let attempts = (0..20).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (http, url, token) = (
            http.clone(),
            format!("{base}/auth/refresh"),
            refresh.clone(),
        );
        tokio::spawn(async move {
            let resp = http
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    });
    let results: Vec<(u16, Value)> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();

    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let successors: HashSet<&str> = results
        .iter()
        .map(|(_, body)| body["refresh_token"].as_str().unwrap())
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "one successor on both instances: {successors:?}"
    );
    let access = results[1].1["access_token"].as_str().unwrap();
    let listed: Vec<Value> = http
        .get(format!("{}/me/sessions", a.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one family: {listed:?}");
    let successor = successors.into_iter().next().unwrap();
    let next = http
        .post(format!("{}/auth/refresh", b.base))
        .json(&json!({"refresh_token": successor}))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200, "the successor works on either instance");
}
