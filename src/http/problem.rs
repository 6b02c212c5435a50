//! The one error type at the HTTP boundary: every refusal is an RFC 9457
//! problem+json body, with the headers its status calls for.
//!
//! The OAuth 2.0 endpoints (token, refresh, revocation, introspection) answer
//! the same document as `application/json` with the RFC 6749 §5.2 `error`
//! and `error_description` members beside it ([`OAuthError`], SPEC §2), since
//! OAuth libraries read no other media type. Every status gets a code
//! ([`oauth_code`]); where RFC 6749 names none, the choice is documented there.
//!
//! Internal causes are logged where they happen (see `accounts`) and never sent:
//! a 500 says only that something went wrong.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::accounts::{AccountError, AuthError, Field, FieldError};

mod oauth;
pub use oauth::{OAuthError, error_description, oauth_code};

/// Seconds a client should wait after a 503 from a full hashing queue.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// RFC 9457 problem details.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "Problem")]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a person to read.
    pub detail: String,
    /// For validation failures: each invalid field and why.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<InvalidField>>,
    /// On the OAuth 2.0 endpoints: the error code (RFC 6749 §5.2).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// On the OAuth 2.0 endpoints: `detail` in the characters RFC 6749 §5.2 allows.
    #[oai(skip_serializing_if_is_none)]
    pub error_description: Option<String>,
}

/// One invalid field of a request.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct InvalidField {
    /// The field's name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<FieldError> for InvalidField {
    fn from(e: FieldError) -> Self {
        InvalidField {
            field: field_name(e.field).to_owned(),
            message: e.message,
        }
    }
}

/// The name a request gives to `field`: the JSON member of `/auth/register`
/// and `/admin/users`, and `username` for the email of a login (the name
/// RFC 6749 §4.3 gives it, used by both forms of `/auth/login`).
pub fn field_name(field: Field) -> &'static str {
    match field {
        Field::Email => "email",
        Field::LoginEmail => "username",
        Field::Password => "password",
        Field::Name => "name",
        Field::Scopes => "scopes",
        Field::Audience => "audience",
    }
}

/// An error answer, documented in OpenAPI as the 4XX and 5XX responses.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request was refused; the problem document says why.
    #[oai(status_range = "4XX", content_type = "application/problem+json")]
    Client(
        StatusCode,
        Json<Box<Problem>>,
        /// RFC 6750 challenge, on 401 and 403 from bearer-protected routes.
        #[oai(header = "WWW-Authenticate")]
        Option<String>,
        /// Seconds to wait before trying again (429).
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
    /// The server cannot answer now.
    #[oai(status_range = "5XX", content_type = "application/problem+json")]
    Server(
        StatusCode,
        Json<Box<Problem>>,
        /// Seconds to wait before trying again (503).
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
}

impl ApiError {
    /// A problem with `status`, `title` and `detail`; `kind` is a short slug or `None`.
    pub fn new(
        status: StatusCode,
        kind: Option<&str>,
        title: &str,
        detail: impl Into<String>,
    ) -> ApiError {
        let problem = Problem {
            kind: kind.map_or_else(
                || "about:blank".to_owned(),
                |k| format!("urn:sigil:problem:{k}"),
            ),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
            error: None,
            error_description: None,
        };
        if status.is_server_error() {
            ApiError::Server(status, Json(Box::new(problem)), None)
        } else {
            ApiError::Client(status, Json(Box::new(problem)), None, None)
        }
    }

    /// The problem document inside.
    pub fn problem(&self) -> &Problem {
        match self {
            ApiError::Client(_, p, ..) | ApiError::Server(_, p, ..) => &p.0,
        }
    }

    fn problem_mut(&mut self) -> &mut Problem {
        match self {
            ApiError::Client(_, p, ..) | ApiError::Server(_, p, ..) => &mut p.0,
        }
    }

    /// Adds the OAuth 2.0 error code (token endpoint only).
    pub fn oauth(mut self, code: &str) -> ApiError {
        self.problem_mut().error = Some(code.to_owned());
        self
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        match &mut self {
            ApiError::Client(_, _, _, r) | ApiError::Server(_, _, r) => *r = Some(seconds),
        }
        self
    }

    fn challenge(mut self, value: String) -> ApiError {
        if let ApiError::Client(_, _, www, _) = &mut self {
            *www = Some(value);
        }
        self
    }

    /// 400 for a request that could not be read.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("bad-request"),
            "Bad request",
            detail,
        )
    }

    /// 422 listing invalid fields.
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("validation"),
            "Invalid input",
            "One or more fields are invalid; see errors.",
        );
        e.problem_mut().errors = Some(errors.into_iter().map(InvalidField::from).collect());
        e
    }

    /// 401 for a missing or unreadable `Authorization` header (RFC 6750 §3.1).
    pub fn missing_bearer() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("unauthenticated"),
            "Authentication required",
            "Send an access token as `Authorization: Bearer <token>`.",
        )
        .challenge("Bearer".to_owned())
    }

    /// 401 for a token that failed a check, whichever check it was.
    pub fn invalid_token() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("invalid-token"),
            "Invalid token",
            "The access token is invalid, expired, or its user can no longer sign in.",
        )
        .challenge(r#"Bearer error="invalid_token""#.to_owned())
    }

    /// 403 for a valid token without `scope`.
    pub fn insufficient_scope(scope: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            Some("insufficient-scope"),
            "Insufficient scope",
            format!("This route needs the `{scope}` scope."),
        )
        .challenge(format!(
            r#"Bearer error="insufficient_scope", scope="{scope}""#
        ))
    }

    /// 503 when the database cannot be reached.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("unavailable"),
            "Service unavailable",
            "The database cannot be reached; try again shortly.",
        )
    }

    /// 500 with no detail; the cause was logged.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "Internal server error",
            "Something went wrong on our side; it has been logged.",
        )
    }
}

