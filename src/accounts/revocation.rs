//! Revocation (RFC 7009): who may revoke which token, and what revoking does.
//!
//! A refresh token's whole family is revoked, as at logout. An access token's
//! `jti` is recorded until the token's own `exp`, and
//! [`Accounts::authenticate`] refuses it from then on (for users' tokens in
//! the same query that reads the user, `Store::user_unless_revoked`; for
//! clients' tokens through `ensure_not_revoked`) on every instance sharing
//! the database; introspection too, since it goes through the same check. Offline verifiers elsewhere cannot know: that is
//! why access tokens are short-lived.
//!
//! The ownership rule ([`may_revoke`]): an administrator may revoke any
//! token; a confidential client only its own (an access token's `client_id`);
//! a caller without client authentication acts as the public first-party
//! client and may revoke only refresh tokens, which all belong to it.

use chrono::{DateTime, Utc};

use super::{AccountError, Accounts, AuthError};
use crate::token::access::AccessClaims;
use crate::token::refresh;

/// Who asks to revoke or introspect a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// No client authentication: the public first-party client, or anyone.
    Public,
    /// An authenticated confidential client, by its `client_id`.
    Client(String),
    /// A bearer access token with the `admin` scope.
    Admin,
}

/// What the caller says the token is (`token_type_hint`); only an ordering
/// of the search, never a limit on it (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenHint {
    /// The hint named `value`; `None` for any other value, which is ignored
    /// like no hint at all (sigil tells its token kinds apart itself).
    pub fn parse(value: &str) -> Option<TokenHint> {
        match value {
            "access_token" => Some(TokenHint::AccessToken),
            "refresh_token" => Some(TokenHint::RefreshToken),
            _ => None,
        }
    }

    /// The kinds to try, the hinted one first.
    pub(super) fn search_order(hint: Option<TokenHint>) -> [TokenKind; 2] {
        match hint {
            Some(TokenHint::AccessToken) => [TokenKind::Access, TokenKind::Refresh],
            _ => [TokenKind::Refresh, TokenKind::Access],
        }
    }
}

/// The two kinds of token sigil issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A signed access token (JWS).
    Access,
    /// An opaque refresh token.
    Refresh,
}

/// Why a revocation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// An access token presented without client authentication.
    #[error("client authentication is required to revoke an access token")]
    ClientAuthenticationRequired,
    /// The token was issued to another client.
    #[error("the token was issued to another client")]
    NotOwner,
    /// The service failed; already logged.
    #[error(transparent)]
    Account(#[from] AccountError),
}

/// The ownership rule: may `caller` revoke a token of `kind` issued to the
/// client `owner`? Every refresh token belongs to the public first-party
/// client (`SIGIL_PUBLIC_CLIENT_ID`), which does not authenticate.
pub fn may_revoke(caller: &Requester, kind: TokenKind, owner: &str) -> Result<(), RevocationError> {
    match caller {
        Requester::Admin => Ok(()),
        Requester::Client(id) if id == owner => Ok(()),
        Requester::Client(_) => Err(RevocationError::NotOwner),
        Requester::Public => match kind {
            TokenKind::Access => Err(RevocationError::ClientAuthenticationRequired),
            TokenKind::Refresh => Ok(()),
        },
    }
}

impl Accounts {
    /// The client an access token was issued to: its `client_id`, or the
    /// public client for tokens issued before sigil wrote that claim.
    pub(super) fn client_of<'c>(&'c self, claims: &'c AccessClaims) -> &'c str {
        claims
            .client_id
            .as_deref()
            .unwrap_or(&self.tokens.public_client_id)
    }

