//! Access tokens: the claims sigil puts in them (RFC 9068) and the checks every
//! verifier applies — signature and header rules in [`super::jws`], then issuer,
//! audience and time here. Issuing them is the server's job (`token::access`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::VerifyingKey;
use super::jws::{self, JwsError};

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// `typ` values accepted on verification: the short and the full media type.
const ACCEPTED_TYPES: &[&str] = &["at+jwt", "application/at+jwt"];

/// The claims of an access token, as issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: the user id, or for a client-credentials token the client id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The OAuth 2.0 client the token was issued to (RFC 9068 §2.2): the
    /// public first-party client for users' tokens, the confidential client
    /// itself for client-credentials tokens. `None` only for a token issued
    /// before sigil wrote this claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Claims as they may arrive from elsewhere: `aud` may be a string or an array.
#[derive(Deserialize)]
struct ClaimsIn {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    scope: String,
    #[serde(default)]
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// The first audience named that `accept` takes.
    fn find(self, accept: impl Fn(&str) -> bool) -> Option<String> {
        match self {
            Audience::One(a) => accept(&a).then_some(a),
            Audience::Many(all) => all.into_iter().find(|a| accept(a)),
        }
    }
}

/// Why an access token was refused. Logged at debug level only; every variant
/// gets the same `invalid_token` answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Signature or header rule failed.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// Required claims missing or of the wrong type.
    #[error("claims malformed")]
    Claims,
    /// `iss` is not this issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not name this audience.
    #[error("wrong audience")]
    Audience,
    /// Past `exp` (plus leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` or `iat` (minus leeway).
    #[error("not yet valid")]
    NotYetValid,
}

/// The checks a verifier applies beyond the signature: who issued the token,
/// for whom, and when it is valid. Shared by sigil itself and by the
/// downstream verifier (`sigil::verify`).
#[derive(Debug, Clone)]
pub struct Validation {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud` (a string, or one of an array).
    pub audience: String,
    /// Clock leeway on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
}

impl Validation {
    /// Applies every rule of SPEC §3 to `token`, taking the key for its `kid`
    /// from `find_key`, and returns the claims.
    pub fn verify<'k, K: VerifyingKey + ?Sized + 'k>(
        &self,
        token: &str,
        find_key: impl FnOnce(&str) -> Option<&'k K>,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, TokenError> {
        self.verify_audience(token, find_key, now, |aud| aud == self.audience)
    }

    /// [`Validation::verify`] with the audience rule given by `accept`
    /// instead of [`Validation::audience`]: the token must name an audience
    /// `accept` takes, and the claims' `aud` is the first such. For the
    /// issuer itself, which answers for tokens issued to other audiences too
    /// (a confidential client's own audience, at introspection).
    pub fn verify_audience<'k, K: VerifyingKey + ?Sized + 'k>(
        &self,
        token: &str,
        find_key: impl FnOnce(&str) -> Option<&'k K>,
        now: DateTime<Utc>,
        accept: impl Fn(&str) -> bool,
    ) -> Result<AccessClaims, TokenError> {
        let payload = jws::verify(token, find_key, ACCEPTED_TYPES)?;
        let claims: ClaimsIn = serde_json::from_slice(&payload).map_err(|_| TokenError::Claims)?;
        if claims.iss != self.issuer {
            return Err(TokenError::Issuer);
        }
        let Some(aud) = claims.aud.find(accept) else {
            return Err(TokenError::Audience);
        };
        let now = now.timestamp();
        let leeway = self.leeway.as_secs() as i64;
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if claims.nbf.saturating_sub(leeway) > now || claims.iat.saturating_sub(leeway) > now {
            return Err(TokenError::NotYetValid);
        }
        Ok(AccessClaims {
            iss: claims.iss,
            sub: claims.sub,
            aud,
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            jti: claims.jti,
            scope: claims.scope,
            client_id: claims.client_id,
        })
    }
}

impl AccessClaims {
    /// The scopes as a list.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_ascii_whitespace()
    }

    /// Whether `scope` is one of the scopes (compared exactly, as OAuth 2.0
    /// scope tokens are case-sensitive).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|granted| granted == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_held_only_as_a_whole_word() {
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 0,
            iat: 0,
            nbf: 0,
            jti: "j".into(),
            scope: "profile  admin".into(),
            client_id: Some("sigil".into()),
        };
        assert!(claims.has_scope("admin"));
        assert!(claims.has_scope("profile"));
        assert!(!claims.has_scope("adm"));
        assert!(!claims.has_scope("Admin"));
        assert!(!claims.has_scope(""));
    }
}
