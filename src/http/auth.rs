//! Bearer authentication as a typed extractor: a handler that takes
//! [`BearerAuth`] runs only for a verified access token of an enabled user
//! or an enabled confidential client.
//!
//! It is declared as an OAuth 2.0 scheme with the password flow and the
//! client-credentials flow, both against `/auth/login`, so that Swagger UI's
//! Authorize dialog logs in a person or a service. The scopes listed here are
//! the built-in ones; the declared ones (`SIGIL_SCOPES`) are added to the
//! published document at start-up (`spec`).

use poem::Request;
use poem_openapi::{OAuthScopes, SecurityScheme, auth::Bearer};

use poem::http::StatusCode;

use super::problem::ApiError;
use crate::accounts::{Account, Accounts, Caller, Principal};

/// The built-in scopes, as OpenAPI shows them.
#[derive(OAuthScopes)]
pub enum Scopes {
    /// Read your own profile at /me.
    #[oai(rename = "profile")]
    Profile,
    /// List and manage all users and clients under /admin.
    #[oai(rename = "admin")]
    Admin,
}

// An access token from `Authorization: Bearer`, verified, with its user.
// The doc comment below is the scheme's description, which Swagger UI shows
// in its Authorize dialog above each flow's fields.
/// Access tokens from `/auth/login`, sent as `Authorization: Bearer`.
///
/// Password flow: your email under username and your password under password;
/// leave client_id and client_secret empty. Client-credentials flow: a
/// confidential client's id and secret.
#[derive(SecurityScheme)]
#[oai(
    rename = "sigil",
    ty = "oauth2",
    flows(
        password(token_url = "/auth/login", scopes = "Scopes"),
        client_credentials(token_url = "/auth/login", scopes = "Scopes")
    ),
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

    /// The user behind the token; 403 for a client-credentials token, which
    /// has no user (routes about "me" are for people).
    pub fn user(&self) -> Result<&Account, ApiError> {
        self.0.user().ok_or_else(not_a_user)
    }

    /// [`BearerAuth::user`], taken out of the principal (no copy).
    pub fn into_user(self) -> Result<Account, ApiError> {
        match self.0.caller {
            Caller::User(user) => Ok(user),
            Caller::Client(_) => Err(not_a_user()),
        }
    }
}

fn not_a_user() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        Some("not-a-user"),
        "Not a user",
        "This route is about the signed-in user; a client-credentials token has none.",
    )
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
