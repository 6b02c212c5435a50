//! [`OAuthError`]: the problem document of the OAuth 2.0 endpoints, as
//! `application/json` with the RFC 6749 §5.2 members (SPEC §2).

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, payload::Json};

use super::{ApiError, Problem};
use crate::accounts::AccountError;

/// An error of an OAuth 2.0 endpoint: the problem document as
/// `application/json`, always with `error` and `error_description` (SPEC §2).
/// Made from an [`ApiError`], which keeps its status and headers; a code set
/// with [`ApiError::oauth`] wins over the one [`oauth_code`] derives.
#[derive(ApiResponse, Debug)]
pub enum OAuthError {
    /// The request was refused; `error` says why (RFC 6749 §5.2).
    #[oai(status_range = "4XX", content_type = "application/json")]
    Client(
        StatusCode,
        Json<Box<Problem>>,
        /// `Basic` after failed client authentication by HTTP Basic; the
        /// RFC 6750 challenge after a refused bearer token.
        #[oai(header = "WWW-Authenticate")]
        Option<String>,
        /// Seconds to wait before trying again (429).
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
    /// The server cannot answer now (`server_error`, `temporarily_unavailable`).
    #[oai(status_range = "5XX", content_type = "application/json")]
    Server(
        StatusCode,
        Json<Box<Problem>>,
        /// Seconds to wait before trying again (503).
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
}

impl OAuthError {
    /// 401 `invalid_client`: missing, failed or unsupported client
    /// authentication; `challenge` is the `WWW-Authenticate` to send, if any
    /// (`Basic` when Basic was tried, RFC 6749 §5.2).
    pub fn invalid_client(detail: impl Into<String>, challenge: Option<&str>) -> OAuthError {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("invalid-client"),
            "Client authentication failed",
            detail,
        );
        if let Some(challenge) = challenge {
            e = e.challenge(challenge.to_owned());
        }
        e.oauth("invalid_client").into()
    }

    /// 401 for a valid bearer token without `scope`, where RFC 7662 §2.1
    /// asks for 401 rather than RFC 6750's 403 (introspection, revocation).
    pub fn bearer_lacks_scope(scope: &str) -> OAuthError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("insufficient-scope"),
            "Insufficient scope",
            format!("This endpoint needs a bearer token with the `{scope}` scope, or client authentication."),
        )
        .challenge(format!(
            r#"Bearer error="insufficient_scope", scope="{scope}""#
        ))
        .into()
    }

    /// The problem document inside.
    pub fn problem(&self) -> &Problem {
        match self {
            OAuthError::Client(_, p, ..) | OAuthError::Server(_, p, ..) => &p.0,
        }
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Client(status, Json(mut problem), challenge, retry) => {
                problem.add_oauth_members(status, challenge.as_deref());
                OAuthError::Client(status, Json(problem), challenge, retry)
            }
            ApiError::Server(status, Json(mut problem), retry) => {
                problem.add_oauth_members(status, None);
                OAuthError::Server(status, Json(problem), retry)
            }
        }
    }
}

impl From<AccountError> for OAuthError {
    fn from(e: AccountError) -> Self {
        ApiError::from(e).into()
    }
}

impl Problem {
    /// Sets `error` (unless already set) and `error_description`.
    fn add_oauth_members(&mut self, status: StatusCode, challenge: Option<&str>) {
        if self.error.is_none() {
            self.error = Some(oauth_code(status, challenge).to_owned());
        }
        self.error_description = Some(error_description(&self.detail));
    }
}

/// The RFC 6749 §5.2 code for an error that did not choose one, from its
/// status and its `WWW-Authenticate` challenge:
///
/// - 401: `invalid_token` or `insufficient_scope` when the bearer challenge
///   names it (RFC 6750 §3.1, as RFC 7662 §2.3 asks of introspection), else
///   `invalid_client` (no or failed client authentication);
/// - 403: `access_denied`;
/// - 429: `slow_down` (registered for the token endpoint by RFC 8628: wait,
///   then retry; `Retry-After` says how long);
/// - 503: `temporarily_unavailable`; any other 5xx: `server_error`;
/// - every other 4xx (unreadable form, wrong media type, body too large,
///   validation, unknown method): `invalid_request`.
pub fn oauth_code(status: StatusCode, challenge: Option<&str>) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => match challenge {
            Some(c) if c.contains("insufficient_scope") => "insufficient_scope",
            Some(c) if c.contains("invalid_token") => "invalid_token",
            _ => "invalid_client",
        },
        StatusCode::FORBIDDEN => "access_denied",
        StatusCode::TOO_MANY_REQUESTS => "slow_down",
        StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
        s if s.is_server_error() => "server_error",
        _ => "invalid_request",
    }
}

/// `detail` as an RFC 6749 §5.2 `error_description`, whose characters must
/// be printable ASCII other than `"` and `\`: those become `'` and `/`,
/// anything else `?`.
pub fn error_description(detail: &str) -> String {
    detail
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_gets_an_oauth_code() {
        let code = |status: u16, challenge: Option<&str>| {
            oauth_code(StatusCode::from_u16(status).unwrap(), challenge)
        };
        assert_eq!(code(400, None), "invalid_request");
        assert_eq!(code(413, None), "invalid_request");
        assert_eq!(code(415, None), "invalid_request");
        assert_eq!(code(422, None), "invalid_request");
        assert_eq!(code(401, None), "invalid_client");
        assert_eq!(code(401, Some(r#"Basic realm="sigil""#)), "invalid_client");
        assert_eq!(
            code(401, Some(r#"Bearer error="invalid_token""#)),
            "invalid_token"
        );
        assert_eq!(
            code(
                401,
                Some(r#"Bearer error="insufficient_scope", scope="admin""#)
            ),
            "insufficient_scope"
        );
        assert_eq!(code(429, None), "slow_down");
        assert_eq!(code(503, None), "temporarily_unavailable");
        assert_eq!(code(500, None), "server_error");
    }

    #[test]
    fn a_chosen_code_wins_and_the_description_keeps_to_the_allowed_characters() {
        let e: OAuthError = ApiError::new(
            StatusCode::BAD_REQUEST,
            None,
            "t",
            "Unknown scope \"é\\x\".",
        )
        .oauth("invalid_scope")
        .into();

        let problem = e.problem();
        assert_eq!(problem.error.as_deref(), Some("invalid_scope"));
        assert_eq!(
            problem.error_description.as_deref(),
            Some("Unknown scope '?/x'.")
        );
    }
}
