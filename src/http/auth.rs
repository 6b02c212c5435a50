//! Bearer authentication as a typed extractor: a handler that takes
//! [`BearerAuth`] runs only for a verified access token of an enabled user.
//!
//! It is declared as an OAuth 2.0 password-flow scheme so that Swagger UI's
//! Authorize button logs in against `/auth/login`.

use poem::Request;
use poem_openapi::{OAuthScopes, SecurityScheme, auth::Bearer};

use super::problem::ApiError;
use crate::accounts::{Accounts, Principal};

/// The scopes sigil grants, as OpenAPI shows them.
#[derive(OAuthScopes)]
pub enum Scopes {
    /// Read your own profile at /me.
    #[oai(rename = "profile")]
    Profile,
    /// List and manage all users under /admin.
    #[oai(rename = "admin")]
    Admin,
}

/// An access token from `Authorization: Bearer`, verified, with its user.
#[derive(SecurityScheme)]
#[oai(
    rename = "sigil",
    ty = "oauth2",
    flows(password(token_url = "/auth/login", scopes = "Scopes")),
    checker = "check_bearer"
)]
pub struct BearerAuth(pub Principal);

impl BearerAuth {
    /// The principal, if it holds `scope`; 403 `insufficient_scope` otherwise.
    pub fn require(self, scope: &str) -> Result<Principal, ApiError> {
        if self.0.has_scope(scope) {
            Ok(self.0)
        } else {
            Err(ApiError::insufficient_scope(scope))
        }
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let accounts = req.data::<Accounts>().ok_or_else(|| {
        tracing::error!("Accounts missing from request data");
        poem::Error::from(ApiError::internal())
    })?;
    accounts
        .authenticate(&bearer.token)
        .await
        .map_err(|e| poem::Error::from(ApiError::from(e)))
}
