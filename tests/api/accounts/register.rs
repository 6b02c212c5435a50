use serde_json::json;

use super::helpers::{PASSWORD, assert_problem, spawn_app, unique_email};

#[tokio::test]
async fn registering_returns_201_with_a_bearer_token_response_that_is_never_cached() {
    let Some(app) = spawn_app().await else { return };

    let resp = app.post_register(&unique_email(), PASSWORD, "Ada").await;

    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "profile");
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    let members: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        members.len(),
        5,
        "exactly the RFC 6749 members: {members:?}"
    );
}

#[tokio::test]
async fn registering_an_email_that_differs_only_in_case_is_a_409() {
    let Some(app) = spawn_app().await else { return };
    let email = unique_email();
    app.register(&email).await;

    let resp = app
        .post_register(&email.to_uppercase(), PASSWORD, "Twin")
        .await;

    let body = assert_problem(resp, 409).await;
    assert!(body.get("errors").is_none());
}

#[tokio::test]
async fn invalid_fields_are_a_422_listing_each_field() {
    let Some(app) = spawn_app().await else { return };

    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD, "name": "Ada"}),
            vec!["email"],
        ),
        (
            json!({"email": unique_email(), "password": "short", "name": "Ada"}),
            vec!["password"],
        ),
        (
            json!({"email": unique_email(), "password": "x".repeat(129), "name": "Ada"}),
            vec!["password"],
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": ""}),
            vec!["name"],
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": "n".repeat(101)}),
            vec!["name"],
        ),
        (
            json!({"email": "bad", "password": "short", "name": " "}),
            vec!["email", "password", "name"],
        ),
    ];
    for (body, fields) in cases {
        let resp = app.post_json("/auth/register", &body).await;
        let problem = assert_problem(resp, 422).await;
        let got: Vec<_> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, fields, "for {body}");
        for e in problem["errors"].as_array().unwrap() {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

#[tokio::test]
async fn a_password_of_exactly_128_characters_is_accepted() {
    let Some(app) = spawn_app().await else { return };

    let resp = app
        .post_register(&unique_email(), &"p".repeat(128), "Ada")
        .await;

    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn the_problem_body_never_echoes_the_password() {
    let Some(app) = spawn_app().await else { return };
    let secret = "hunter2-but-longer-and-unique-XYZ";

    let resp = app.post_register("not-an-email", secret, "Ada").await;

    let text = resp.text().await.unwrap();
    assert!(!text.contains(secret));
}

#[tokio::test]
async fn length_limits_are_exact_and_counted_in_characters_not_bytes() {
    let Some(app) = spawn_app().await else { return };
    // (password, name, accepted, the field refused): each limit from both
    // sides, in ASCII and in two-byte characters.
    let cases = [
        ("p".repeat(7), "Ada".to_owned(), false, "password"),
        ("p".repeat(8), "Ada".to_owned(), true, ""),
        ("é".repeat(7), "Ada".to_owned(), false, "password"),
        ("é".repeat(8), "Ada".to_owned(), true, ""),
        ("p".repeat(128), "Ada".to_owned(), true, ""),
        ("p".repeat(129), "Ada".to_owned(), false, "password"),
        ("é".repeat(128), "Ada".to_owned(), true, ""),
        ("é".repeat(129), "Ada".to_owned(), false, "password"),
        (PASSWORD.to_owned(), "n".repeat(100), true, ""),
        (PASSWORD.to_owned(), "n".repeat(101), false, "name"),
        (PASSWORD.to_owned(), "é".repeat(100), true, ""),
        (PASSWORD.to_owned(), "é".repeat(101), false, "name"),
    ];
    for (password, name, accepted, field) in cases {
        let case = format!(
            "password of {} characters, name of {}",
            password.chars().count(),
            name.chars().count()
        );
        let resp = app.post_register(&unique_email(), &password, &name).await;
        if accepted {
            assert_eq!(resp.status(), 201, "{case}");
        } else {
            let problem = assert_problem(resp, 422).await;
            assert_eq!(
                problem["errors"][0]["field"], field,
                "{case}: {problem}"
            );
        }
    }
}
