//! The published OpenAPI document and Swagger UI, with the declared scopes.
//!
//! poem-openapi's scope list (`auth::Scopes`) is fixed when sigil is
//! compiled, but an operator declares scopes at start-up (`SIGIL_SCOPES`).
//! So the document is generated once, the declared scopes are added to every
//! flow of the `sigil` security scheme, and the result is served as
//! precomputed text at `/openapi.json` and inside Swagger UI's page.

use poem::web::Html;
use poem::{Endpoint, Response, Route};
use serde_json::Value;

use crate::accounts::scopes::Scopes;

/// Where the flows of sigil's security scheme are in the document.
const FLOWS: &str = "/components/securitySchemes/sigil/flows";

/// `spec` (poem-openapi's JSON document) with every scope of `scopes` in
/// each OAuth 2.0 flow. A document that is not what poem-openapi makes is
/// returned as it is.
pub fn with_scopes(spec: &str, scopes: &Scopes) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    let Some(flows) = document.pointer_mut(FLOWS).and_then(Value::as_object_mut) else {
        return spec.to_owned();
    };
    for flow in flows.values_mut() {
        let Some(listed) = flow.get_mut("scopes").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, description) in scopes.described() {
            listed
                .entry(name.to_owned())
                .or_insert_with(|| Value::String(description.to_owned()));
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_owned())
}

/// `GET /openapi.json`: the precomputed document.
pub fn spec_endpoint(document: String) -> impl Endpoint {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(document.clone())
    })
}

/// `/docs`: Swagger UI's page with `document` in place of `original` (the
/// page poem-openapi makes embeds its document), and poem-openapi's own
/// OAuth 2.0 receiver page.
pub fn docs_endpoint(
    page: String,
    original: &str,
    document: &str,
    receiver: impl Endpoint + 'static,
) -> Route {
    let page = page.replacen(original, document, 1);
    Route::new()
        .at("/", poem::endpoint::make_sync(move |_| Html(page.clone())))
        .at("/oauth-receiver.html", receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_scopes_are_added_to_every_flow() {
        let spec = r#"{"components":{"securitySchemes":{"sigil":{"flows":{
            "password":{"tokenUrl":"/auth/login","scopes":{"profile":"p","admin":"a"}},
            "clientCredentials":{"tokenUrl":"/auth/login","scopes":{"profile":"p","admin":"a"}}
        }}}}}"#;
        let scopes = Scopes::new(&["orders:read".to_owned()]);
        let patched: Value = serde_json::from_str(&with_scopes(spec, &scopes)).unwrap();
        for flow in ["password", "clientCredentials"] {
            let listed = &patched.pointer(FLOWS).unwrap()[flow]["scopes"];
            assert_eq!(listed["profile"], "p", "{flow}");
            assert!(listed["orders:read"].is_string(), "{flow}");
        }
        assert_eq!(with_scopes("not json", &scopes), "not json");
    }
}
