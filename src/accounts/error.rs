//! What goes wrong in the account service, in its own terms: one variant per
//! outcome a caller must tell apart. Which HTTP status, title and field name
//! each becomes is decided in `http::problem`. Store and hashing failures are
//! logged here, where their cause is known, and passed on without it.

use super::FieldError;
use crate::password::HashError;
use crate::store::StoreError;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// One or more pieces of input broke a rule; each is listed.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The email is registered already, in any letter case.
    #[error("email already registered")]
    EmailTaken,
    /// Unknown email, wrong password or disabled user: one answer for all.
    #[error("invalid credentials")]
    BadCredentials,
    /// Unknown, used-up, revoked or expired refresh token.
    #[error("invalid refresh token")]
    BadRefreshToken,
    /// Too many failed logins or registrations from this source: wait
    /// `retry_after` seconds.
    #[error("too many attempts")]
    Throttled {
        /// Seconds until the lock ends.
        retry_after: u64,
    },
    /// A requested scope does not exist.
    #[error("unknown scope")]
    UnknownScope(String),
    /// No such user.
    #[error("no such user")]
    NoSuchUser,
    /// The change would take the acting administrator's own admin rights
    /// away, or disable them.
    #[error("an administrator cannot demote or disable themselves")]
    SelfLockout,
    /// The change would leave no enabled administrator.
    #[error("the change would leave no enabled administrator")]
    LastAdmin,
    /// Unknown client id, wrong or expired secret, disabled client, or no
    /// usable client authentication: one answer for all.
    #[error("invalid client")]
    BadClient,
    /// A client asked for a scope it was not given.
    #[error("scope not allowed")]
    ScopeNotAllowed(String),
    /// No such client.
    #[error("no such client")]
    NoSuchClient,
    /// The hashing queue is full.
    #[error("busy")]
    Busy,
    /// The database cannot be reached.
    #[error("database unavailable")]
    Unavailable,
    /// Anything else; already logged in full.
    #[error("internal error")]
    Internal,
}

impl AccountError {
    /// A one-line explanation for an operator (the command line, start-up
    /// logs); never contains a secret.
    pub fn explain(&self) -> String {
        match self {
            AccountError::Invalid(errors) => errors
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => AccountError::EmailTaken,
            StoreError::LastAdmin => AccountError::LastAdmin,
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
    /// Bad token, or its user is gone or disabled.
    #[error("invalid token")]
    InvalidToken,
    /// The database cannot be reached.
    #[error("database unavailable")]
    Unavailable,
}
