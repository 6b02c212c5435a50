//! Sessions: the token pair a login or registration hands out, refresh with
//! reuse detection and the reuse interval, logout, a user's list of sessions
//! and the end of one. (The principal behind a presented access token is
//! `principal`.)
//!
//! A session is one refresh family: started by a login or registration,
//! carried on by each refresh, ended by logout, reuse, its owner (from the
//! list) or expiry.

use std::net::IpAddr;

use chrono::Utc;
use secrecy::SecretString;
use uuid::Uuid;

use super::{AccountError, Accounts};
use crate::store::{RefreshOutcome, Session, SessionOrigin, Successor, User};
use crate::token::access::IssuedAccessToken;
use crate::token::refresh;

/// Longest `User-Agent` kept with a session, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;

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
    /// used-up token again within the reuse interval hands out the same new
    /// refresh token (with a fresh access token); after it, or once that new
    /// token was used in turn, it revokes the whole family.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, AccountError> {
        if !refresh::looks_valid(token) {
            return Err(AccountError::BadRefreshToken);
        }
        let now = Utc::now();
        let presented = refresh::hash(token);
        let next = refresh::generate();
        let repeats = !self.refresh_reuse_interval.is_zero();
        let sealed = repeats.then(|| refresh::seal_successor(token, &next.token, &presented));
        let successor = Successor {
            hash: &next.hash,
            expires_at: now + self.refresh_ttl,
            sealed: sealed.as_deref(),
        };
        let outcome = self
            .store
            .rotate_refresh(&presented, successor, now, self.refresh_reuse_interval)
            .await?;
        let (user_id, family_id, scope, refresh_token) = match outcome {
            RefreshOutcome::Rotated {
                user_id,
                family_id,
                scope,
            } => (user_id, family_id, scope, next.token),
            RefreshOutcome::Repeated {
                user_id,
                family_id,
                scope,
                sealed_successor,
            } => {
                let Some(successor) =
                    refresh::open_successor(token, &sealed_successor.0, &presented)
                else {
                    tracing::error!(user_id = %user_id, family_id = %family_id, "the sealed successor of a refresh token does not open");
                    return Err(AccountError::BadRefreshToken);
                };
                tracing::info!(target: "audit", event = "refresh_token_repeated", user_id = %user_id, family_id = %family_id, "a refresh token was presented again within the reuse interval; the same successor is handed out");
                (user_id, family_id, scope, successor)
            }
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
                self.store.revoke_family_of(&presented, now).await?;
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
            refresh_token,
            expires_in: access.expires_in,
            scope: granted.join(" "),
        })
    }

    /// Revokes the family of `token`. Unknown tokens are fine: logout is
    /// idempotent, and logs no event since it ended nobody's session.
    pub async fn logout(&self, token: &str) -> Result<(), AccountError> {
        if !refresh::looks_valid(token) {
            return Ok(());
        }
        let presented = refresh::hash(token);
        // Read first, as RFC 7009 revocation does, for the owner the audit
        // event names; the revocation below re-reads under its own lock.
        let Some(state) = self.store.refresh_token_state(&presented).await? else {
            return Ok(());
        };
        if self.store.revoke_family_of(&presented, Utc::now()).await? {
            tracing::info!(target: "audit", event = "logout", user_id = %state.user_id, family_id = %state.family_id);
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

    /// Starts a session (a refresh family) for `user` from `client` with the
    /// `User-Agent` `user_agent`, and hands out its first pair.
    pub(super) async fn start_session(
        &self,
        user: &User,
        granted: Vec<String>,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<TokenPair, AccountError> {
        let now = Utc::now();
        let scope = granted.join(" ");
        let new = refresh::generate();
        let origin = SessionOrigin {
            user_agent: user_agent.and_then(clean_user_agent),
            client_addr: client.map(|ip| ip.to_string()),
        };
        self.store
            .create_refresh_family(user.id, &scope, &new.hash, now + self.refresh_ttl, &origin)
            .await?;
        let access = self.issue_access(user.id, &granted, now);
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: new.token,
            expires_in: access.expires_in,
            scope,
        })
    }

    /// The live sessions of `user_id`: not revoked, not expired (each still
    /// holds a refresh token that works), most recently used first.
    pub async fn sessions(&self, user_id: Uuid) -> Result<Vec<Session>, AccountError> {
        Ok(self.store.list_sessions(user_id, Utc::now()).await?)
    }

    /// Ends the session `session_id` of `user_id`: its refresh tokens stop
    /// working at once. `false` when `user_id` has no such live session
    /// (another user's, unknown, already ended or expired).
    pub async fn end_session(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, AccountError> {
        let ended = self
            .store
            .revoke_session(user_id, session_id, Utc::now())
            .await?;
        if ended {
            tracing::info!(target: "audit", event = "session_revoked", user_id = %user_id, family_id = %session_id);
        }
        Ok(ended)
    }
}

/// A `User-Agent` as kept with a session: control characters dropped,
/// surrounding space trimmed, at most [`MAX_USER_AGENT_CHARS`] characters;
/// `None` when nothing is left.
pub fn clean_user_agent(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_loses_control_characters_and_is_cut_to_256_characters() {
        assert_eq!(
            clean_user_agent(" Mozilla/5.0\r\n(X11)\u{1b}[31m\u{7f} ").as_deref(),
            Some("Mozilla/5.0(X11)[31m")
        );
        let long = "é".repeat(1000);
        let kept = clean_user_agent(&long).unwrap();
        assert_eq!(kept.chars().count(), MAX_USER_AGENT_CHARS);
        assert_eq!(clean_user_agent("\t\n\u{0}  "), None);
        assert_eq!(clean_user_agent(""), None);
    }
}
