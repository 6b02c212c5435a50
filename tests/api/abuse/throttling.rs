//! Throttling as an attacker meets it: guessing one password, spraying one
//! password over many accounts, minting accounts, flooding the login, and
//! hiding behind X-Forwarded-For. The counters live in the database, so this
//! runs on every backend.

use std::time::Duration;

use serde_json::json;

use super::helpers::{
    Options, PASSWORD, TestApp, assert_oauth_error, assert_problem, client_from, spawn_app, spawn_app_with,
    unique_email,
};

/// The `Retry-After` of a 429, in seconds.
fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A server whose back-off tops out at `max`, so a test can wait it out.
async fn app_with_max_backoff(max: Duration) -> Option<TestApp> {
    spawn_app_with(Options {
        tweak: Box::new(move |s| {
            s.throttles.account.max = max;
            s.throttles.account_wide.max = max;
            s.throttles.address.max = max;
        }),
        ..Options::default()
    })
    .await
}

/// The answers to a run of deliberate wrong passwords: each is a 401 or a
/// 429 problem, the first is a 401 (a guess that was checked) and the run
/// ends locked out (429).
async fn assert_wrong_logins_end_locked(answers: Vec<reqwest::Response>) {
    let mut statuses = Vec::new();
    for resp in answers {
        let status = resp.status().as_u16();
        assert!(matches!(status, 401 | 429), "a wrong password got {status}");
        assert_oauth_error(resp, status).await;
        statuses.push(status);
    }
    assert_eq!(
        statuses.first(),
        Some(&401),
        "the first guess is checked: {statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&429),
        "the run ends locked out: {statuses:?}"
    );
}

