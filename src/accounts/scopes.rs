//! The scopes sigil knows and grants: the built-in `profile` and `admin`,
//! and the scopes an operator declares for their own APIs (`SIGIL_SCOPES`).
//! [`Scopes`] is built once from the settings and handed to whoever checks
//! or lists scopes (the account service, the metadata, OpenAPI).

use std::sync::Arc;

/// The built-in scopes, with what they allow.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("profile", "Read your own profile at /me"),
    (
        "admin",
        "List and manage all users and clients under /admin",
    ),
];

/// What Swagger UI and the OpenAPI document say of a declared scope.
pub const DECLARED_DESCRIPTION: &str = "Declared by the operator (SIGIL_SCOPES)";

/// Scopes a newly registered user gets.
pub const DEFAULT_SCOPES: &[&str] = &["profile"];

/// Scope required by `/admin/*`.
pub const ADMIN: &str = "admin";

/// Every scope sigil grants: the built-in ones first, then the declared ones
/// in the order the operator gave them. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Arc<[String]>);

impl Default for Scopes {
    /// The built-in scopes only.
    fn default() -> Self {
        Scopes::new(&[])
    }
}

impl Scopes {
    /// The built-in scopes and `declared` (already checked by `config`; a
    /// declared built-in or a repetition is kept once).
    pub fn new(declared: &[String]) -> Scopes {
        let mut all: Vec<String> = BUILT_IN.iter().map(|(s, _)| s.to_string()).collect();
        for scope in declared {
            if !all.contains(scope) {
                all.push(scope.clone());
            }
        }
        Scopes(all.into())
    }

    /// Whether `scope` is one sigil grants.
    pub fn is_known(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Every scope's name, built-in ones first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Every scope with what it allows, for documentation.
    pub fn described(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names().map(|name| {
            let built_in = BUILT_IN.iter().find(|(s, _)| *s == name);
            (name, built_in.map_or(DECLARED_DESCRIPTION, |(_, d)| *d))
        })
    }

    /// The first scope of `scopes` that sigil does not grant, shortened for
    /// an error message.
    pub fn first_unknown<'a>(
        &self,
        scopes: impl IntoIterator<Item = &'a String>,
    ) -> Option<String> {
        scopes
            .into_iter()
            .find(|s| !self.is_known(s))
            .map(|s| s.chars().take(64).collect())
    }

    /// The scopes to grant for a request: the holder's scopes, narrowed to
    /// `requested` when the client asked for some (RFC 6749 §3.3). An unknown
    /// requested scope is an error naming it; a known scope the holder lacks
    /// is silently left out, and the token response's `scope` tells the
    /// client what it got.
    pub fn grant(&self, held: &[String], requested: Option<&str>) -> Result<Vec<String>, String> {
        let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(held.to_vec());
        };
        let mut granted = Vec::new();
        for scope in requested.split_ascii_whitespace() {
            if !self.is_known(scope) {
                return Err(scope.chars().take(64).collect());
            }
            if held.iter().any(|s| s == scope) && !granted.iter().any(|g: &String| g == scope) {
                granted.push(scope.to_owned());
            }
        }
        Ok(granted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_request_grants_everything_the_user_has() {
        let scopes = Scopes::default();
        assert_eq!(
            scopes.grant(&owned(&["profile", "admin"]), None).unwrap(),
            owned(&["profile", "admin"])
        );
        assert_eq!(
            scopes.grant(&owned(&["profile"]), Some("  ")).unwrap(),
            owned(&["profile"])
        );
    }

    #[test]
    fn a_request_narrows_and_never_widens() {
        let scopes = Scopes::default();
        assert_eq!(
            scopes
                .grant(&owned(&["profile", "admin"]), Some("profile"))
                .unwrap(),
            owned(&["profile"])
        );
        assert_eq!(
            scopes
                .grant(&owned(&["profile"]), Some("profile admin"))
                .unwrap(),
            owned(&["profile"])
        );
    }

    #[test]
    fn an_unknown_scope_is_named_in_the_error() {
        assert_eq!(
            Scopes::default()
                .grant(&owned(&["profile"]), Some("profile root"))
                .unwrap_err(),
            "root"
        );
    }

    #[test]
    fn declared_scopes_come_after_the_built_in_ones_and_are_known() {
        let scopes = Scopes::new(&owned(&["orders:read", "admin", "orders:read"]));
        assert_eq!(
            scopes.names().collect::<Vec<_>>(),
            ["profile", "admin", "orders:read"]
        );
        assert!(scopes.is_known("orders:read"));
        assert!(!scopes.is_known("orders:write"));
        assert_eq!(
            scopes.first_unknown(&owned(&["profile", "orders:write"])),
            Some("orders:write".to_owned())
        );
        let described: Vec<_> = scopes.described().collect();
        assert_eq!(described[2], ("orders:read", DECLARED_DESCRIPTION));
    }
}