/// Each outcome of the account service as an answer: invalid input 422 with
/// the fields, a taken email 409, bad credentials or refresh token 401
/// (`invalid_grant`), an unknown scope 400 (`invalid_scope`), throttled 429
/// with `Retry-After`, no such user 404, self-lockout and last administrator
/// 409, a full hashing queue 503 with `Retry-After`, the database away 503,
/// anything else 500.
impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(errors) => ApiError::invalid(errors),
            AccountError::EmailTaken => ApiError::new(
                StatusCode::CONFLICT,
                Some("email-taken"),
                "Email already registered",
                "An account with this email already exists.",
            ),
            AccountError::BadCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                Some("invalid-credentials"),
                "Invalid credentials",
                "The email or password is incorrect.",
            )
            .oauth("invalid_grant"),
            AccountError::BadRefreshToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                Some("invalid-refresh-token"),
                "Invalid refresh token",
                "The refresh token is unknown, used up, revoked or expired; log in again.",
            )
            .oauth("invalid_grant"),
            AccountError::UnknownScope(scope) => ApiError::new(
                StatusCode::BAD_REQUEST,
                Some("invalid-scope"),
                "Invalid scope",
                format!("Unknown scope {scope:?}."),
            )
            .oauth("invalid_scope"),
            AccountError::Throttled { retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Some("throttled"),
                "Too many attempts",
                "Too many failed logins or registrations from here; wait the Retry-After seconds, then try again.",
            )
            .retry_after(retry_after),
            AccountError::NoSuchUser => ApiError::new(
                StatusCode::NOT_FOUND,
                Some("not-found"),
                "Not found",
                "No user has this id.",
            ),
            AccountError::SelfLockout => ApiError::new(
                StatusCode::CONFLICT,
                Some("self-lockout"),
                "Cannot lock yourself out",
                "This change would remove your own admin scope or disable your own account; \
                 ask another administrator to make it.",
            ),
            AccountError::LastAdmin => ApiError::new(
                StatusCode::CONFLICT,
                Some("last-admin"),
                "Last administrator",
                "This change would leave no enabled administrator; \
                 give another user the admin scope first.",
            ),
            AccountError::BadClient => ApiError::new(
                StatusCode::UNAUTHORIZED,
                Some("invalid-client"),
                "Invalid client",
                "Client authentication failed: unknown client, wrong secret, or the client is disabled.",
            )
            .oauth("invalid_client"),
            AccountError::ScopeNotAllowed(scope) => ApiError::new(
                StatusCode::BAD_REQUEST,
                Some("invalid-scope"),
                "Invalid scope",
                format!("The client was not given the scope {scope:?}."),
            )
            .oauth("invalid_scope"),
            AccountError::NoSuchClient => ApiError::new(
                StatusCode::NOT_FOUND,
                Some("not-found"),
                "Not found",
                "No client has this id.",
            ),
            AccountError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("busy"),
                "Too busy",
                "Too many password checks are in progress; try again shortly.",
            )
            .retry_after(BUSY_RETRY_AFTER_SECS),
            AccountError::Unavailable => ApiError::unavailable(),
            AccountError::Internal => ApiError::internal(),
        }
    }
}

/// A refused bearer token is 401 `invalid_token`; the database away 503.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidToken => ApiError::invalid_token(),
            AuthError::Unavailable => ApiError::unavailable(),
        }
    }
}
