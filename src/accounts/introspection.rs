//! Introspection (RFC 7662): what sigil says about a presented token. A
//! token is active only if sigil would accept it right now: an access token
//! that [`Accounts::authenticate`] accepts (signature, key, issuer, audience,
//! time, not revoked, its user present and enabled), or a refresh token that
//! a refresh would still take (unused, family not revoked, not expired,
//! owner enabled). Anything else is inactive, with no reason given.
//!
//! Who may ask is decided by the HTTP layer (an authenticated confidential
//! client or an administrator's bearer token); the answer does not depend on
//! it.

use chrono::Utc;

use super::revocation::{TokenHint, TokenKind};
use super::{AccountError, Accounts, AuthError};
use crate::token::refresh;

/// What introspection tells about an active token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// Access or refresh token.
    pub kind: TokenKind,
    /// The scopes it grants now, space-separated (those its owner still holds).
    pub scope: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The subject: the user's id.
    pub sub: String,
    /// The user's email, for users' tokens.
    pub username: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before (access tokens).
    pub nbf: Option<i64>,
    /// The issuer.
    pub iss: String,
    /// The audience (access tokens).
    pub aud: Option<String>,
    /// The token's id (access tokens).
    pub jti: Option<String>,
}

impl Accounts {
    /// Introspects `token`: `None` when it is inactive.
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<TokenHint>,
    ) -> Result<Option<ActiveToken>, AccountError> {
        for kind in TokenHint::search_order(hint) {
            let found = match kind {
                TokenKind::Access => self.introspect_access(token).await?,
                TokenKind::Refresh => self.introspect_refresh(token).await?,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn introspect_access(&self, token: &str) -> Result<Option<ActiveToken>, AccountError> {
        let principal = match self.check_issued(token).await {
            Ok(principal) => principal,
            Err(AuthError::InvalidToken) => return Ok(None),
            Err(AuthError::Unavailable) => return Err(AccountError::Unavailable),
        };
        let claims = &principal.claims;
        Ok(Some(ActiveToken {
            kind: TokenKind::Access,
            scope: principal.scopes.join(" "),
            client_id: self.client_of(claims).to_owned(),
            sub: claims.sub.clone(),
            username: principal.user().map(|user| user.email.clone()),
            exp: claims.exp,
            iat: claims.iat,
            nbf: Some(claims.nbf),
            iss: claims.iss.clone(),
            aud: Some(claims.aud.clone()),
            jti: Some(claims.jti.clone()),
        }))
    }

    async fn introspect_refresh(&self, token: &str) -> Result<Option<ActiveToken>, AccountError> {
        if !refresh::looks_valid(token) {
            return Ok(None);
        }
        let Some(state) = self
            .store
            .refresh_token_state(&refresh::hash(token))
            .await?
        else {
            return Ok(None);
        };
        let usable = !state.used
            && !state.family_revoked
            && !state.owner_disabled
            && state.expires_at > Utc::now();
        if !usable {
            return Ok(None);
        }
        let user = match self.store.user_by_id(state.user_id).await? {
            Some(user) if !user.disabled => user,
            _ => return Ok(None),
        };
        // As a refresh would grant: the family's scopes the user still holds.
        let scope: Vec<&str> = state
            .scope
            .split_ascii_whitespace()
            .filter(|s| user.scopes.iter().any(|u| u == s))
            .collect();
        Ok(Some(ActiveToken {
            kind: TokenKind::Refresh,
            scope: scope.join(" "),
            client_id: self.tokens.public_client_id.clone(),
            sub: user.id.to_string(),
            username: Some(user.email),
            exp: state.expires_at.timestamp(),
            iat: state.created_at.timestamp(),
            nbf: None,
            iss: self.tokens.validation.issuer.clone(),
            aud: None,
            jti: None,
        }))
    }
}
