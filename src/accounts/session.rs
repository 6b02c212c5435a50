//! Sessions: the token pair a login or registration hands out, refresh with
//! reuse detection, and logout. (The principal behind a presented access
//! token is `principal`.)

use chrono::Utc;
use secrecy::SecretString;
use uuid::Uuid;

use super::{AccountError, Accounts};
use crate::store::{RefreshOutcome, User};
use crate::token::access::IssuedAccessToken;
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
