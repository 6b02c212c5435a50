//! Sessions: the token pair a login or registration hands out, refresh with
//! reuse detection, logout, and the principal behind a presented access token.

use chrono::Utc;
use secrecy::SecretString;
use uuid::Uuid;

use super::{AccountError, Accounts, AuthError};
use crate::store::{RefreshOutcome, User};
use crate::token::access::{AccessClaims, IssuedAccessToken};
use crate::token::refresh;

/// What a successful login, registration or refresh hands out.
pub struct TokenPair {
    /// The signed access token.
    pub access_token: String,
    /// The new refresh token.
    pub refresh_token: SecretString,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The user behind a verified access token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's account, as stored now (without its password hash).
    pub user: super::Account,
    /// Scopes the token grants that the user still holds.
    pub scopes: Vec<String>,
    /// The token's claims.
    pub claims: AccessClaims,
}

impl Principal {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl Accounts {
    /// Uses up `token` and hands out a new pair in the same family. Presenting a
    /// used-up token revokes its whole family.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, AccountError> {
        if !refresh::looks_valid(token) {
            return Err(AccountError::BadRefreshToken);
        }
        let now = Utc::now();
        let next = refresh::generate();
        let outcome = self
            .store
            .rotate_refresh(
                &refresh::hash(token),
                &next.hash,
                now + self.refresh_ttl,
                now,
            )
            .await?;
        let (user_id, family_id, scope) = match outcome {
            RefreshOutcome::Rotated {
                user_id,
                family_id,
                scope,
            } => (user_id, family_id, scope),
            RefreshOutcome::Reused { user_id, family_id } => {
                self.metrics.refresh_reuse_detected();
                tracing::warn!(target: "audit", event = "refresh_token_reused", user_id = %user_id, family_id = %family_id, "a used-up refresh token was presented again; its family is revoked");
                return Err(AccountError::BadRefreshToken);
            }
            RefreshOutcome::Unknown | RefreshOutcome::Expired | RefreshOutcome::Revoked => {
                return Err(AccountError::BadRefreshToken);
            }
        };
        let user = match self.store.user_by_id(user_id).await? {
            Some(user) if !user.disabled => user,
            _ => {
                self.store.revoke_family_of(&next.hash, now).await?;
                return Err(AccountError::BadRefreshToken);
            }
        };
        // The family keeps the scopes of its login, less any the user lost since.
        let granted: Vec<String> = scope
            .split_ascii_whitespace()
            .filter(|s| user.scopes.iter().any(|u| u == s))
            .map(str::to_owned)
            .collect();
        tracing::info!(target: "audit", event = "token_refreshed", user_id = %user.id, family_id = %family_id);
        let access = self.issue_access(user.id, &granted, now);
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: next.token,
            expires_in: access.expires_in,
            scope: granted.join(" "),
        })
    }

    /// Revokes the family of `token`. Unknown tokens are fine: logout is idempotent.
    pub async fn logout(&self, token: &str) -> Result<(), AccountError> {
        if !refresh::looks_valid(token) {
            return Ok(());
        }
        if self
            .store
            .revoke_family_of(&refresh::hash(token), Utc::now())
            .await?
        {
            tracing::info!(target: "audit", event = "logout");
        }
        Ok(())
    }

    /// Verifies an access token and loads its user, who must still exist and be enabled.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let claims = self
            .tokens
            .verify(&self.keyring.current(), bearer, Utc::now())
            .map_err(|reason| {
                tracing::debug!(%reason, "access token refused");
                AuthError::InvalidToken
            })?;
        self.ensure_not_revoked(&claims).await?;
        let id = Uuid::parse_str(&claims.sub).map_err(|_| AuthError::InvalidToken)?;
        let user = match self.store.user_by_id(id).await {
            Ok(Some(user)) if !user.disabled => user,
            Ok(_) => return Err(AuthError::InvalidToken),
            Err(e) => {
                tracing::error!(error = %e, "database error while authenticating");
                return Err(AuthError::Unavailable);
            }
        };
        let scopes = claims
            .scopes()
            .filter(|s| user.scopes.iter().any(|u| u == s))
            .map(str::to_owned)
            .collect();
        Ok(Principal {
            user: user.into(),
            scopes,
            claims,
        })
    }

    /// Signs an access token with the active key, and counts it.
    pub(super) fn issue_access(
        &self,
        user: Uuid,
        granted: &[String],
        now: chrono::DateTime<Utc>,
    ) -> IssuedAccessToken {
        let keys = self.keyring.current();
        self.metrics.token_issued(keys.active().alg().as_str());
        self.tokens.issue(&keys, user, granted, now)
    }

    pub(super) async fn start_session(
        &self,
        user: &User,
        granted: Vec<String>,
    ) -> Result<TokenPair, AccountError> {
        let now = Utc::now();
        let scope = granted.join(" ");
        let new = refresh::generate();
        self.store
            .create_refresh_family(user.id, &scope, &new.hash, now + self.refresh_ttl)
            .await?;
        let access = self.issue_access(user.id, &granted, now);
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: new.token,
            expires_in: access.expires_in,
            scope,
        })
    }
}
