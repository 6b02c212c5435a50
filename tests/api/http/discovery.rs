//! Swagger UI, the OpenAPI document and RFC 8414 metadata.

use serde_json::Value;

use crate::helpers::{Options, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_security() {
    let app = spawn_app().await;

    let resp = app.get("/openapi.json", None).await;

    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/me", "get"),
        ("/admin/users", "get"),
        ("/admin/users/{id}", "patch"),
        ("/admin/clients", "get"),
        ("/admin/clients", "post"),
        ("/admin/clients/{id}", "patch"),
        ("/admin/clients/{id}/secret", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/oauth/revoke", "post"),
        ("/oauth/introspect", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    for hidden in [
        "/docs",
        "/openapi.json",
        "/.well-known/openid-configuration",
    ] {
        assert!(
            !paths.contains_key(hidden),
            "{hidden} should not be documented"
        );
    }
    let scheme = &doc["components"]["securitySchemes"]["sigil"];
    assert_eq!(scheme["type"], "oauth2");
    assert_eq!(scheme["flows"]["password"]["tokenUrl"], "/auth/login");
    assert!(scheme["flows"]["password"]["scopes"]["admin"].is_string());
    assert_eq!(
        scheme["flows"]["clientCredentials"]["tokenUrl"],
        "/auth/login"
    );
    assert!(scheme["flows"]["clientCredentials"]["scopes"]["admin"].is_string());
    assert_eq!(
        paths["/admin/users"]["get"]["security"][0]["sigil"],
        serde_json::json!(["admin"])
    );
    assert!(paths["/me"]["get"]["security"][0]["sigil"].is_array());
    assert_eq!(doc["components"]["schemas"]["Problem"]["type"], "object");
}

#[tokio::test]
async fn the_openapi_document_gives_the_oauth_endpoints_json_errors_and_the_others_problem_json() {
    let app = spawn_app().await;

    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();

    let paths = &doc["paths"];
    for path in [
        "/auth/login",
        "/auth/refresh",
        "/oauth/revoke",
        "/oauth/introspect",
    ] {
        let responses = &paths[path]["post"]["responses"];
        for range in ["4XX", "5XX"] {
            let content = responses[range]["content"].as_object().unwrap();
            assert!(
                content.contains_key("application/json")
                    && !content.contains_key("application/problem+json"),
                "{path} {range}: {content:?}"
            );
        }
    }
    for (path, method) in [("/auth/register", "post"), ("/me", "get")] {
        let content = &paths[path][method]["responses"]["4XX"]["content"];
        assert!(
            content.get("application/problem+json").is_some(),
            "{path}: {content}"
        );
    }
    let form = &paths["/oauth/introspect"]["post"]["requestBody"]["content"];
    assert!(
        form.get("application/x-www-form-urlencoded").is_some(),
        "{form}"
    );
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    assert!(problem.get("error_description").is_some(), "{problem}");
}

/// Swagger UI shows an operation's summary as it is, on one line beside its
/// path, but renders its description as Markdown: a summary must be one line
/// of plain text.
#[tokio::test]
async fn every_operation_summary_is_one_line_of_plain_text() {
    let app = spawn_app().await;

    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();

    let mut marked = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(summary) = operation["summary"].as_str() else {
                marked.push(format!("{method} {path}: no summary"));
                continue;
            };
            let emphasis = summary.split_whitespace().any(|word| {
                word.starts_with('_') || word.trim_end_matches(['.', ',', ')']).ends_with('_')
            });
            if summary.contains(['`', '*', '[', ']', '<', '>', '#', '\n']) || emphasis {
                marked.push(format!("{method} {path}: {summary}"));
            }
        }
    }
    assert!(
        marked.is_empty(),
        "{} summaries are not plain text:\n{}",
        marked.len(),
        marked.join("\n")
    );
}

/// Swagger UI shows the scheme's description in its Authorize dialog, above
/// fields named username, password, client_id and client_secret: it says
/// what a person types where.
#[tokio::test]
async fn the_security_scheme_tells_a_person_what_to_type_in_the_authorize_dialog() {
    let app = spawn_app().await;

    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();

    let description = doc["components"]["securitySchemes"]["sigil"]["description"]
        .as_str()
        .unwrap_or_default();
    for told in [
        "email under username",
        "leave client_id and client_secret empty",
        "confidential client's id and secret",
    ] {
        assert!(
            description.contains(told),
            "the description does not say {told:?}: {description:?}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;

    let resp = app.get("/docs", None).await;

    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page");
}

#[tokio::test]
async fn authorization_server_metadata_is_truthful_and_served_at_both_addresses() {
    let app = spawn_app().await;

    let a: Value = app
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .get("/.well-known/openid-configuration", None)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(a, b);
    // By default the issuer is `http://` + the address the server listens
    // on, which is the one this test dialed.
    assert_eq!(a["issuer"], app.address);
    assert_eq!(
        a["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.address)
    );
    assert_eq!(a["token_endpoint"], format!("{}/auth/login", app.address));
    assert_eq!(
        a["grant_types_supported"],
        serde_json::json!(["password", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        a["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        a["revocation_endpoint"],
        format!("{}/oauth/revoke", app.address)
    );
    assert_eq!(
        a["revocation_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        a["introspection_endpoint"],
        format!("{}/oauth/introspect", app.address)
    );
    assert_eq!(
        a["introspection_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        a["scopes_supported"],
        serde_json::json!(["profile", "admin"])
    );
    let jwks = app
        .client
        .get(a["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200, "the published jwks_uri works");
}

#[tokio::test]
async fn metadata_names_the_configured_issuer_and_urls_under_it() {
    const ISSUER: &str = "https://issuer.test/tenant-a";
    let app = spawn_app_with(Options {
        tweak: Box::new(|s| s.issuer = Some(ISSUER.to_owned())),
        ..Options::default()
    })
    .await;

    let a: Value = app
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(a["issuer"], ISSUER);
    assert_eq!(
        a["jwks_uri"],
        "https://issuer.test/tenant-a/.well-known/jwks.json"
    );
    assert_eq!(
        a["token_endpoint"],
        "https://issuer.test/tenant-a/auth/login"
    );
    assert_eq!(
        a["revocation_endpoint"],
        "https://issuer.test/tenant-a/oauth/revoke"
    );
    assert_eq!(
        a["introspection_endpoint"],
        "https://issuer.test/tenant-a/oauth/introspect"
    );
}
