//! Who is behind a presented access token: a user, or a confidential client
//! (client-credentials token).
//!
//! The rule: a token whose `client_id` is the public first-party client's
//! (`SIGIL_PUBLIC_CLIENT_ID`), or that has none (issued before the claim
//! existed), is a user's, and its `sub` is the user id; any other `client_id`
//! is a confidential client's, and its `sub` must be that same id. Either
//! way the holder must still exist and be enabled, and the token grants only
//! the scopes it names that the holder still has.

use chrono::Utc;
use uuid::Uuid;

use super::{Account, Accounts, AuthError, Client};
use crate::token::access::AccessClaims;

/// Who presented the token.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A user, through the public client.
    User(Account),
    /// A confidential client, for itself.
    Client(Client),
}

/// The holder of a verified access token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user or client, as stored now.
    pub caller: Caller,
    /// Scopes the token grants that the holder still holds.
    pub scopes: Vec<String>,
    /// The token's claims.
    pub claims: AccessClaims,
}

impl Principal {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The user, for a user's token.
    pub fn user(&self) -> Option<&Account> {
        match &self.caller {
            Caller::User(user) => Some(user),
            Caller::Client(_) => None,
        }
    }

    /// The client, for a client-credentials token.
    pub fn client(&self) -> Option<&Client> {
        match &self.caller {
            Caller::Client(client) => Some(client),
            Caller::User(_) => None,
        }
    }

    /// The user id or client id, for audit events.
    pub fn id(&self) -> String {
        match &self.caller {
            Caller::User(user) => user.id.to_string(),
            Caller::Client(client) => client.id.clone(),
        }
    }
}

impl Accounts {
    /// Verifies an access token and loads its holder, who must still exist
    /// and be enabled.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let now = Utc::now();
        let claims = self
            .tokens
            .verify(&self.keyring.current(), bearer, now)
            .map_err(|reason| {
                tracing::debug!(%reason, "access token refused");
                AuthError::InvalidToken
            })?;
        self.principal(claims, now).await
    }

    /// Whether sigil issued `token` and honours it right now, for
    /// introspection: as [`Accounts::authenticate`], except that a
    /// confidential client's token is for that client's own audience when it
    /// has one (sigil's own routes take only `SIGIL_AUDIENCE`).
    pub async fn check_issued(&self, token: &str) -> Result<Principal, AuthError> {
        let now = Utc::now();
        let claims = self
            .tokens
            .verify_any_audience(&self.keyring.current(), token, now)
            .map_err(|reason| {
                tracing::debug!(%reason, "access token refused");
                AuthError::InvalidToken
            })?;
        let principal = self.principal(claims, now).await?;
        let server = &self.tokens.validation.audience;
        let expected = match &principal.caller {
            Caller::Client(client) => client.audience.as_ref().unwrap_or(server),
            Caller::User(_) => server,
        };
        if &principal.claims.aud != expected {
            tracing::debug!("access token refused: wrong audience");
            return Err(AuthError::InvalidToken);
        }
        Ok(principal)
    }

    /// The holder of verified `claims`, who must still exist and be enabled;
    /// a revoked token has none.
    async fn principal(
        &self,
        claims: AccessClaims,
        now: chrono::DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        let unavailable = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "database error while authenticating");
            AuthError::Unavailable
        };
        let (caller, held) = match claims.client_id.as_deref() {
            Some(client_id) if client_id != self.tokens.public_client_id => {
                if claims.sub != client_id {
                    return Err(AuthError::InvalidToken);
                }
                self.ensure_not_revoked(&claims).await?;
                let client = match self.store.client_by_id(client_id, now).await {
                    Ok(Some(found)) if !found.client.disabled => found.client,
                    Ok(_) => return Err(AuthError::InvalidToken),
                    Err(e) => return Err(unavailable(e)),
                };
                let held = client.scopes.clone();
                (Caller::Client(client), held)
            }
            _ => {
                let id = Uuid::parse_str(&claims.sub).map_err(|_| AuthError::InvalidToken)?;
                // The user and the revocation list in one round trip: this
                // is every `/me` and `/admin/*` request's database read.
                let user = match self.store.user_unless_revoked(id, &claims.jti).await {
                    Ok(Some(user)) if !user.disabled => user,
                    Ok(_) => return Err(AuthError::InvalidToken),
                    Err(e) => return Err(unavailable(e)),
                };
                let held = user.scopes.clone();
                (Caller::User(user.into()), held)
            }
        };
        let scopes = claims
            .scopes()
            .filter(|s| held.iter().any(|h| h == s))
            .map(str::to_owned)
            .collect();
        Ok(Principal {
            caller,
            scopes,
            claims,
        })
    }
}
