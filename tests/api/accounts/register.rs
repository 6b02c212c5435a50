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

/// The field a 422 problem names first.
async fn refused_field(resp: reqwest::Response) -> String {
    let problem = assert_problem(resp, 422).await;
    problem["errors"][0]["field"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn look_alikes_of_a_registered_email_cannot_be_registered() {
    let Some(app) = spawn_app().await else { return };
    let local = format!("admin-{}", uuid::Uuid::new_v4().simple());
    app.register(&format!("{local}@example.com")).await;
    let look_alikes = [
        // Fullwidth `ａ` (U+FF41) for `a`.
        format!("\u{FF41}{}@example.com", &local[1..]),
        // Cyrillic `а` (U+0430) in the domain.
        format!("{local}@ex\u{0430}mple.com"),
        // Invisible characters: zero-width space, soft hyphen, word joiner.
        format!("{local}\u{200B}@example.com"),
        format!("ad\u{00AD}{}@example.com", &local[2..]),
        format!("{local}@example\u{2060}.com"),
        // A right-to-left override inside the local part.
        format!("\u{202E}{local}@example.com"),
    ];

    for email in look_alikes {
        let resp = app.post_register(&email, PASSWORD, "Twin").await;

        assert_eq!(refused_field(resp).await, "email", "{email:?}");
    }
}

#[tokio::test]
async fn an_international_domain_is_registered_in_its_punycode_form_and_logs_in() {
    let Some(app) = spawn_app().await else { return };
    let email = format!("Ada-{}@xn--bcher-kva.example", uuid::Uuid::new_v4().simple());

    let registered = app.post_register(&email, PASSWORD, "Ada").await;
    let unicode = app
        .post_register(&email.replace("xn--bcher-kva", "b\u{FC}cher"), PASSWORD, "Ada")
        .await;
    let login = app.login_form(&email.to_uppercase(), PASSWORD).await;

    assert_eq!(registered.status(), 201);
    assert_eq!(
        refused_field(unicode).await,
        "email",
        "the Unicode form is refused with a hint"
    );
    assert_eq!(login.status(), 200, "any case of what was registered logs in");
}

#[tokio::test]
async fn an_account_stored_with_a_non_ascii_email_before_the_rule_still_logs_in() {
    use sigil::store::NewUser;
    let Some(app) = spawn_app().await else { return };
    let email = format!("jos\u{E9}-{}@b\u{FC}cher.example", uuid::Uuid::new_v4().simple());
    let store = sigil::startup::open_store(&app.database_url).await.unwrap();
    let hasher = sigil::password::PasswordHasher::new(&super::helpers::test_hashing()).unwrap();
    let password_hash = hasher.hash(PASSWORD.to_owned().into()).await.unwrap();
    store
        .create_user(NewUser {
            email: email.clone(),
            name: "Jos\u{E9}".into(),
            password_hash,
            scopes: vec!["profile".into()],
        })
        .await
        .unwrap();

    let resp = app.login_form(&email, PASSWORD).await;

    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn names_with_bidi_overrides_or_other_invisible_characters_are_a_422() {
    let Some(app) = spawn_app().await else { return };
    let names = [
        "Ada\u{202E}gnp.exe",        // right-to-left override
        "\u{2066}Ada\u{2069}",       // left-to-right isolate … pop directional isolate
        "\u{2067}Ada",               // right-to-left isolate
        "\u{2068}Ada",               // first strong isolate
        "A\u{202A}da",               // left-to-right embedding
        "Ada\u{200B}",               // zero-width space
        "Ad\u{200F}a",               // right-to-left mark
        "\u{FEFF}Ada",               // byte order mark
        "Ada\u{00AD}Lovelace",       // soft hyphen
        "Ada\u{E0041}",              // tag character
        "Ada\u{2028}Lovelace",       // line separator
        "\u{3164}",                  // Hangul filler: a blank name
        "Ada\u{E000}",               // private use
        "\u{0301}\u{0301}",          // combining marks only
    ];

    for name in names {
        let resp = app.post_register(&unique_email(), PASSWORD, name).await;

        assert_eq!(refused_field(resp).await, "name", "{name:?}");
    }
}

#[tokio::test]
async fn names_in_any_script_with_accents_and_emoji_are_accepted() {
    let Some(app) = spawn_app().await else { return };

    for name in ["Ada Lovelace", "Zoë O'Brien-Núñez", "李小龍", "Мария", "محمد", "Ada ❤\u{FE0F}"] {
        let resp = app.post_register(&unique_email(), PASSWORD, name).await;

        assert_eq!(resp.status(), 201, "{name:?}");
    }
}