#[tokio::test]
async fn two_hundred_rapid_wrong_passwords_reach_429_and_the_right_one_works_after_the_back_off() {
    let Some(app) = app_with_max_backoff(Duration::from_secs(3)).await else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;

    let mut statuses = Vec::new();
    let mut last_429 = None;
    for _ in 0..200 {
        let resp = app.login_form(&email, "wrong password 123").await;
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            last_429 = Some(retry_after(&resp));
            let body = assert_oauth_error(resp, 429).await;
            assert_eq!(body["error"], "slow_down");
        }
    }

    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        unauthorized + throttled,
        200,
        "only 401 and 429: {statuses:?}"
    );
    assert!(
        (5..30).contains(&unauthorized),
        "after 5 free guesses most attempts wait instead of guessing; {unauthorized} guesses were checked"
    );
    let wait = last_429.expect("the burst reached 429");
    assert!(
        (1..=3).contains(&wait),
        "Retry-After {wait} within the 3 s ceiling"
    );
    let locked = app.login_form(&email, PASSWORD).await;
    assert_eq!(
        locked.status(),
        429,
        "even the right password waits out the lock"
    );

    assert!(retry_after(&locked) <= 3, "within the ceiling");
    assert_eq!(
        app.login_once_unlocked(&email, PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn a_lock_earned_from_one_address_does_not_keep_the_real_user_out_on_another() {
    let Some(app) = spawn_app().await else { return };
    let (email, _, _) = app.signed_up_user().await;
    let mut answers = Vec::new();
    for _ in 0..30 {
        answers.push(app.login_form(&email, "wrong password 123").await);
    }
    assert_wrong_logins_end_locked(answers).await;
    assert_eq!(
        app.login_form(&email, PASSWORD).await.status(),
        429,
        "the attacker's address is locked"
    );

    let real_user = client_from("127.0.0.2");
    let resp = app.login_form_with(&real_user, &email, PASSWORD).await;

    assert_eq!(resp.status(), 200, "the user elsewhere logs in at once");
}

#[tokio::test]
async fn a_success_resets_the_account_counter_so_old_failures_never_add_up() {
    let Some(app) = spawn_app().await else { return };
    let (email, _, _) = app.signed_up_user().await;
    for _ in 0..3 {
        assert_eq!(
            app.login_form(&email, "wrong password 123").await.status(),
            401
        );
    }
    assert_eq!(app.login_form(&email, PASSWORD).await.status(), 200);

    for _ in 0..4 {
        assert_eq!(
            app.login_form(&email, "wrong password 123").await.status(),
            401
        );
    }

    assert_eq!(
        app.login_form(&email, PASSWORD).await.status(),
        200,
        "4 failures after a success are under the 5 free ones"
    );
}

#[tokio::test]
async fn spraying_one_password_over_many_accounts_from_one_address_reaches_429() {
    let Some(app) = spawn_app().await else { return };
    let mut emails = Vec::new();
    for _ in 0..25 {
        emails.push(app.signed_up_user().await.0);
    }

    let mut statuses = Vec::new();
    for email in &emails {
        statuses.push(app.login_form(email, "Summer2026!").await.status().as_u16());
    }

    assert_eq!(
        &statuses[..20],
        &[401; 20],
        "each account saw one guess only, so only the address counter can stop this"
    );
    assert!(
        statuses[20..].iter().all(|s| *s == 429),
        "after 20 failures from one address, any account waits: {statuses:?}"
    );
    let elsewhere = client_from("127.0.0.3");
    assert_eq!(
        app.login_form_with(&elsewhere, &emails[24], PASSWORD)
            .await
            .status(),
        200,
        "the accounts themselves are not locked"
    );
}

#[tokio::test]
async fn successful_logins_do_not_count_against_the_address_many_users_share() {
    let Some(app) = spawn_app().await else { return };
    let mut emails = Vec::new();
    for _ in 0..3 {
        emails.push(app.signed_up_user().await.0);
    }
    // Thirty successful logins from one address (an office behind one NAT),
    // more than the address's 20 free failures.
    for i in 0..30 {
        let resp = app.login_form(&emails[i % 3], PASSWORD).await;
        assert_eq!(resp.status(), 200, "login {i}");
    }

    let typo = app.login_form(&emails[0], "wrong password 123").await;

    assert_eq!(typo.status(), 401, "a typo is checked, not refused");
}

#[tokio::test]
async fn registrations_from_one_address_are_limited_and_other_addresses_are_not() {
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| s.throttles.registrations.free_attempts = 3),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        let resp = app
            .post_register(&unique_email(), PASSWORD, "Mallory")
            .await;
        assert_eq!(resp.status(), 201);
    }

    let refused = app
        .post_register(&unique_email(), PASSWORD, "Mallory")
        .await;
    let wait = retry_after(&refused);
    let body = assert_problem(refused, 429).await;

    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert!(body["detail"].as_str().unwrap().contains("wait"), "{body}");
    let other = client_from("127.0.0.4")
        .post(app.url("/auth/register"))
        .json(&json!({"email": unique_email(), "password": PASSWORD, "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
}

#[tokio::test]
async fn invalid_registrations_cost_no_hash_and_do_not_count_against_the_address() {
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| s.throttles.registrations.free_attempts = 2),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    for _ in 0..10 {
        let resp = app.post_register("not-an-email", PASSWORD, "Mallory").await;
        assert_problem(resp, 422).await;
    }

    let resp = app.post_register(&unique_email(), PASSWORD, "Ada").await;

    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn a_login_flood_is_shed_with_503_while_me_jwks_and_healthz_keep_answering() {
    // Real argon2 cost, one hash at a time and a short queue: a flood of
    // sixteen clients must overflow it. The address limit is lifted so the
    // flood reaches the hasher instead of stopping at 429.
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.hashing.cost = sigil::config::Argon2Cost {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1,
            };
            s.hashing.concurrency = 1;
            s.hashing.queue = 2;
            s.throttles.address.free_attempts = 1_000_000;
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (_, access, _) = app.signed_up_user().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, stop) = (app.client.clone(), app.url("/auth/login"), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let resp = client
                        .post(&url)
                        .form(&[
                            ("username", unique_email().as_str()),
                            ("password", "guess 1234"),
                        ])
                        .send()
                        .await
                        .unwrap();
                    if resp.status() == 503 {
                        assert!(resp.headers().contains_key("retry-after"));
                    }
                    statuses.push(resp.status().as_u16());
                }
                statuses
            })
        })
        .collect();

    let mut probes = Vec::new();
    for _ in 0..20 {
        probes.push(app.get("/me", Some(&access)).await.status().as_u16());
        probes.push(
            app.get("/.well-known/jwks.json", None)
                .await
                .status()
                .as_u16(),
        );
        probes.push(app.get("/healthz", None).await.status().as_u16());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for task in flood {
        statuses.extend(task.await.unwrap());
    }

    assert!(probes.iter().all(|s| *s == 200), "{probes:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&503), "the queue overflowed and was shed");
    assert!(statuses.contains(&401), "some logins were checked");
}

/// Logs in through the OAuth 2.0 form with an `X-Forwarded-For` header.
async fn login_forwarded_for(
    app: &TestApp,
    forwarded: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded)
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_the_one_throttled() {
    let Some(app) = spawn_app_with(Options::behind_loopback_proxy()).await else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(login_forwarded_for(&app, "203.0.113.5", &email, "wrong password 123").await);
    }
    assert_wrong_logins_end_locked(answers).await;

    let attacker = login_forwarded_for(&app, "203.0.113.5", &email, PASSWORD).await;
    let user = login_forwarded_for(&app, "198.51.100.7", &email, PASSWORD).await;

    assert_eq!(attacker.status(), 429, "the forwarded attacker is locked");
    assert_eq!(
        user.status(),
        200,
        "another client behind the same proxy is not"
    );
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_cannot_dodge_the_lock() {
    let Some(app) = spawn_app().await else { return };
    let (email, _, _) = app.signed_up_user().await;
    let mut answers = Vec::new();
    for i in 0..10 {
        let forged = format!("203.0.113.{i}");
        answers.push(login_forwarded_for(&app, &forged, &email, "wrong password 123").await);
    }
    assert_wrong_logins_end_locked(answers).await;

    let resp = login_forwarded_for(&app, "198.51.100.7", &email, PASSWORD).await;

    assert_eq!(
        resp.status(),
        429,
        "the TCP peer is the client; the header is ignored"
    );
}

/// The value of `sigil_logins_failed_total{reason="…"}` now (0 before the
/// first such login).
async fn logins_failed(app: &TestApp, reason: &str) -> u64 {
    let series = format!("sigil_logins_failed_total{{reason=\"{reason}\"}}");
    app.metric(&series).await as u64
}

/// What `read` returns once it has not changed for a second (at most 30 s).
async fn settled<T, F, Fut>(read: F) -> T
where
    T: PartialEq,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut last = read().await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = read().await;
        if now == last || std::time::Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Sends a wrong-password `POST /auth/login` for `email` on a connection of
/// its own and hangs up `after`, unless the answer came first: returns the
/// status if it did.
async fn login_and_hang_up(address: &str, email: &str, after: Duration) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = format!(
        "username={}&password=wrong+password+123",
        email.replace('@', "%40")
    );
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    // Dropping the stream on timeout closes the connection mid-login.
    match tokio::time::timeout(after, stream.read_exact(&mut head)).await {
        Ok(Ok(_)) => std::str::from_utf8(&head[9..12]).ok()?.parse().ok(),
        _ => None,
    }
}

