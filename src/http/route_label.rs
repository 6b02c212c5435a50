//! The route label of a request for metrics: the template of the route it
//! matched, so that ids in paths cannot blow up the number of series. The
//! table lives here, beside the routes, and `telemetry` only counts what it is
//! handed.

/// The route label of a request path: the route's template, so that ids in
/// paths cannot blow up the number of series; `other` for anything unknown.
pub fn route_of(path: &str) -> &'static str {
    const ROUTES: &[&str] = &[
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/me",
        "/admin/users",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    if let Some(route) = ROUTES.iter().find(|r| **r == path) {
        return route;
    }
    if path
        .strip_prefix("/admin/users/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
    {
        return "/admin/users/{id}";
    }
    if path == "/docs" || path.starts_with("/docs/") {
        return "/docs";
    }
    "other"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_and_unknown_paths_are_one_series() {
        assert_eq!(route_of("/me"), "/me");
        assert_eq!(
            route_of("/admin/users/6f1c0e2a-0000-4000-8000-000000000000"),
            "/admin/users/{id}"
        );
        assert_eq!(route_of("/docs/swagger-ui.css"), "/docs");
        assert_eq!(route_of("/wp-login.php"), "other");
        assert_eq!(route_of("/admin/users/x/y"), "other");
    }
}
