//! A revocation on one instance holds on every instance sharing the
//! PostgreSQL database: the revoked access tokens live there, not in memory.

use std::future::pending;

use serde_json::json;
use sigil::config::Settings;
use sigil::startup::Application;

use super::helpers::{Auth, Options, TestApp, spawn_app_with, test_hashing};

const ISSUER: &str = "http://sigil.test";

/// A second server on `a`'s database and keys folder, with its issuer;
/// returns its address.
async fn second_instance(a: &TestApp) -> String {
    let mut settings = Settings::new(a.database_url.clone(), &a.keys_dir);
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.hashing = test_hashing();
    settings.issuer = Some(ISSUER.to_owned());
    let b = Application::build(settings).await.expect("second instance");
    let address = format!("http://{}", b.local_addr());
    tokio::spawn(b.run_until_stopped(pending()));
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_access_token_revoked_on_one_instance_is_refused_by_another_and_by_its_introspection() {
    let Some(a) = spawn_app_with(Options {
        tweak: Box::new(|s| s.issuer = Some(ISSUER.to_owned())),
        ..Options::default()
    })
    .await
    else {
        return;
    };
    let b = second_instance(&a).await;
    let admin = a.admin_token().await;
    let (_, access, _) = a.signed_up_user().await;
    let on_b = |path: &str| format!("{b}{path}");
    let me_on_b = || a.client.get(on_b("/me")).bearer_auth(&access).send();
    assert_eq!(me_on_b().await.unwrap().status(), 200, "B accepts A's token at first");

    let revoked = a.revoke(Auth::Bearer(&admin), &access).await;

    assert_eq!(revoked.status(), 200);
    assert_eq!(me_on_b().await.unwrap().status(), 401, "B refuses it now");
    let introspected = a
        .client
        .post(on_b("/oauth/introspect"))
        .bearer_auth(&admin)
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), 200);
    let body: serde_json::Value = introspected.json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
}
