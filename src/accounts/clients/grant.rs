//! Client authentication and the client-credentials grant (RFC 6749 §4.4).
//!
//! A lock on the client's address is checked before any work; then the
//! client is looked up and the secret's hash compared (see `secret`), the
//! same work whether the id is unknown, the secret wrong or the client
//! disabled, and all three answer the same. Each failure counts against the
//! address like a failed login (`throttle`).

use std::net::IpAddr;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::Client;
use super::secret::{self, MAX_CLIENT_ID_LEN};
use crate::accounts::{AccountError, Accounts, client_field, throttle};

/// How the client presented its credentials (RFC 7591 §2 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic (`client_secret_basic`).
    Basic,
    /// `client_id` and `client_secret` in the form (`client_secret_post`).
    Post,
}

impl ClientAuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::Basic => "client_secret_basic",
            ClientAuthMethod::Post => "client_secret_post",
        }
    }
}

/// A client id and secret as presented, already decoded.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The claimed client id.
    pub client_id: String,
    /// The presented secret; `Debug` prints `[REDACTED]`.
    pub secret: SecretString,
    /// Where they came from.
    pub method: ClientAuthMethod,
}

/// A client whose secret matched and which is enabled.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The client as stored now.
    pub client: Client,
    /// How it authenticated.
    pub method: ClientAuthMethod,
}

/// What the client-credentials grant hands out: an access token, no refresh token.
pub struct ClientToken {
    /// The signed access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientToken")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Authenticates a confidential client: an unknown id, a wrong or expired
    /// secret and a disabled client all cost the same and all answer
    /// [`AccountError::BadClient`]; each counts against `client_addr`, and a
    /// locked address gets [`AccountError::Throttled`] before any work.
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        client_addr: Option<IpAddr>,
    ) -> Result<AuthenticatedClient, AccountError> {
        let address_key = throttle::client_address_key(client_addr);
        let now = Utc::now();
        // An over-long id is looked up as "", which no client has: the
        // lock is still read, and the answer costs the same.
        let id = if creds.client_id.len() <= MAX_CLIENT_ID_LEN {
            creds.client_id.as_str()
        } else {
            ""
        };
        let (found, locked_until) = self
            .store
            .client_for_authentication(id, &address_key, now)
            .await?;
        if let Some(until) = locked_until {
            return Err(AccountError::Throttled {
                retry_after: throttle::seconds_until(until, now),
            });
        }
        let presented = secret::hash(creds.secret.expose_secret());
        let matched = secret::matches(
            &presented,
            found.as_ref().map(|c| c.secret_hashes.as_slice()),
        );
        match found {
            Some(found) if matched && !found.client.disabled => Ok(AuthenticatedClient {
                client: found.client,
                method: creds.method,
            }),
            found => {
                let client_id = found.as_ref().map_or("unknown", |c| c.client.id.as_str());
                let disabled = found.as_ref().is_some_and(|c| c.client.disabled);
                tracing::info!(target: "audit", event = "client_authentication_failed", client_id = %client_id, client = %client_field(client_addr), method = creds.method.as_str(), disabled);
                self.metrics.login_failed("bad_client");
                let store = self.store.as_ref();
                if let Some(until) =
                    throttle::record(store, &self.throttles.clients, &address_key, now).await?
                {
                    tracing::warn!(target: "audit", event = "client_authentication_locked", client = %client_field(client_addr), retry_after = throttle::seconds_until(until, now), "repeated failed client authentications; further attempts wait");
                }
                Err(AccountError::BadClient)
            }
        }
    }

    /// The client-credentials grant: authenticates the client and issues an
    /// access token with `sub` = `client_id` = the client's id, its scopes
    /// (narrowed to `scope` when given, which must be a subset) and its
    /// audience. No refresh token: the client authenticates again instead.
    pub async fn client_credentials_grant(
        &self,
        creds: &ClientCredentials,
        scope: Option<&str>,
        client_addr: Option<IpAddr>,
    ) -> Result<ClientToken, AccountError> {
        let AuthenticatedClient { client, method } =
            self.authenticate_client(creds, client_addr).await?;
        // Scopes the operator no longer declares are not granted.
        let held: Vec<String> = client
            .scopes
            .iter()
            .filter(|s| self.scopes.is_known(s))
            .cloned()
            .collect();
        let granted = self
            .scopes
            .grant(&held, scope)
            .map_err(AccountError::UnknownScope)?;
        let mut requested = scope.map(str::split_ascii_whitespace).into_iter().flatten();
        if let Some(missing) = requested.find(|s| !held.iter().any(|h| h == s)) {
            return Err(AccountError::ScopeNotAllowed(
                missing.chars().take(64).collect(),
            ));
        }
        let now = Utc::now();
        let keys = self.keyring.current();
        self.metrics.token_issued(keys.active().alg().as_str());
        let access = self.tokens.issue_for_client(
            &keys,
            &client.id,
            client.audience.as_deref(),
            &granted,
            now,
        );
        tracing::info!(target: "audit", event = "client_token_issued", client_id = %client.id, client = %client_field(client_addr), method = method.as_str(), scope = %access.claims.scope);
        Ok(ClientToken {
            access_token: access.token,
            expires_in: access.expires_in,
            scope: granted.join(" "),
        })
    }
}
