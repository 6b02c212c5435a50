//! What goes wrong in the account service, one variant per answer the HTTP
//! layer gives; store and hashing failures are logged here, where their cause
//! is known, and passed on without it.

use super::FieldError;
use crate::password::HashError;
use crate::store::StoreError;

/// Why an account operation failed; the HTTP layer maps each to one status.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// One or more fields are invalid (422).
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The email is registered already, in any letter case (409).
    #[error("email already registered")]
    EmailTaken,
    /// Unknown email, wrong password or disabled user: one answer for all (401).
    #[error("invalid credentials")]
    BadCredentials,
    /// Unknown, used-up, revoked or expired refresh token (401).
    #[error("invalid refresh token")]
    BadRefreshToken,
    /// Too many failed logins or registrations from this source: wait
    /// `retry_after` seconds (429).
    #[error("too many attempts")]
    Throttled {
        /// Seconds until the lock ends.
        retry_after: u64,
    },
    /// A requested scope does not exist (400 `invalid_scope`).
    #[error("unknown scope")]
    UnknownScope(String),
    /// No such user (404).
    #[error("no such user")]
    NoSuchUser,
    /// The change would take the acting administrator's own admin rights
    /// away, or disable them (409).
    #[error("an administrator cannot demote or disable themselves")]
    SelfLockout,
    /// The hashing queue is full (503 + Retry-After).
    #[error("busy")]
    Busy,
    /// The database cannot be reached (503).
    #[error("database unavailable")]
    Unavailable,
    /// Anything else; already logged in full (500).
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => AccountError::EmailTaken,
            StoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                AccountError::Unavailable
            }
            StoreError::Other(cause) => {
                tracing::error!(error = %cause, "database error");
                AccountError::Internal
            }
        }
    }
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AccountError::Busy,
            HashError::Failed(cause) => {
                tracing::error!(error = %cause, "password hashing failed");
                AccountError::Internal
            }
        }
    }
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad token, or its user is gone or disabled (401 `invalid_token`).
    #[error("invalid token")]
    InvalidToken,
    /// The database cannot be reached (503).
    #[error("database unavailable")]
    Unavailable,
}
