//! `/admin/clients` and declared scopes: create (the secret shown once),
//! list (never a secret), patch, rotate; scopes beyond `profile` and `admin`
//! are those of `SIGIL_SCOPES`, anything else is 422.

use serde_json::{Value, json};

use super::helpers::{Options, assert_problem, spawn_app, spawn_app_with, unique_email};
use super::support::{claims, create_client, patch_client, post_client, rotate_secret};

fn declaring(scopes: &'static str) -> Options {
    Options {
        tweak: Box::new(move |s| {
            s.clients.scopes = scopes.split(' ').map(str::to_owned).collect();
        }),
        ..Options::default()
    }
}

#[tokio::test]
async fn an_admin_creates_a_client_whose_secret_is_shown_once_and_never_listed() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;

    let resp = post_client(
        &app,
        &admin,
        &json!({"name": "Billing", "scopes": ["profile"], "audience": "https://billing.test"}),
    )
    .await;

    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let created: Value = resp.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(id.starts_with("svc_"), "{id}");
    assert_eq!(secret.len(), 43, "256 bits in base64url");
    assert_eq!(created["scopes"], json!(["profile"]));
    assert_eq!(created["audience"], "https://billing.test");
    assert_eq!(created["disabled"], false);

    let listed = app.get("/admin/clients", Some(&admin)).await;
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.unwrap();
    assert!(!text.contains(secret), "the list never shows a secret");
    assert!(!text.contains("secret"), "nor any secret member: {text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
        .expect("the new client is listed");
    assert_eq!(entry["name"], "Billing");
    assert!(entry["created_at"].is_string());
}

#[tokio::test]
async fn patching_a_client_changes_its_scopes_and_disabled_flag_and_an_unknown_id_is_404() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let resp = patch_client(&app, &admin, &client.id, &json!({"scopes": ["admin", "profile"]})).await;
    assert_eq!(resp.status(), 200);
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["scopes"], json!(["admin", "profile"]));
    assert_eq!(changed["disabled"], false);

    let resp = patch_client(&app, &admin, &client.id, &json!({"disabled": true})).await;
    let changed: Value = resp.json().await.unwrap();
    assert_eq!(changed["disabled"], true);
    assert_eq!(changed["scopes"], json!(["admin", "profile"]), "scopes kept");

    let unknown = patch_client(&app, &admin, "svc_nosuchclient0000", &json!({"disabled": true})).await;
    assert_problem(unknown, 404).await;
    let unknown = app
        .client
        .post(app.url("/admin/clients/svc_nosuchclient0000/secret"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404).await;
}

#[tokio::test]
async fn rotating_a_secret_returns_a_new_one_and_when_the_old_one_stops() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let client = create_client(&app, &admin, &["profile"], None).await;

    let resp = app
        .client
        .post(app.url(&format!("/admin/clients/{}/secret", client.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["client_id"], client.id.as_str());
    let new = body["client_secret"].as_str().unwrap();
    assert_eq!(new.len(), 43);
    assert_ne!(new, client.secret);
    let until = chrono::DateTime::parse_from_rfc3339(
        body["previous_secret_expires_at"].as_str().unwrap(),
    )
    .unwrap();
    let in_a_day = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(
        (in_a_day - until.with_timezone(&chrono::Utc)).num_seconds().abs() < 120,
        "the default overlap is a day: {until}"
    );
}

#[tokio::test]
async fn only_an_admin_token_manages_clients() {
    let Some(app) = spawn_app().await else { return };
    let (_, user, _) = app.signed_up_user().await;

    let resp = post_client(&app, &user, &json!({"name": "x", "scopes": []})).await;
    assert_problem(resp, 403).await;
    assert_problem(app.get("/admin/clients", Some(&user)).await, 403).await;
    assert_problem(app.get("/admin/clients", None).await, 401).await;
}

#[tokio::test]
async fn an_undeclared_scope_is_refused_with_422_for_clients_and_users() {
    let Some(app) = spawn_app_with(declaring("orders:read")).await else {
        return;
    };
    let admin = app.admin_token().await;

    let resp = post_client(&app, &admin, &json!({"name": "x", "scopes": ["orders:write"]})).await;
    let body = assert_problem(resp, 422).await;
    assert_eq!(body["errors"][0]["field"], "scopes", "{body}");

    let client = create_client(&app, &admin, &["orders:read"], None).await;
    let resp = patch_client(&app, &admin, &client.id, &json!({"scopes": ["orders:write"]})).await;
    assert_problem(resp, 422).await;

    let email = unique_email();
    app.register(&email).await;
    let users: Value = app
        .get("/admin/users?limit=500", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"scopes": ["profile", "orders:write"]}))
        .send()
        .await
        .unwrap();
    assert_problem(resp, 422).await;
}

#[tokio::test]
async fn a_user_granted_a_declared_scope_gets_it_in_a_token() {
    let Some(app) = spawn_app_with(declaring("orders:read orders:write")).await else {
        return;
    };
    let admin = app.admin_token().await;
    let email = unique_email();
    app.register(&email).await;
    let users: Value = app
        .get("/admin/users?limit=500", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let resp = app
        .client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"scopes": ["profile", "orders:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let login = app.login_form(&email, super::helpers::PASSWORD).await;
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["scope"], "profile orders:read");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["scope"], "profile orders:read");

    let narrowed = app
        .post_form(
            "/auth/login",
            &[
                ("grant_type", "password"),
                ("username", &email),
                ("password", super::helpers::PASSWORD),
                ("scope", "orders:read"),
            ],
        )
        .await;
    let body: Value = narrowed.json().await.unwrap();
    assert_eq!(body["scope"], "orders:read");
    let undeclared = app
        .post_form(
            "/auth/login",
            &[
                ("grant_type", "password"),
                ("username", &email),
                ("password", super::helpers::PASSWORD),
                ("scope", "orders:delete"),
            ],
        )
        .await;
    assert_eq!(undeclared.status(), 400);
    let body: Value = undeclared.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    // The declared scopes are published in the metadata and in OpenAPI.
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["scopes_supported"],
        json!(["profile", "admin", "orders:read", "orders:write"])
    );
    let spec: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let flows = &spec["components"]["securitySchemes"]["sigil"]["flows"];
    for flow in ["password", "clientCredentials"] {
        assert_eq!(flows[flow]["tokenUrl"], "/auth/login", "{flow}");
        for scope in ["profile", "admin", "orders:read", "orders:write"] {
            assert!(flows[flow]["scopes"][scope].is_string(), "{flow} lists {scope}");
        }
    }
    let docs = app.get("/docs/", None).await.text().await.unwrap();
    assert!(docs.contains("orders:write"), "Swagger UI offers the declared scopes");
}

#[tokio::test]
async fn a_client_token_with_admin_manages_users_and_clients() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let robot = create_client(&app, &admin, &["admin"], None).await;
    let token = super::support::client_access_token(&app, &robot).await;

    assert_eq!(app.get("/admin/users", Some(&token)).await.status(), 200);
    let other = create_client(&app, &token, &["profile"], None).await;
    let secret = rotate_secret(&app, &token, &other.id).await;
    assert_ne!(secret, other.secret);
}