#[tokio::test]
async fn five_hundred_abandoned_logins_from_one_address_are_counted_before_hashing_and_end_in_429()
{
    // Real argon2 cost, so a client that hangs up after 30 ms leaves while
    // its password is being hashed. A first lock of a minute outlasts the
    // attack, so the check afterwards meets a running lock.
    let (free, concurrency, queue) = (5, 2, 8);
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(move |s| {
            s.hashing.cost = sigil::config::Argon2Cost {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1,
            };
            s.hashing.concurrency = concurrency;
            s.hashing.queue = queue;
            s.throttles.account.free_attempts = free;
            s.throttles.account.base = Duration::from_secs(60);
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let throttled_before = logins_failed(&app, "throttled").await;

    let mut answered = Vec::new();
    for _ in 0..10 {
        let batch: Vec<_> = (0..50)
            .map(|_| {
                let (address, email) = (address.clone(), email.clone());
                tokio::spawn(async move {
                    login_and_hang_up(&address, &email, Duration::from_millis(30)).await
                })
            })
            .collect();
        for task in batch {
            answered.push(task.await.unwrap());
        }
    }
    // The server may still be working on logins whose clients left: wait
    // until its counts stop moving.
    let (refused, checked, abandoned) = settled(|| async {
        (
            logins_failed(&app, "throttled").await - throttled_before,
            logins_failed(&app, "bad_credentials").await,
            logins_failed(&app, "abandoned").await,
        )
    })
    .await;
    // Every attempt the throttle did not refuse may have been hashed (or
    // shed with 503 by a full queue).
    let not_refused = 500 - refused;
    let after = app.login_form(&email, "wrong password 123").await;
    let bound = u64::from(free) + queue as u64 + concurrency as u64;
    assert!(
        not_refused <= bound,
        "{not_refused} of 500 abandoned logins were let past the throttle \
         ({checked} checked, {abandoned} dropped while being checked); at most {bound}"
    );
    assert!(
        checked + abandoned <= u64::from(free),
        "{checked} checked and {abandoned} abandoned while being checked: only the free \
         attempts get that far"
    );
    assert_eq!(
        after.status(),
        429,
        "the address is locked for this account afterwards"
    );
    let early: Vec<_> = answered.iter().flatten().collect();
    assert!(
        early.iter().all(|s| matches!(s, 401 | 429)),
        "answers before hanging up: {early:?}"
    );
}

#[tokio::test]
async fn a_hundred_simultaneous_wrong_guesses_for_one_account_get_only_the_free_verdicts() {
    // The default 5 free guesses; a first lock of a minute, so that no
    // lock can run out while the hundred arrive.
    let free = 5;
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(move |s| {
            s.throttles.account.free_attempts = free;
            s.throttles.account.base = Duration::from_secs(60);
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;

    let guesses: Vec<_> = (0..100)
        .map(|_| {
            let (client, url, email) = (app.client.clone(), app.url("/auth/login"), email.clone());
            tokio::spawn(async move {
                let resp = client
                    .post(&url)
                    .form(&[("username", email.as_str()), ("password", "wrong password 123")])
                    .send()
                    .await
                    .unwrap();
                resp.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }

    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        checked,
        free as usize,
        "only the free guesses get a verdict, however many arrive at once \
         ({throttled} got 429): {statuses:?}"
    );
    assert_eq!(throttled, 100 - checked, "the rest wait: {statuses:?}");
    assert_eq!(
        logins_failed(&app, "bad_credentials").await,
        u64::from(free),
        "password verifications"
    );
}

#[tokio::test]
async fn logins_refused_with_503_by_a_full_hashing_queue_do_not_count_toward_a_back_off() {
    // One hash at a time, none waiting, and a cost that keeps the slot busy
    // for a while, so the user's attempts meet a full queue.
    let Some(app) = spawn_app_with(Options {
        tweak: Box::new(|s| {
            s.hashing.cost = sigil::config::Argon2Cost {
                memory_kib: 64 * 1024,
                iterations: 16,
                parallelism: 1,
            };
            s.hashing.concurrency = 1;
            s.hashing.queue = 0;
        }),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let (email, _, _) = app.signed_up_user().await;

    // Someone else's registration holds the one slot while the user, with
    // the right password, tries ten times: more than the free attempts.
    let someone_else = unique_email();
    let hold = app.register(&someone_else);
    let attempts = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut statuses = Vec::new();
        for _ in 0..10 {
            statuses.push(app.login_form(&email, PASSWORD).await.status().as_u16());
        }
        statuses
    };
    let (_, statuses) = tokio::join!(hold, attempts);
    assert!(
        !statuses.contains(&200),
        "the slot was free too soon for this test to mean anything: {statuses:?}"
    );
    assert!(
        !statuses.contains(&429),
        "a 503 gave no verdict, so it must not start a back-off: {statuses:?}"
    );

    let resp = app.login_form(&email, PASSWORD).await;
    assert_eq!(resp.status(), 200, "the user logs in once the queue is free");
}
