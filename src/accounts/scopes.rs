//! The scopes sigil knows and grants.

/// Every scope sigil grants, with what it allows (shown in Swagger UI and metadata).
pub const KNOWN_SCOPES: &[(&str, &str)] = &[
    ("profile", "Read your own profile at /me"),
    ("admin", "List and manage all users under /admin"),
];

/// Scopes a newly registered user gets.
pub const DEFAULT_SCOPES: &[&str] = &["profile"];

/// Scope required by `/admin/*`.
pub const ADMIN: &str = "admin";

/// Whether `scope` is one sigil knows.
pub fn is_known(scope: &str) -> bool {
    KNOWN_SCOPES.iter().any(|(name, _)| *name == scope)
}

/// The scopes to grant for a request: the user's scopes, narrowed to `requested`
/// when the client asked for some (RFC 6749 §3.3). An unknown requested scope is
/// an error naming it; a known scope the user lacks is silently left out, and the
/// token response's `scope` tells the client what it got.
pub fn grant(user_scopes: &[String], requested: Option<&str>) -> Result<Vec<String>, String> {
    let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(user_scopes.to_vec());
    };
    let mut granted = Vec::new();
    for scope in requested.split_ascii_whitespace() {
        if !is_known(scope) {
            return Err(scope.chars().take(64).collect());
        }
        if user_scopes.iter().any(|s| s == scope) && !granted.iter().any(|g: &String| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_request_grants_everything_the_user_has() {
        assert_eq!(
            grant(&owned(&["profile", "admin"]), None).unwrap(),
            owned(&["profile", "admin"])
        );
        assert_eq!(
            grant(&owned(&["profile"]), Some("  ")).unwrap(),
            owned(&["profile"])
        );
    }

    #[test]
    fn a_request_narrows_and_never_widens() {
        assert_eq!(
            grant(&owned(&["profile", "admin"]), Some("profile")).unwrap(),
            owned(&["profile"])
        );
        assert_eq!(
            grant(&owned(&["profile"]), Some("profile admin")).unwrap(),
            owned(&["profile"])
        );
    }

    #[test]
    fn an_unknown_scope_is_named_in_the_error() {
        assert_eq!(
            grant(&owned(&["profile"]), Some("profile root")).unwrap_err(),
            "root"
        );
    }
}
