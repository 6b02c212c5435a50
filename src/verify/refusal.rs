//! What a route protected by the middleware answers when it refuses a
//! request, decided once for both adapters (`tower`, `poem`) and worded exactly as sigil's own routes word it
//! (`src/http/problem.rs`, SPEC §2):
//!
//! | outcome | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no or unreadable `Authorization` header | 401 | `Bearer` |
//! | a token that fails any check | 401 | `Bearer error="invalid_token"` |
//! | a valid token without the required scope | 403 | `Bearer error="insufficient_scope", scope="<scope>"` |
//! | the issuer's keys are unavailable | 503 | none |
//!
//! Every refusal carries an RFC 9457 problem+json body with the same `type`,
//! `title` and `status` as sigil's. The reason a token was refused is logged
//! at debug level and never sent.

use serde::Serialize;

use super::{JwksVerifier, VerifyError};
use crate::jose::AccessClaims;

/// The media type of every refusal's body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A refusal, ready to be turned into a response by an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The RFC 6750 challenge, on 401 and 403.
    pub www_authenticate: Option<String>,
    /// The problem+json document.
    pub body: String,
}

/// RFC 9457 problem details, members in the order sigil sends them.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Refusal {
    fn new(status: u16, kind: &str, title: &str, detail: &str, challenge: Option<String>) -> Self {
        let problem = Problem {
            kind: &format!("urn:sigil:problem:{kind}"),
            title,
            status,
            detail,
        };
        Refusal {
            status,
            www_authenticate: challenge,
            // A struct of strings and a number always serializes.
            body: serde_json::to_string(&problem).expect("a problem document serializes"),
        }
    }

    /// 401: no bearer token to check (RFC 6750 §3.1: no error code).
    fn missing_bearer() -> Self {
        Refusal::new(
            401,
            "unauthenticated",
            "Authentication required",
            "Send an access token as `Authorization: Bearer <token>`.",
            Some("Bearer".to_owned()),
        )
    }

    /// 401: the token failed a check, whichever it was.
    fn invalid_token() -> Self {
        Refusal::new(
            401,
            "invalid-token",
            "Invalid token",
            "The access token is invalid or expired.",
            Some(r#"Bearer error="invalid_token""#.to_owned()),
        )
    }

    /// 403: a valid token without `scope`.
    fn insufficient_scope(scope: &str) -> Self {
        Refusal::new(
            403,
            "insufficient-scope",
            "Insufficient scope",
            &format!("This route needs the `{scope}` scope."),
            Some(format!(
                r#"Bearer error="insufficient_scope", scope="{scope}""#
            )),
        )
    }

    /// 503: the token could not be checked; it may well be valid.
    fn keys_unavailable() -> Self {
        Refusal::new(
            503,
            "unavailable",
            "Service unavailable",
            "The token issuer's keys cannot be fetched; try again shortly.",
            None,
        )
    }
}

/// The token of an `Authorization` header value, read as sigil reads it:
/// the scheme `Bearer` in any case, one space, then the token (leading
/// spaces skipped). `None` for any other scheme or a value that is not
/// visible ASCII.
pub(crate) fn bearer_token(authorization: &[u8]) -> Option<&str> {
    const SCHEME: &[u8] = b"Bearer";
    let value = std::str::from_utf8(authorization).ok()?;
    let readable = value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    let bytes = value.as_bytes();
    let scheme_ok = bytes.len() > SCHEME.len()
        && bytes[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
        && bytes[SCHEME.len()] == b' ';
    (readable && scheme_ok).then(|| value[SCHEME.len() + 1..].trim_start())
}

/// Checks the bearer token in `authorization` (the request's first
/// `Authorization` header, if any) with `verifier`, and `scope` if one is
/// required: the claims, or the refusal to answer with.
pub(crate) async fn authorize(
    verifier: &JwksVerifier,
    authorization: Option<&[u8]>,
    scope: Option<&str>,
) -> Result<AccessClaims, Refusal> {
    let Some(token) = authorization.and_then(bearer_token) else {
        return Err(Refusal::missing_bearer());
    };
    let claims = match verifier.verify(token).await {
        Ok(claims) => claims,
        Err(VerifyError::Invalid(why)) => {
            tracing::debug!(%why, "bearer token refused");
            return Err(Refusal::invalid_token());
        }
        Err(VerifyError::KeysUnavailable) => {
            tracing::debug!("bearer token not checked: the issuer's keys are unavailable");
            return Err(Refusal::keys_unavailable());
        }
    };
    match scope {
        Some(scope) if !claims.has_scope(scope) => {
            tracing::debug!(scope, "bearer token lacks the required scope");
            Err(Refusal::insufficient_scope(scope))
        }
        _ => Ok(claims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_after_the_bearer_scheme_in_any_case() {
        assert_eq!(bearer_token(b"Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token(b"bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"BEARER   abc"), Some("abc"));
        assert_eq!(bearer_token(b"Bearer  "), Some(""));
    }

    #[test]
    fn other_schemes_and_unreadable_values_carry_no_token() {
        for value in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Bearer",
            b"Bearerabc",
            b"Bearer\tabc",
            b"Token abc",
            b"",
            b"Bearer caf\xc3\xa9",
            b"Bearer \xff",
        ] {
            assert_eq!(
                bearer_token(value),
                None,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn refusals_carry_sigils_challenges_and_problem_documents() {
        let missing = Refusal::missing_bearer();
        let invalid = Refusal::invalid_token();
        let scope = Refusal::insufficient_scope("admin");
        let unavailable = Refusal::keys_unavailable();

        assert_eq!(
            (missing.status, missing.www_authenticate.as_deref()),
            (401, Some("Bearer"))
        );
        assert_eq!(
            (invalid.status, invalid.www_authenticate.as_deref()),
            (401, Some(r#"Bearer error="invalid_token""#))
        );
        assert_eq!(
            (scope.status, scope.www_authenticate.as_deref()),
            (
                403,
                Some(r#"Bearer error="insufficient_scope", scope="admin""#)
            )
        );
        assert_eq!(
            (unavailable.status, unavailable.www_authenticate),
            (503, None)
        );
        let body: serde_json::Value = serde_json::from_str(&scope.body).unwrap();
        assert_eq!(body["type"], "urn:sigil:problem:insufficient-scope");
        assert_eq!(body["title"], "Insufficient scope");
        assert_eq!(body["status"], 403);
        assert!(scope.body.starts_with(r#"{"type":"#), "{}", scope.body);
    }
}
