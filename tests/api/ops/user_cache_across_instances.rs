//! Two instances on one PostgreSQL database, each answering bearer checks
//! from memory: a user disabled or changed, or an access token revoked,
//! through instance A is refused by the very next request on instance B,
//! every time; also when B's listening connection has just been cut.

use std::future::pending;

use serde_json::{Value, json};
use sigil::config::Settings;
use sigil::startup::Application;
use sigil::store::USER_LISTENER_NAME;

use super::helpers::{Auth, PASSWORD, TestApp, spawn_app, test_hashing};

const ROUNDS: usize = 50;

/// A second server on `a`'s database and keys folder; returns its address.
async fn second_instance(a: &TestApp) -> String {
    let mut settings = Settings::new(a.database_url.clone(), &a.keys_dir);
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.hashing = test_hashing();
    settings.issuer = Some(a.issuer.clone());
    let b = Application::build(settings).await.expect("second instance");
    let address = format!("http://{}", b.local_addr());
    tokio::spawn(b.run_until_stopped(pending()));
    address
}

/// The status of GET `path` on `base` with `token`.
async fn status_at(a: &TestApp, base: &str, path: &str, token: &str) -> u16 {
    a.client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn patch_user(a: &TestApp, admin: &str, id: &str, body: Value) {
    let patched = a
        .client
        .patch(a.url(&format!("/admin/users/{id}")))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
}

/// A registered user's id and a fresh access token of theirs.
async fn user(a: &TestApp) -> (String, String, String) {
    let (email, token, _) = a.signed_up_user().await;
    let me: Value = a.get("/me", Some(&token)).await.json().await.unwrap();
    (me["id"].as_str().unwrap().to_owned(), email, token)
}

/// Two instances, once both listen for changes (so B answers from memory).
async fn two_instances() -> Option<(TestApp, String)> {
    let a = spawn_app().await?;
    let b = second_instance(&a).await;
    let url = a.database_url.expose().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while listeners(&url).await < 2 {
        assert!(std::time::Instant::now() < deadline, "both instances listen");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Some((a, b))
}

/// How many connections listen for user changes on the database at `url`.
async fn listeners(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let count = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(USER_LISTENER_NAME)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_disabled_on_a_is_refused_by_the_very_next_request_on_b_every_time() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let admin = a.admin_token().await;
    let (id, _, token) = user(&a).await;
    for round in 0..ROUNDS {
        assert_eq!(status_at(&a, &b, "/me", &token).await, 200, "round {round}");
        assert_eq!(status_at(&a, &b, "/me", &token).await, 200, "round {round}");

        patch_user(&a, &admin, &id, json!({"disabled": true})).await;
        assert_eq!(
            status_at(&a, &b, "/me", &token).await,
            401,
            "round {round}: B refuses at once"
        );

        patch_user(&a, &admin, &id, json!({"disabled": false})).await;
        // A re-enabled user's access token works again (only refresh
        // families were revoked).
        assert_eq!(status_at(&a, &b, "/me", &token).await, 200, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scope_removed_on_a_is_refused_by_the_very_next_request_on_b_every_time() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let admin = a.admin_token().await;
    let (id, email, _) = user(&a).await;
    patch_user(&a, &admin, &id, json!({"scopes": ["profile", "admin"]})).await;
    let login: Value = a.login_form(&email, PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    for round in 0..ROUNDS {
        assert_eq!(status_at(&a, &b, "/admin/users", &token).await, 200, "round {round}");

        patch_user(&a, &admin, &id, json!({"scopes": ["profile"]})).await;
        assert_eq!(
            status_at(&a, &b, "/admin/users", &token).await,
            403,
            "round {round}: B refuses at once"
        );

        patch_user(&a, &admin, &id, json!({"scopes": ["profile", "admin"]})).await;
        assert_eq!(
            status_at(&a, &b, "/admin/users", &token).await,
            200,
            "round {round}: B grants at once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_access_token_revoked_on_a_is_refused_by_the_very_next_request_on_b_every_time() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let admin = a.admin_token().await;
    let (_, email, _) = user(&a).await;
    for round in 0..ROUNDS {
        let login: Value = a.login_form(&email, PASSWORD).await.json().await.unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status_at(&a, &b, "/me", &token).await, 200, "round {round}");

        let revoked = a.revoke(Auth::Bearer(&admin), &token).await;
        assert_eq!(revoked.status(), 200);

        assert_eq!(
            status_at(&a, &b, "/me", &token).await,
            401,
            "round {round}: B refuses at once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_disabled_on_a_right_after_b_lost_its_listener_is_refused_by_b() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let admin = a.admin_token().await;
    let (id, _, token) = user(&a).await;
    let pool = sqlx::PgPool::connect(a.database_url.expose()).await.unwrap();
    for round in 0..10 {
        assert_eq!(status_at(&a, &b, "/me", &token).await, 200, "round {round}");

        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind(USER_LISTENER_NAME)
        .execute(&pool)
        .await
        .unwrap();
        patch_user(&a, &admin, &id, json!({"disabled": true})).await;

        assert_eq!(
            status_at(&a, &b, "/me", &token).await,
            401,
            "round {round}: B refuses without its listener"
        );
        patch_user(&a, &admin, &id, json!({"disabled": false})).await;
    }
    pool.close().await;
}
