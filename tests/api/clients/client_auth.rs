//! Client authentication as an attacker meets it: an unknown client id costs
//! what a wrong secret costs, and failures from one address run into the
//! back-off like failed logins.

use std::time::{Duration, Instant};

use super::helpers::{Options, client_from, spawn_app, spawn_app_with};
use super::support::{assert_oauth_error, create_client, token_basic, token_basic_with};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn an_unknown_client_id_and_a_wrong_secret_take_about_the_same_time() {
    let options = Options {
        // Sixty failures from one address: the back-off is not under test here.
        tweak: Box::new(|s| s.throttles.clients.free_attempts = 1_000_000),
        ..Options::default()
    };
    let Some(app) = spawn_app_with(options).await else {
        return;
    };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;
    let wrong = "x".repeat(43);
    // Warm up connections and caches on both paths.
    for _ in 0..3 {
        token_basic(&app, &client.id, &wrong, None).await;
        token_basic(&app, "svc_nosuchclient0000", &wrong, None).await;
    }

    let (mut unknown, mut wrong_secret) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let started = Instant::now();
        let resp = token_basic(&app, "svc_nosuchclient0000", &wrong, None).await;
        unknown.push(started.elapsed());
        assert_eq!(resp.status(), 401);
        let started = Instant::now();
        let resp = token_basic(&app, &client.id, &wrong, None).await;
        wrong_secret.push(started.elapsed());
        assert_eq!(resp.status(), 401);
    }

    let (unknown, wrong_secret) = (median(unknown), median(wrong_secret));
    let ratio = unknown.as_secs_f64() / wrong_secret.as_secs_f64();
    assert!(
        (1.0 / 3.0..=3.0).contains(&ratio),
        "unknown id {unknown:?} vs wrong secret {wrong_secret:?}"
    );
}

#[tokio::test]
async fn two_hundred_wrong_secrets_from_one_address_end_in_429_with_retry_after() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;
    let attacker = client_from("127.0.0.31");

    let mut throttled = None;
    for _ in 0..200 {
        let resp = token_basic_with(&app, &attacker, &client.id, "wrong", None).await;
        match resp.status().as_u16() {
            401 => continue,
            429 => {
                throttled = Some(resp);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }

    let throttled = throttled.expect("200 failures from one address are throttled");
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // The lock is on the address: the right secret waits too from there,
    // and works from elsewhere.
    let locked = token_basic_with(&app, &attacker, &client.id, &client.secret, None).await;
    assert_eq!(locked.status(), 429);
    let elsewhere = token_basic_with(
        &app,
        &client_from("127.0.0.32"),
        &client.id,
        &client.secret,
        None,
    )
    .await;
    assert_eq!(elsewhere.status(), 200);
}

#[tokio::test]
async fn a_disabled_clients_right_secret_answers_like_a_wrong_one() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;
    super::support::patch_client(&app, &admin, &client.id, &serde_json::json!({"disabled": true}))
        .await;

    let disabled = token_basic(&app, &client.id, &client.secret, None).await;
    let disabled = assert_oauth_error(disabled, 401, "invalid_client").await;
    let wrong = token_basic(&app, &client.id, "wrong", None).await;
    let wrong = assert_oauth_error(wrong, 401, "invalid_client").await;

    assert_eq!(disabled, wrong, "one answer for both");
}
