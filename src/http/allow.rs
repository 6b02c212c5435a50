//! The route table read from the OpenAPI document of the same routes, plus
//! the undocumented read-only ones (`/docs…`, `/openapi.json`, the metadata
//! alias), which take `GET` only. It answers two questions poem's router
//! does not: which methods a path takes (`Allow` on every 405, RFC 9110
//! §15.5.6), and which route template a path matched (the `route` label of
//! the metrics, so ids in paths cannot blow up the number of series).

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::Value;

/// Label of a path that matches no route.
pub const OTHER_ROUTE: &str = "other";

/// Path templates (`/admin/users/{id}`) and the methods each one takes.
#[derive(Debug, Default)]
pub struct AllowedMethods {
    /// Each template, split into segments, and its `Allow` value.
    routes: Vec<(String, Vec<String>, HeaderValue)>,
    /// Path prefixes (`/docs`) whose every path takes `GET` and `HEAD` only.
    get_only_prefixes: Vec<String>,
}

impl AllowedMethods {
    /// The methods of every path in the OpenAPI document `spec` (JSON).
    /// `HEAD` goes with `GET`, as poem answers it for every `GET` route.
    pub fn from_spec(spec: &str) -> AllowedMethods {
        let spec: Value = serde_json::from_str(spec).unwrap_or_default();
        let documented = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, ops)| {
                let methods = ops
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(method, _)| method.to_ascii_uppercase())
                    .collect::<Vec<_>>();
                (path.clone(), methods)
            });
        let routes = documented
            .filter_map(|(path, mut methods)| {
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".to_owned());
                }
                let value = HeaderValue::from_str(&methods.join(", ")).ok()?;
                Some((path.clone(), segments(&path), value))
            })
            .collect();
        AllowedMethods {
            routes,
            get_only_prefixes: Vec::new(),
        }
    }

    /// Adds `path` as a route that takes `GET` and `HEAD` only.
    pub fn get_only(mut self, path: &str) -> AllowedMethods {
        self.routes.push((
            path.to_owned(),
            segments(path),
            HeaderValue::from_static("GET, HEAD"),
        ));
        self
    }

    /// Adds every path under `prefix` (and `prefix` itself) as `GET` and
    /// `HEAD` only.
    pub fn get_only_below(mut self, prefix: &str) -> AllowedMethods {
        self.get_only_prefixes.push(prefix.to_owned());
        self
    }

    /// The `Allow` value for a request path, if a route matches it.
    pub fn for_path(&self, path: &str) -> Option<&HeaderValue> {
        static GET_ONLY: HeaderValue = HeaderValue::from_static("GET, HEAD");
        if self.read_only_prefix(path).is_some() {
            return Some(&GET_ONLY);
        }
        self.template(path).map(|(_, _, allow)| allow)
    }

    /// The template of the route `path` matches (`/admin/users/{id}`), the
    /// prefix for the read-only trees (`/docs`), or [`OTHER_ROUTE`].
    pub fn route_of(&self, path: &str) -> &str {
        if let Some(prefix) = self.read_only_prefix(path) {
            return prefix;
        }
        self.template(path)
            .map_or(OTHER_ROUTE, |(template, _, _)| template.as_str())
    }

    fn read_only_prefix(&self, path: &str) -> Option<&str> {
        self.get_only_prefixes
            .iter()
            .find(|p| {
                path == p.as_str()
                    || path
                        .strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .map(String::as_str)
    }

    fn template(&self, path: &str) -> Option<&(String, Vec<String>, HeaderValue)> {
        let path = segments(path);
        self.routes.iter().find(|(_, template, _)| {
            template.len() == path.len()
                && template
                    .iter()
                    .zip(&path)
                    .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
        })
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// Adds `Allow` to a 405 that lacks one.
pub async fn add_allow<E: Endpoint>(
    next: E,
    req: Request,
    allowed: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut response = next.call(req).await?.into_response();
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
        && let Some(allow) = allowed.for_path(&path)
    {
        response.headers_mut().insert(header::ALLOW, allow.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::AllowedMethods;

    const SPEC: &str = r#"{"paths": {
        "/auth/login": {"post": {}},
        "/admin/users": {"get": {}},
        "/admin/users/{id}": {"patch": {}}
    }}"#;

    #[test]
    fn paths_match_their_templates_and_get_implies_head() {
        let allowed = AllowedMethods::from_spec(SPEC);
        let allow = |path: &str| {
            allowed
                .for_path(path)
                .map(|v| v.to_str().unwrap().to_owned())
        };

        assert_eq!(allow("/auth/login").as_deref(), Some("POST"));
        assert_eq!(allow("/admin/users/").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/admin/users/42").as_deref(), Some("PATCH"));
        assert_eq!(allow("/admin/users/42/more"), None);
        assert_eq!(allow("/nowhere"), None);
    }

    #[test]
    fn undocumented_read_only_routes_take_get_only() {
        let allowed = AllowedMethods::from_spec(SPEC)
            .get_only("/openapi.json")
            .get_only_below("/docs");
        let allow = |path: &str| {
            allowed
                .for_path(path)
                .map(|v| v.to_str().unwrap().to_owned())
        };

        assert_eq!(allow("/openapi.json").as_deref(), Some("GET, HEAD"));
        assert_eq!(allow("/docs").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allow("/docs/oauth-receiver.html").as_deref(),
            Some("GET, HEAD")
        );
        assert_eq!(allow("/docsx"), None);
    }

    #[test]
    fn the_route_label_is_the_matched_template_and_unknown_paths_are_one_series() {
        let routes = AllowedMethods::from_spec(SPEC)
            .get_only("/openapi.json")
            .get_only_below("/docs");

        assert_eq!(routes.route_of("/auth/login"), "/auth/login");
        assert_eq!(
            routes.route_of("/admin/users/6f1c0e2a-0000-4000-8000-000000000000"),
            "/admin/users/{id}"
        );
        assert_eq!(routes.route_of("/openapi.json"), "/openapi.json");
        assert_eq!(routes.route_of("/docs/swagger-ui.css"), "/docs");
        assert_eq!(routes.route_of("/wp-login.php"), "other");
        assert_eq!(routes.route_of("/admin/users/x/y"), "other");
    }
}
