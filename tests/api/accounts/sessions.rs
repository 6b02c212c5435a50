//! `GET /me/sessions` and `DELETE /me/sessions/{id}` (SPEC §7) on each
//! backend: a user sees each login with its device and address, and ends one
//! without ending the others.

use serde_json::{Value, json};

use super::helpers::{
    PASSWORD, TestApp, assert_oauth_error, assert_problem, spawn_app, unique_email,
};

/// Logs `email` in with the `User-Agent` `agent`; the token response.
async fn login_as(app: &TestApp, email: &str, agent: &str) -> Value {
    let resp = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", agent)
        .form(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn token<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap()
}

/// `GET /me/sessions` as the holder of `access`.
async fn sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let resp = app.get("/me/sessions", Some(access)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// `DELETE /me/sessions/{id}` as the holder of `access`.
async fn end(app: &TestApp, access: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/me/sessions/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

/// A user registered and logged out again, so that only the sessions the
/// test starts are there; the email.
async fn user_without_sessions(app: &TestApp) -> String {
    let email = unique_email();
    let registered = app.register(&email).await;
    let logout = app
        .post_json(
            "/auth/logout",
            &json!({"refresh_token": registered["refresh_token"]}),
        )
        .await;
    assert_eq!(logout.status(), 204);
    email
}

#[tokio::test]
async fn two_logins_are_two_sessions_and_ending_one_stops_only_its_refresh_token() {
    let Some(app) = spawn_app().await else { return };
    let email = user_without_sessions(&app).await;
    let phone = login_as(&app, &email, "Phone/1.0 (Android)").await;
    let laptop = login_as(&app, &email, "Laptop/2.0 (X11)").await;

    let listed = sessions(&app, token(&laptop, "access_token")).await;

    assert_eq!(listed.len(), 2, "{listed:?}");
    let agents: Vec<&str> = listed
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(
        agents,
        ["Laptop/2.0 (X11)", "Phone/1.0 (Android)"],
        "most recently used first"
    );
    for session in &listed {
        assert_eq!(session["client_addr"], "127.0.0.1");
        assert!(uuid::Uuid::parse_str(session["id"].as_str().unwrap()).is_ok());
        for time in ["created_at", "last_used_at"] {
            let text = session[time].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                "{time}: {text}"
            );
        }
    }
    let phone_id = listed[1]["id"].as_str().unwrap();

    let ended = end(&app, token(&laptop, "access_token"), phone_id).await;

    assert_eq!(ended.status(), 204);
    assert_oauth_error(app.refresh(token(&phone, "refresh_token")).await, 401).await;
    assert_eq!(
        app.refresh(token(&laptop, "refresh_token")).await.status(),
        200
    );
    let left = sessions(&app, token(&laptop, "access_token")).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["user_agent"], "Laptop/2.0 (X11)");
    assert_problem(
        end(&app, token(&laptop, "access_token"), phone_id).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn another_users_session_and_an_unknown_id_are_404_and_a_malformed_id_is_a_problem() {
    let Some(app) = spawn_app().await else { return };
    let (_, ada_access, ada_refresh) = app.signed_up_user().await;
    let (_, bob_access, _) = app.signed_up_user().await;
    let ada_session = sessions(&app, &ada_access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let not_bobs = end(&app, &bob_access, &ada_session).await;
    let unknown = end(&app, &ada_access, &uuid::Uuid::new_v4().to_string()).await;
    let malformed = end(&app, &ada_access, "not-a-uuid").await;

    let body = assert_problem(not_bobs, 404).await;
    assert!(!body["detail"].as_str().unwrap().contains(&ada_session));
    assert_problem(unknown, 404).await;
    let status = malformed.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    assert_problem(malformed, status).await;
    assert_eq!(
        app.refresh(&ada_refresh).await.status(),
        200,
        "Ada's session goes on"
    );
    assert_eq!(
        sessions(&app, &bob_access).await.len(),
        1,
        "Bob sees only his own"
    );
}

#[tokio::test]
async fn a_refresh_moves_the_sessions_last_used_at_and_keeps_its_start() {
    let Some(app) = spawn_app().await else { return };
    let (_, access, refresh) = app.signed_up_user().await;
    let before = sessions(&app, &access).await.remove(0);
    assert_eq!(
        before["last_used_at"], before["created_at"],
        "a registration is a use"
    );

    let refreshed: Value = app.refresh(&refresh).await.json().await.unwrap();

    let after = sessions(&app, token(&refreshed, "access_token"))
        .await
        .remove(0);
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["created_at"], before["created_at"]);
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(
        time(&after["last_used_at"]) > time(&before["last_used_at"]),
        "{before} → {after}"
    );
}

#[tokio::test]
async fn a_user_agent_is_kept_without_control_characters_and_at_most_256_characters_long() {
    let Some(app) = spawn_app().await else { return };
    let email = user_without_sessions(&app).await;
    let agent = format!("Tab\tbed/{}", "x".repeat(1000));
    let body = login_as(&app, &email, &agent).await;

    let listed = sessions(&app, token(&body, "access_token")).await;

    let kept = listed[0]["user_agent"].as_str().unwrap();
    assert_eq!(kept.chars().count(), 256);
    assert!(kept.starts_with("Tabbed/xxx"), "{kept}");
    // No User-Agent at all (reqwest sends none unless told): `null`, not absent.
    let unnamed = app.login_form(&email, PASSWORD).await;
    assert_eq!(unnamed.status(), 200);
    let listed = sessions(&app, token(&body, "access_token")).await;
    let unnamed = listed.iter().find(|s| s["user_agent"] != kept).unwrap();
    assert!(unnamed.as_object().unwrap().contains_key("user_agent"));
    assert!(unnamed["user_agent"].is_null(), "{unnamed}");
}

#[tokio::test]
async fn the_session_routes_need_a_bearer_token_that_grants_profile() {
    let Some(app) = spawn_app().await else { return };
    let email = user_without_sessions(&app).await;
    // `admin` is not this user's: the grant is narrowed to no scope at all.
    let narrowed: Value = app
        .post_form(
            "/auth/login",
            &[
                ("username", &email),
                ("password", PASSWORD),
                ("scope", "admin"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrowed["scope"], "");
    let id = uuid::Uuid::new_v4().to_string();

    let anonymous = app.get("/me/sessions", None).await;
    let unscoped = app
        .get("/me/sessions", Some(token(&narrowed, "access_token")))
        .await;
    let unscoped_delete = end(&app, token(&narrowed, "access_token"), &id).await;

    assert_problem(anonymous, 401).await;
    assert_problem(unscoped, 403).await;
    assert_problem(unscoped_delete, 403).await;
}

#[tokio::test]
async fn the_openapi_document_shows_the_session_routes_with_the_profile_scope() {
    let Some(app) = spawn_app().await else { return };

    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();

    let paths = &doc["paths"];
    assert_eq!(
        paths["/me/sessions"]["get"]["security"][0]["sigil"],
        json!(["profile"])
    );
    assert_eq!(
        paths["/me/sessions/{id}"]["delete"]["security"][0]["sigil"],
        json!(["profile"])
    );
    assert!(paths["/me/sessions/{id}"]["delete"]["responses"]["204"].is_object());
    let session = &doc["components"]["schemas"]["Session"]["properties"];
    for field in [
        "id",
        "created_at",
        "last_used_at",
        "user_agent",
        "client_addr",
    ] {
        assert!(session[field].is_object(), "Session lacks {field}");
    }
    for field in ["user_agent", "client_addr"] {
        assert_eq!(session[field]["nullable"], true, "{field} may be null");
    }
}
