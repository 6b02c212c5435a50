//! An administrator cannot lock themselves out (remove their own admin
//! scope, disable themselves); another administrator can demote them, and
//! disabling revokes refresh at once.

use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, assert_oauth_error, assert_problem, spawn_app};

async fn user_id(app: &TestApp, admin: &str, email: &str) -> String {
    let users: Value = app
        .get("/admin/users?limit=500", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch_user(app: &TestApp, admin: &str, id: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_administrator_cannot_remove_their_own_admin_scope_or_disable_themselves() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    let my_id = me["id"].as_str().unwrap();

    let demote = patch_user(&app, &admin, my_id, json!({"scopes": ["profile"]})).await;
    let body = assert_problem(demote, 409).await;
    assert!(
        body["detail"].as_str().unwrap().contains("your own"),
        "{body}"
    );
    let disable = patch_user(&app, &admin, my_id, json!({"disabled": true})).await;
    assert_problem(disable, 409).await;

    let still: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    assert_eq!(still["scopes"], json!(["profile", "admin"]));
    let harmless = patch_user(&app, &admin, my_id, json!({"scopes": ["admin", "profile"]})).await;
    assert_eq!(harmless.status(), 200, "keeping admin is fine");
}

#[tokio::test]
async fn another_administrator_can_demote_an_admin_and_disabling_revokes_refresh_at_once() {
    let Some(app) = spawn_app().await else { return };
    let first = app.admin_token().await;
    let (email, access, refresh) = app.signed_up_user().await;
    let id = user_id(&app, &first, &email).await;
    let promote = patch_user(&app, &first, &id, json!({"scopes": ["profile", "admin"]})).await;
    assert_eq!(promote.status(), 200);

    let disable = patch_user(&app, &first, &id, json!({"disabled": true})).await;
    let body: Value = disable.json().await.unwrap();

    assert_eq!(body["disabled"], true);
    assert_oauth_error(app.refresh(&refresh).await, 401).await;
    assert_problem(app.get("/me", Some(&access)).await, 401).await;
    let login = app.login_form(&email, PASSWORD).await;
    let problem = assert_oauth_error(login, 401).await;
    assert_eq!(problem["title"], "Invalid credentials", "the generic 401");
}

/// The id of the holder of `token`.
async fn my_id(app: &TestApp, token: &str) -> String {
    let me: Value = app.get("/me", Some(token)).await.json().await.unwrap();
    me["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_administrators_demoting_each_other_at_once_leave_at_least_one_administrator() {
    let Some(app) = spawn_app().await else { return };
    const ROUNDS: usize = 8;
    let mut survivor: Option<(String, String)> = None;
    let mut no_admin_left = 0;
    for round in 0..ROUNDS {
        // Two fresh administrators, and no other: the previous round's
        // survivor is demoted first, while both are there.
        let (a, b) = (app.admin_token().await, app.admin_token().await);
        let (a_id, b_id) = (my_id(&app, &a).await, my_id(&app, &b).await);
        if let Some((_, old_id)) = survivor.take() {
            let demoted = patch_user(&app, &a, &old_id, json!({"scopes": ["profile"]})).await;
            assert_eq!(demoted.status(), 200, "round {round}: a third admin may go");
        }
        // Every other round disables rather than demotes.
        let change = if round % 2 == 0 {
            json!({"scopes": ["profile"]})
        } else {
            json!({"disabled": true})
        };

        let (a_on_b, b_on_a) = tokio::join!(
            patch_user(&app, &a, &b_id, change.clone()),
            patch_user(&app, &b, &a_id, change.clone()),
        );

        // The loser is refused: 409 when its change came second, or 401/403
        // when its own demotion or disabling was already done.
        let statuses = (a_on_b.status().as_u16(), b_on_a.status().as_u16());
        let refused = [401, 403, 409];
        match statuses {
            (200, 200) => {
                // Both gone: the next round starts from two new ones.
                no_admin_left += 1;
                continue;
            }
            (200, loser) if refused.contains(&loser) => {
                if loser == 409 {
                    let body = assert_problem(b_on_a, 409).await;
                    let detail = body["detail"].as_str().unwrap();
                    assert!(detail.contains("administrator"), "{body}");
                }
                survivor = Some((a, a_id));
            }
            (loser, 200) if refused.contains(&loser) => survivor = Some((b, b_id)),
            other => panic!("round {round}: unexpected statuses {other:?}"),
        }
        // The survivor still administers.
        let (token, _) = survivor.as_ref().unwrap();
        assert_eq!(app.get("/admin/users", Some(token)).await.status(), 200);
    }

    assert_eq!(
        no_admin_left, 0,
        "rounds of {ROUNDS} in which two administrators demoting each other at once left none"
    );
}

#[tokio::test]
async fn the_last_administrator_cannot_be_demoted_or_disabled_even_by_an_admin_client() {
    let Some(app) = spawn_app().await else { return };
    let admin = app.admin_token().await;
    let admin_id = my_id(&app, &admin).await;
    // A confidential client holding `admin`: it has no account of its own,
    // so the self-lockout rule never applies to it.
    let created = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Ops robot", "scopes": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let grant = app
        .client
        .post(app.url("/auth/login"))
        .basic_auth(
            created["client_id"].as_str().unwrap(),
            created["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 200);
    let robot: Value = grant.json().await.unwrap();
    let robot = robot["access_token"].as_str().unwrap();

    let demote = patch_user(&app, robot, &admin_id, json!({"scopes": ["profile"]})).await;
    let disable = patch_user(&app, robot, &admin_id, json!({"disabled": true})).await;

    let body = assert_problem(demote, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("administrator"), "{body}");
    assert_problem(disable, 409).await;
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    assert_eq!(me["scopes"], json!(["profile", "admin"]), "unchanged");
    // Changes that keep an enabled administrator are fine.
    let (email, _, _) = app.signed_up_user().await;
    let other = user_id(&app, &admin, &email).await;
    let promote = patch_user(&app, robot, &other, json!({"scopes": ["profile", "admin"]})).await;
    assert_eq!(promote.status(), 200);
    let demote = patch_user(&app, robot, &admin_id, json!({"scopes": ["profile"]})).await;
    assert_eq!(demote.status(), 200, "another administrator remains");
}
