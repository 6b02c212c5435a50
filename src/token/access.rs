//! Access tokens as sigil issues them. The claims and the checks every
//! verifier applies live in [`crate::jose::access`] (re-exported here);
//! issuing needs the server's key set, so it stays here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crate::jose::access::{ACCESS_TOKEN_TYPE, AccessClaims, TokenError, Validation};
use crate::jose::jws;
use crate::keys::KeySet;

/// A freshly issued access token.
pub struct IssuedAccessToken {
    /// The compact JWS.
    pub token: String,
    /// Lifetime in seconds, for `expires_in`.
    pub expires_in: u64,
    /// The claims inside.
    pub claims: AccessClaims,
}

impl std::fmt::Debug for IssuedAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedAccessToken")
            .field("token", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

/// Issues and verifies sigil's own access tokens.
#[derive(Debug, Clone)]
pub struct AccessTokens {
    /// Issuer, audience and leeway.
    pub validation: Validation,
    /// Lifetime of issued tokens.
    pub ttl: Duration,
    /// `client_id` of users' tokens: the public first-party client
    /// (`SIGIL_PUBLIC_CLIENT_ID`).
    pub public_client_id: String,
}

impl AccessTokens {
    /// Signs a token for `user` with `scopes` using the set's active key;
    /// its `client_id` is the public client's.
    pub fn issue(
        &self,
        keys: &KeySet,
        user: Uuid,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> IssuedAccessToken {
        let subject = user.to_string();
        self.sign(keys, subject, &self.public_client_id, None, scopes, now)
    }

    /// Signs a client-credentials token: `sub` and `client_id` are the
    /// client's id, `aud` its own audience when it has one.
    pub fn issue_for_client(
        &self,
        keys: &KeySet,
        client_id: &str,
        audience: Option<&str>,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> IssuedAccessToken {
        let subject = client_id.to_owned();
        self.sign(keys, subject, client_id, audience, scopes, now)
    }

    fn sign(
        &self,
        keys: &KeySet,
        sub: String,
        client_id: &str,
        audience: Option<&str>,
        scopes: &[String],
        now: DateTime<Utc>,
    ) -> IssuedAccessToken {
        let iat = now.timestamp();
        let ttl = self.ttl.as_secs();
        let claims = AccessClaims {
            iss: self.validation.issuer.clone(),
            sub,
            aud: audience.map_or_else(|| self.validation.audience.clone(), str::to_owned),
            exp: iat + ttl as i64,
            iat,
            nbf: iat,
            jti: Uuid::new_v4().to_string(),
            scope: scopes.join(" "),
            client_id: Some(client_id.to_owned()),
        };
        let token = jws::sign(keys.active(), ACCESS_TOKEN_TYPE, &claims);
        IssuedAccessToken {
            token,
            expires_in: ttl,
            claims,
        }
    }

    /// Verifies one of sigil's tokens against any key of `keys`.
    pub fn verify(
        &self,
        keys: &KeySet,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, TokenError> {
        self.validation.verify(token, |kid| keys.by_kid(kid), now)
    }

    /// Verifies one of sigil's tokens as [`AccessTokens::verify`] does, but
    /// for any audience: sigil issues a confidential client's tokens for
    /// that client's own audience, and answers for them at introspection and
    /// revocation. The caller checks `aud` against what it expects.
    pub fn verify_any_audience(
        &self,
        keys: &KeySet,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, TokenError> {
        self.validation
            .verify_audience(token, |kid| keys.by_kid(kid), now, |_| true)
    }
}
