use serde_json::{Value, json};

use super::helpers::{PASSWORD, assert_oauth_error, spawn_app, unique_email};

#[tokio::test]
async fn the_oauth2_password_form_logs_in() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let resp = app.login_form(&email, PASSWORD).await;

    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
}

#[tokio::test]
async fn the_form_works_without_grant_type_and_with_a_different_email_case() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let resp = app
        .post_form(
            "/auth/login",
            &[("username", &email.to_uppercase()), ("password", PASSWORD)],
        )
        .await;

    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn json_login_works() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let resp = app
        .post_json(
            "/auth/login",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;

    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_identical_401() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let wrong_password = app.login_form(&email, "not the password").await;
    let unknown_email = app.login_form(&unique_email(), "not the password").await;

    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let a = wrong_password.text().await.unwrap();
    let b = unknown_email.text().await.unwrap();
    assert_eq!(a, b, "bodies must not tell the cases apart");
    let body: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn an_over_long_password_is_refused_before_hashing() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.login_form(&unique_email(), &"x".repeat(129)).await;

    assert_oauth_error(resp, 422).await;
}

#[tokio::test]
async fn a_password_grant_without_a_password_is_an_invalid_request() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .post_form(
            "/auth/login",
            &[("grant_type", "password"), ("username", "a@example.com")],
        )
        .await;

    let body = assert_oauth_error(resp, 400).await;
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .post_form("/auth/login", &[("grant_type", "authorization_code")])
        .await;

    let body = assert_oauth_error(resp, 400).await;
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn a_requested_scope_narrows_the_grant_and_an_unknown_one_is_refused() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let narrowed = app
        .post_form(
            "/auth/login",
            &[
                ("username", &email),
                ("password", PASSWORD),
                ("scope", "profile admin"),
            ],
        )
        .await;
    let unknown = app
        .post_form(
            "/auth/login",
            &[
                ("username", &email),
                ("password", PASSWORD),
                ("scope", "root"),
            ],
        )
        .await;

    assert_eq!(narrowed.status(), 200);
    let body: Value = narrowed.json().await.unwrap();
    assert_eq!(
        body["scope"], "profile",
        "a user without admin must not get it by asking"
    );
    let problem = assert_oauth_error(unknown, 400).await;
    assert_eq!(problem["error"], "invalid_scope");
}

#[tokio::test]
async fn repeated_form_fields_are_refused() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let resp = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username={}&password=a&password={}",
            email,
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();

    assert_oauth_error(resp, 400).await;
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after_at_once() {
    // One hash at a time, none waiting, and a cost that keeps the slot busy.
    let Some(app) = super::helpers::spawn_app_with(super::helpers::Options {
        tweak: Box::new(|s| {
            s.hashing.cost = sigil::config::Argon2Cost {
                memory_kib: 32 * 1024,
                iterations: 8,
                parallelism: 1,
            };
            s.hashing.concurrency = 1;
            s.hashing.queue = 0;
        }),
        ..Default::default()
    })
    .await
    else {
        return;
    };

    // Five: the free attempts of one email from one address (a sixth would
    // be refused with 429 before it reached the queue).
    let attempts = (0..5).map(|_| app.login_form("nobody@example.com", "some password"));
    let responses = futures_util::future::join_all(attempts).await;

    let mut busy = 0;
    for resp in responses {
        match resp.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert_eq!(resp.headers()["retry-after"], "1");
                assert_oauth_error(resp, 503).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        busy >= 1,
        "with one slot and five simultaneous logins, some must be refused"
    );
}

#[tokio::test]
async fn a_hash_made_under_old_parameters_is_upgraded_at_the_next_login() {
    let Some(first) = spawn_app().await else {
        return;
    };
    let email = unique_email();
    first.register(&email).await;
    let db = first.database_url.clone();
    let stored = |db: sigil::config::DatabaseUrl, email: String| async move {
        let store = sigil::startup::open_store(&db).await.unwrap();
        store
            .user_by_email(&email)
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };
    let before = stored(db.clone(), email.clone()).await;
    assert!(before.contains("$m=256,t=1,p=1$"), "{before}");

    // The same database, served with a higher cost.
    let (keys, db_for_settings) = (first.keys_dir.clone(), db.clone());
    let Some(second) = super::helpers::spawn_app_with(super::helpers::Options {
        tweak: Box::new(move |s| {
            s.database_url = db_for_settings;
            s.keys_dir = keys;
            s.hashing.cost.iterations = 2;
        }),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    assert_eq!(second.login_form(&email, PASSWORD).await.status(), 200);

    let after = stored(db, email.clone()).await;
    assert!(after.contains("$m=256,t=2,p=1$"), "{after}");
    assert_ne!(before, after);
    assert_eq!(
        second.login_form(&email, PASSWORD).await.status(),
        200,
        "the new hash verifies"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_with_growing_backoff_and_success_resets_it() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    for attempt in 1..=5 {
        assert_eq!(
            app.login_form(&email, "wrong password").await.status(),
            401,
            "attempt {attempt} is free"
        );
    }
    let locked = app.login_form(&email, PASSWORD).await;
    assert_eq!(locked.headers()["retry-after"], "1", "first lock: 1 s");
    assert_oauth_error(locked, 429).await;
    // The lock is per account, whatever the email's case, and the same for unknown emails.
    assert_eq!(
        app.login_form(&email.to_uppercase(), PASSWORD)
            .await
            .status(),
        429
    );

    let after = app.login_once_unlocked(&email, "wrong password").await;
    assert_eq!(after.status(), 401, "the next guess is checked");
    let longer = app.login_form(&email, PASSWORD).await;
    assert_eq!(longer.status(), 429);
    assert_eq!(
        longer.headers()["retry-after"],
        "2",
        "each further failure doubles the lock"
    );

    assert_eq!(
        app.login_once_unlocked(&email, PASSWORD).await.status(),
        200,
        "the right password works after the back-off"
    );
    for _ in 1..=5 {
        assert_eq!(
            app.login_form(&email, "wrong password").await.status(),
            401,
            "a success reset the count"
        );
    }
}
