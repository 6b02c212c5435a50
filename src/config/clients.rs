//! Settings of OAuth 2.0 clients and scopes: the scopes an operator declares
//! beside the built-in ones (`SIGIL_SCOPES`), the `client_id` of users' tokens
//! (`SIGIL_PUBLIC_CLIENT_ID`), and how long a rotated client secret keeps
//! working (`SIGIL_CLIENT_SECRET_OVERLAP`). Shared by `sigil serve` and
//! `sigil clients …`, so both accept the same scopes.

use std::time::Duration;

use clap::{Args, FromArgMatches as _};

/// Longest declared scope, in bytes: far above any real scope name, low
/// enough that a scope list in a token stays small.
pub const MAX_SCOPE_LEN: usize = 100;
/// Most scopes an operator may declare.
pub const MAX_DECLARED_SCOPES: usize = 200;
/// Longest client-secret overlap.
const MAX_OVERLAP: Duration = Duration::from_secs(365 * 24 * 3600);

/// Client and scope flags.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Scopes of your APIs, space-separated (e.g. "orders:read orders:write"),
    /// granted to users and clients beside the built-in profile and admin.
    #[arg(long, env = "SIGIL_SCOPES", value_parser = scope_list)]
    pub scopes: Option<DeclaredScopes>,
    /// `client_id` claim of users' access tokens (the public first-party client).
    #[arg(long, env = "SIGIL_PUBLIC_CLIENT_ID", default_value = "sigil", value_parser = client_id)]
    pub public_client_id: String,
    /// How long a client's previous secret keeps working after rotation, e.g.
    /// 1d; 0 ends it at once.
    #[arg(long, env = "SIGIL_CLIENT_SECRET_OVERLAP", default_value = "1d", value_parser = overlap)]
    pub client_secret_overlap: Duration,
}

/// The scopes of `SIGIL_SCOPES`, in the order given, each a valid RFC 6749
/// §3.3 scope-token and none twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredScopes(pub Vec<String>);

/// The client settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Declared scopes (without the built-in ones, unless declared again).
    pub scopes: Vec<String>,
    /// `client_id` of users' tokens.
    pub public_client_id: String,
    /// How long a rotated secret keeps working; zero ends it at once.
    pub secret_overlap: Duration,
}

impl ClientArgs {
    /// The settings these flags hold.
    pub fn settings(&self) -> ClientSettings {
        ClientSettings {
            scopes: self.scopes.clone().unwrap_or_default().0,
            public_client_id: self.public_client_id.clone(),
            secret_overlap: self.client_secret_overlap,
        }
    }
}

/// The flags' defaults, ignoring the environment.
impl Default for ClientSettings {
    fn default() -> Self {
        let command = ClientArgs::augment_args(clap::Command::new("clients"))
            .mut_args(|arg| arg.env(None::<&str>));
        let parsed = command
            .try_get_matches_from(["clients"])
            .and_then(|matches| ClientArgs::from_arg_matches(&matches));
        parsed
            .unwrap_or_else(|e| unreachable!("the client defaults parse: {e}"))
            .settings()
    }
}

/// Whether `scope` is a scope-token of RFC 6749 §3.3:
/// `1*( %x21 / %x23-5B / %x5D-7E )` — visible ASCII but `"` and `\`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// `SIGIL_SCOPES`: scope-tokens separated by spaces; none twice.
pub fn scope_list(value: &str) -> Result<DeclaredScopes, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in value.split(' ').filter(|s| !s.is_empty()) {
        if !is_scope_token(scope) {
            return Err(format!(
                "{:?} is not a scope (visible ASCII but \" and \\, separated by spaces)",
                scope.chars().take(MAX_SCOPE_LEN).collect::<String>()
            ));
        }
        if scope.len() > MAX_SCOPE_LEN {
            return Err(format!("a scope is longer than {MAX_SCOPE_LEN} characters"));
        }
        if scopes.iter().any(|s| s == scope) {
            return Err(format!("{scope:?} is declared twice"));
        }
        scopes.push(scope.to_owned());
    }
    if scopes.len() > MAX_DECLARED_SCOPES {
        return Err(format!("more than {MAX_DECLARED_SCOPES} scopes"));
    }
    Ok(DeclaredScopes(scopes))
}

/// A client id as RFC 6749 Appendix A.1 allows (`*VSCHAR`), made of visible
/// ASCII without spaces, 1 to 100 characters.
fn client_id(value: &str) -> Result<String, String> {
    let ok = !value.is_empty() && value.len() <= 100 && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a client id (1 to 100 visible ASCII characters, no spaces)"
        ))
    }
}

/// A duration like `1d` or `10m`, or `0`: no overlap.
fn overlap(value: &str) -> Result<Duration, String> {
    let overlap = match value.trim() {
        "0" => Duration::ZERO,
        _ => super::parse::duration(value)?,
    };
    if overlap > MAX_OVERLAP {
        return Err(format!("{value:?} must be at most 365d"));
    }
    Ok(overlap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_scopes_are_rfc_6749_scope_tokens_and_none_twice() {
        assert_eq!(
            scope_list(" orders:read  orders:write ").unwrap().0,
            vec!["orders:read", "orders:write"]
        );
        assert_eq!(scope_list("").unwrap().0, Vec::<String>::new());
        assert!(scope_list("a a").unwrap_err().contains("twice"));
        assert!(scope_list("bad\"quote").is_err());
        assert!(scope_list("back\\slash").is_err());
        assert!(scope_list("tab\there").is_err());
        assert!(scope_list("é").is_err());
        assert!(scope_list(&"x".repeat(MAX_SCOPE_LEN + 1)).is_err());
    }

    #[test]
    fn the_overlap_is_a_duration_or_zero() {
        assert_eq!(overlap("0").unwrap(), Duration::ZERO);
        assert_eq!(overlap("1d").unwrap(), Duration::from_secs(86_400));
        assert!(overlap("0s").is_err());
        assert!(overlap("400d").is_err());
    }

    #[test]
    fn the_defaults_are_no_declared_scopes_sigil_and_a_day() {
        let defaults = ClientSettings::default();
        assert!(defaults.scopes.is_empty());
        assert_eq!(defaults.public_client_id, "sigil");
        assert_eq!(defaults.secret_overlap, Duration::from_secs(86_400));
        assert!(client_id("has space").is_err());
        assert!(client_id("").is_err());
    }
}
