//! Accounts: what happens when someone registers, logs in, refreshes, logs out or
//! presents an access token. The one place that ties passwords, tokens, keys and
//! storage together; it knows nothing about HTTP.
//!
//! Audit events (SPEC §6) are emitted here with `target: "audit"`, carrying the
//! user id and never a password, hash or token.
//!
//! One file per story: `register` (new accounts), `login` (passwords and the
//! back-off around them), `session` (tokens handed out, refreshed and
//! revoked; a user's list of sessions), `principal` (who is behind a
//! presented access token, user or client), `admin` (user management),
//! `clients` (confidential clients, their authentication and the
//! client-credentials grant), `revocation` and `introspection` (RFC 7009 and
//! RFC 7662: who may revoke what, revoked access tokens, what a presented
//! token is worth now); `account` is the view of a user
//! that leaves this layer (never its password hash); `error` says what went
//! wrong in the service's own terms (the HTTP layer picks statuses and field
//! names); `throttle`, `scopes` and `validate` are the rules applied.

mod account;
mod admin;
pub mod clients;
mod error;
mod introspection;
mod login;
mod principal;
mod register;
pub mod revocation;
pub mod scopes;
mod session;
pub mod throttle;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::ClientSettings;
use crate::keys::Keyring;
use crate::password::PasswordHasher;
pub use crate::store::Purged;
pub use crate::store::Session;
use crate::store::Store;
use crate::telemetry::client_field;
use crate::telemetry::metrics::Metrics;
use crate::token::access::AccessTokens;
pub use account::{Account, AccountChanges};
pub use clients::{
    AuthenticatedClient, Client, ClientAuthMethod, ClientChanges, ClientCredentials, ClientRequest,
    ClientToken, CreatedClient, RotatedSecret,
};
pub use error::{AccountError, AuthError};
pub use introspection::ActiveToken;
pub use principal::{Caller, Principal};
pub use register::{Registration, create_account};
pub use revocation::{Requester, RevocationError, TokenHint, TokenKind};
pub use session::TokenPair;
use throttle::Throttles;
pub use validate::{Field, FieldError};

/// How long `/readyz` waits for the database to answer.
const READY_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The account service.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    keyring: Arc<Keyring>,
    refresh_ttl: Duration,
    /// How long after a refresh token is used up a repeat gets the same
    /// successor; zero (strict: every repeat is reuse) unless set.
    refresh_reuse_interval: Duration,
    throttles: Throttles,
    metrics: Arc<Metrics>,
    scopes: scopes::Scopes,
    secret_overlap: Duration,
}

impl Accounts {
    /// Wires the service.
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        keyring: Arc<Keyring>,
        refresh_ttl: Duration,
    ) -> Accounts {
        Accounts {
            store,
            hasher,
            tokens,
            keyring,
            refresh_ttl,
            refresh_reuse_interval: Duration::ZERO,
            throttles: Throttles::default(),
            metrics: Arc::new(Metrics::new()),
            scopes: scopes::Scopes::default(),
            secret_overlap: ClientSettings::default().secret_overlap,
        }
    }

    /// Lets a refresh token presented again within `interval` after it was
    /// used up get the same successor (zero: never; every repeat is reuse).
    pub fn with_refresh_reuse_interval(mut self, interval: Duration) -> Accounts {
        self.refresh_reuse_interval = interval;
        self
    }

    /// Grants the declared scopes besides the built-in ones, and lets a
    /// rotated client secret work for the configured overlap.
    pub fn with_clients(mut self, settings: &ClientSettings) -> Accounts {
        self.scopes = scopes::Scopes::new(&settings.scopes);
        self.secret_overlap = settings.secret_overlap;
        self
    }

    /// Every scope sigil grants.
    pub fn scopes(&self) -> &scopes::Scopes {
        &self.scopes
    }

    /// Counts into `metrics` instead of a private registry.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Accounts {
        self.metrics = metrics;
        self
    }

    /// The hashing queue (running, waiting) and its totals, for metrics.
    pub fn hashing_load(&self) -> crate::password::HashingLoad {
        self.hasher.load()
    }

    /// Replaces the back-off policies.
    pub fn with_throttles(mut self, throttles: Throttles) -> Accounts {
        self.throttles = throttles;
        self
    }

    /// The access-token settings (issuer, audience, lifetime).
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// Deletes refresh families expired for over an hour, throttle
    /// counters quiet for longer than their window and revocations of access
    /// tokens expired for over an hour: none can decide an answer any more.
    /// Returns what was deleted.
    pub async fn purge_expired(&self) -> Result<Purged, AccountError> {
        let now = Utc::now();
        let margin = chrono::TimeDelta::hours(1);
        let window = chrono::TimeDelta::from_std(self.throttles.longest_window())
            .unwrap_or(chrono::TimeDelta::MAX);
        let quiet_since = now.checked_sub_signed(window).unwrap_or(now);
        Ok(self
            .store
            .purge_expired(now - margin, now, quiet_since)
            .await?)
    }

    /// Whether the database answers and a signing key is loaded.
    pub async fn ready(&self) -> bool {
        // A load balancer's probe gives up after a second or two; a database
        // that cannot answer a ping by then is not ready, whatever the pool's
        // own (longer) wait for a connection.
        let ping = tokio::time::timeout(READY_PING_TIMEOUT, self.store.ping());
        matches!(ping.await, Ok(Ok(())))
    }

    /// Number of users (for first-start bootstrap).
    pub async fn user_count(&self) -> Result<u64, AccountError> {
        Ok(self.store.count_users().await?)
    }
}