    /// Revokes `token` for `caller` (RFC 7009 §2.1). An unknown, malformed
    /// or expired token is not an error: there is nothing to revoke.
    pub async fn revoke(
        &self,
        caller: &Requester,
        token: &str,
        hint: Option<TokenHint>,
    ) -> Result<(), RevocationError> {
        let now = Utc::now();
        for kind in TokenHint::search_order(hint) {
            let revoked = match kind {
                TokenKind::Refresh => self.revoke_refresh(caller, token, now).await?,
                TokenKind::Access => self.revoke_access(caller, token, now).await?,
            };
            if revoked {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Revokes the family of `token` if it is a stored refresh token;
    /// returns whether it was one.
    async fn revoke_refresh(
        &self,
        caller: &Requester,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RevocationError> {
        if !refresh::looks_valid(token) {
            return Ok(false);
        }
        let hash = refresh::hash(token);
        let Some(state) = self
            .store
            .refresh_token_state(&hash)
            .await
            .map_err(AccountError::from)?
        else {
            return Ok(false);
        };
        may_revoke(caller, TokenKind::Refresh, &self.tokens.public_client_id)?;
        self.store
            .revoke_family_of(&hash, now)
            .await
            .map_err(AccountError::from)?;
        tracing::info!(target: "audit", event = "refresh_token_revoked", user_id = %state.user_id, family_id = %state.family_id, caller = ?caller);
        Ok(true)
    }

    /// Records `token` as revoked if it is an access token sigil would
    /// accept now (signature, key, issuer, time; for any audience it issued to),
    /// returns whether
    /// it was one.
    async fn revoke_access(
        &self,
        caller: &Requester,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RevocationError> {
        let keys = self.keyring.current();
        let Ok(claims) = self.tokens.verify_any_audience(&keys, token, now) else {
            return Ok(false);
        };
        may_revoke(caller, TokenKind::Access, self.client_of(&claims))?;
        let expires_at =
            DateTime::from_timestamp(claims.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.store
            .revoke_access_token(&claims.jti, expires_at)
            .await
            .map_err(AccountError::from)?;
        tracing::info!(target: "audit", event = "access_token_revoked", user_id = %claims.sub, jti = %claims.jti, caller = ?caller);
        Ok(true)
    }

    /// Refuses an access token whose `jti` was revoked. One query on the
    /// shared database, so a revocation on one instance holds on all.
    pub(super) async fn ensure_not_revoked(&self, claims: &AccessClaims) -> Result<(), AuthError> {
        match self.store.is_access_token_revoked(&claims.jti).await {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::debug!("access token refused: revoked");
                Err(AuthError::InvalidToken)
            }
            Err(e) => {
                tracing::error!(error = %e, "database error while checking revocations");
                Err(AuthError::Unavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC_CLIENT_ID: &str = "sigil";
    const OTHER: &str = "orders-service";

    #[test]
    fn an_administrator_may_revoke_every_token() {
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            for owner in [PUBLIC_CLIENT_ID, OTHER] {
                assert!(may_revoke(&Requester::Admin, kind, owner).is_ok());
            }
        }
    }

    #[test]
    fn a_client_may_revoke_its_own_tokens_and_no_one_elses() {
        let me = Requester::Client(OTHER.to_owned());
        assert!(may_revoke(&me, TokenKind::Access, OTHER).is_ok());
        assert!(matches!(
            may_revoke(&me, TokenKind::Access, "billing"),
            Err(RevocationError::NotOwner)
        ));
        assert!(matches!(
            may_revoke(&me, TokenKind::Refresh, PUBLIC_CLIENT_ID),
            Err(RevocationError::NotOwner)
        ));
    }

    #[test]
    fn without_client_authentication_only_refresh_tokens_can_be_revoked() {
        assert!(may_revoke(&Requester::Public, TokenKind::Refresh, PUBLIC_CLIENT_ID).is_ok());
        assert!(matches!(
            may_revoke(&Requester::Public, TokenKind::Access, PUBLIC_CLIENT_ID),
            Err(RevocationError::ClientAuthenticationRequired)
        ));
        assert!(matches!(
            may_revoke(&Requester::Public, TokenKind::Access, OTHER),
            Err(RevocationError::ClientAuthenticationRequired)
        ));
    }

    #[test]
    fn a_hint_orders_the_search_and_an_unknown_hint_is_ignored() {
        assert_eq!(
            TokenHint::parse("access_token"),
            Some(TokenHint::AccessToken)
        );
        assert_eq!(
            TokenHint::parse("refresh_token"),
            Some(TokenHint::RefreshToken)
        );
        assert_eq!(TokenHint::parse("Access_Token"), None);
        assert_eq!(
            TokenHint::search_order(Some(TokenHint::AccessToken)),
            [TokenKind::Access, TokenKind::Refresh]
        );
        assert_eq!(
            TokenHint::search_order(None),
            [TokenKind::Refresh, TokenKind::Access]
        );
    }
}
