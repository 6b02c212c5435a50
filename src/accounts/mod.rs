//! Accounts: what happens when someone registers, logs in, refreshes, logs out or
//! presents an access token. The one place that ties passwords, tokens, keys and
//! storage together; it knows nothing about HTTP.
//!
//! Audit events (SPEC §6) are emitted here with `target: "audit"`, carrying the
//! user id and never a password, hash or token.

pub mod scopes;
pub mod throttle;
pub mod validate;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::keys::Keyring;
use crate::password::{HashError, PasswordHasher, Verdict};
use crate::store::{NewUser, RefreshOutcome, Store, StoreError, User, UserPatch};
use crate::telemetry::metrics::Metrics;
use crate::token::access::{AccessClaims, AccessTokens};
use crate::token::refresh;
use throttle::Throttles;
pub use validate::FieldError;

/// How long `/readyz` waits for the database to answer.
const READY_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Why an account operation failed; the HTTP layer maps each to one status.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// One or more fields are invalid (422).
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The email is registered already, in any letter case (409).
    #[error("email already registered")]
    EmailTaken,
    /// Unknown email, wrong password or disabled user: one answer for all (401).
    #[error("invalid credentials")]
    BadCredentials,
    /// Unknown, used-up, revoked or expired refresh token (401).
    #[error("invalid refresh token")]
    BadRefreshToken,
    /// Too many failed logins or registrations from this source: wait
    /// `retry_after` seconds (429).
    #[error("too many attempts")]
    Throttled {
        /// Seconds until the lock ends.
        retry_after: u64,
    },
    /// A requested scope does not exist (400 `invalid_scope`).
    #[error("unknown scope")]
    UnknownScope(String),
    /// No such user (404).
    #[error("no such user")]
    NoSuchUser,
    /// The change would take the acting administrator's own admin rights
    /// away, or disable them (409).
    #[error("an administrator cannot demote or disable themselves")]
    SelfLockout,
    /// The hashing queue is full (503 + Retry-After).
    #[error("busy")]
    Busy,
    /// The database cannot be reached (503).
    #[error("database unavailable")]
    Unavailable,
    /// Anything else; already logged in full (500).
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => AccountError::EmailTaken,
            StoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "database unavailable");
                AccountError::Unavailable
            }
            StoreError::Other(cause) => {
                tracing::error!(error = %cause, "database error");
                AccountError::Internal
            }
        }
    }
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AccountError::Busy,
            HashError::Failed(cause) => {
                tracing::error!(error = %cause, "password hashing failed");
                AccountError::Internal
            }
        }
    }
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad token, or its user is gone or disabled (401 `invalid_token`).
    #[error("invalid token")]
    InvalidToken,
    /// The database cannot be reached (503).
    #[error("database unavailable")]
    Unavailable,
}

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
    /// The user, as stored now.
    pub user: User,
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

/// Input of a registration, before validation.
pub struct Registration {
    /// Email, any case.
    pub email: String,
    /// Password, 8–128 characters.
    pub password: SecretString,
    /// Display name.
    pub name: String,
}

/// Checks every field of a registration; the normalised email and name.
fn check_registration(input: &Registration) -> Result<(String, String), AccountError> {
    let mut errors = Vec::new();
    let email = validate::email(&input.email, &mut errors);
    validate::password(input.password.expose_secret(), &mut errors);
    let name = validate::name(&input.name, &mut errors);
    if errors.is_empty() {
        Ok((email, name))
    } else {
        Err(AccountError::Invalid(errors))
    }
}

/// A client address for audit events: the address, or `-` when none is known
/// (the command line, the first-start bootstrap).
pub fn client_field(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "-".to_owned(), |ip| ip.to_canonical().to_string())
}

/// Creates an account with `scopes` after validating every field. Used by
/// registration, the first-start bootstrap and `sigil users create`.
pub async fn create_account(
    store: &dyn Store,
    hasher: &PasswordHasher,
    input: Registration,
    scopes: &[&str],
) -> Result<User, AccountError> {
    create_account_from(store, hasher, input, scopes, None).await
}

async fn create_account_from(
    store: &dyn Store,
    hasher: &PasswordHasher,
    input: Registration,
    scopes: &[&str],
    client: Option<IpAddr>,
) -> Result<User, AccountError> {
    let (email, name) = check_registration(&input)?;
    let password_hash = hasher.hash(input.password).await?;
    let user = store
        .create_user(NewUser {
            email,
            name,
            password_hash,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
        .await?;
    tracing::info!(target: "audit", event = "user_registered", user_id = %user.id, client = %client_field(client), scopes = %user.scopes.join(" "));
    Ok(user)
}

/// The account service.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: AccessTokens,
    keyring: Arc<Keyring>,
    refresh_ttl: Duration,
    throttles: Throttles,
    metrics: Arc<Metrics>,
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
            throttles: Throttles::default(),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Counts into `metrics` instead of a private registry.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Accounts {
        self.metrics = metrics;
        self
    }

    /// Password hashes (running, waiting for a worker), for metrics.
    pub fn hashing_load(&self) -> (usize, usize) {
        let running = self.hasher.running();
        (running, self.hasher.in_flight().saturating_sub(running))
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

    /// Creates an account with `scopes` after validating every field.
    pub async fn create_user(
        &self,
        input: Registration,
        scopes: &[&str],
    ) -> Result<User, AccountError> {
        create_account(self.store.as_ref(), &self.hasher, input, scopes).await
    }

    /// Registers a user with the default scopes and logs them in. Each
    /// registration that gets as far as hashing counts against `client`.
    pub async fn register(
        &self,
        input: Registration,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, AccountError> {
        check_registration(&input)?;
        let key = throttle::registration_key(client);
        let now = Utc::now();
        self.refuse_if_locked(&[&key], now).await?;
        if let Some(until) = throttle::record(
            self.store.as_ref(),
            &self.throttles.registrations,
            &key,
            now,
        )
        .await?
        {
            tracing::warn!(target: "audit", event = "registrations_throttled", client = %client_field(client), retry_after = throttle::seconds_until(until, now), "many registrations from one source; further ones wait");
        }
        let user = create_account_from(
            self.store.as_ref(),
            &self.hasher,
            input,
            scopes::DEFAULT_SCOPES,
            client,
        )
        .await?;
        self.start_session(&user, user.scopes.clone()).await
    }

    /// 429 with the latest end among the running locks of `keys`.
    async fn refuse_if_locked(
        &self,
        keys: &[&str],
        now: chrono::DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let mut latest = None;
        for key in keys {
            if let Some(until) = self.store.throttle_locked_until(key, now).await? {
                latest = latest.max(Some(until));
            }
        }
        match latest {
            Some(until) => Err(AccountError::Throttled {
                retry_after: throttle::seconds_until(until, now),
            }),
            None => Ok(()),
        }
    }

    /// Checks email and password and starts a session. Unknown email, wrong
    /// password and disabled user cost the same and answer the same.
    /// Failures count against the email from `client` and against `client`.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        scope: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<TokenPair, AccountError> {
        // Lengths only: a login must not reveal the password policy of old accounts,
        // but nothing longer than any valid value is worth hashing or looking up.
        let mut errors = Vec::new();
        if email.len() > validate::MAX_EMAIL_LEN {
            errors.push(FieldError {
                field: "username",
                message: "is too long".into(),
            });
        }
        if password.expose_secret().chars().count() > validate::MAX_PASSWORD_CHARS {
            errors.push(FieldError {
                field: "password",
                message: "is too long".into(),
            });
        }
        if !errors.is_empty() {
            return Err(AccountError::Invalid(errors));
        }
        // A lock is enforced before any hashing: it must cost the attacker
        // time without costing us CPU.
        let account_key = throttle::account_key(email, client);
        let address_key = throttle::address_key(client);
        if let Err(e) = self
            .refuse_if_locked(&[&account_key, &address_key], Utc::now())
            .await
        {
            if matches!(e, AccountError::Throttled { .. }) {
                self.metrics.login_failed("throttled");
            }
            return Err(e);
        }
        let user = self.store.user_by_email(email.trim()).await?;
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        let verdict = self.hasher.verify(password, stored_hash).await?;
        let user = match (verdict, user) {
            (Verdict::Match { upgraded_hash }, Some(user)) if !user.disabled => {
                if let Some(hash) = upgraded_hash {
                    self.store.set_password_hash(user.id, &hash).await?;
                    tracing::info!(target: "audit", event = "password_hash_upgraded", user_id = %user.id);
                }
                user
            }
            (_, user) => {
                let user_id = user
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), |u| u.id.to_string());
                let disabled = user.as_ref().is_some_and(|u| u.disabled);
                tracing::info!(target: "audit", event = "login_failed", user_id = %user_id, client = %client_field(client), disabled);
                self.metrics.login_failed("bad_credentials");
                self.count_login_failure(&account_key, &address_key, &user_id, client)
                    .await?;
                return Err(AccountError::BadCredentials);
            }
        };
        self.store.clear_throttle(&account_key).await?;
        let granted = scopes::grant(&user.scopes, scope).map_err(AccountError::UnknownScope)?;
        tracing::info!(target: "audit", event = "login_succeeded", user_id = %user.id, client = %client_field(client));
        self.start_session(&user, granted).await
    }

    /// Counts a failed login against the email from this source and against
    /// the source; logs when either starts a lock.
    async fn count_login_failure(
        &self,
        account_key: &str,
        address_key: &str,
        user_id: &str,
        client: Option<IpAddr>,
    ) -> Result<(), AccountError> {
        let now = Utc::now();
        let store = self.store.as_ref();
        for (scope, policy, key) in [
            ("account", &self.throttles.account, account_key),
            ("address", &self.throttles.address, address_key),
        ] {
            if let Some(until) = throttle::record(store, policy, key, now).await? {
                tracing::warn!(target: "audit", event = "login_locked", lock = scope, user_id = %user_id, client = %client_field(client), retry_after = throttle::seconds_until(until, now), "repeated failed logins; further attempts wait");
            }
        }
        Ok(())
    }

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
            user,
            scopes,
            claims,
        })
    }

    /// One page of users, oldest first.
    pub async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<User>, AccountError> {
        Ok(self.store.list_users(limit, offset).await?)
    }

    /// Changes a user's scopes or disabled flag; disabling revokes their refresh tokens.
    pub async fn update_user(
        &self,
        admin: &Principal,
        id: Uuid,
        patch: UserPatch,
    ) -> Result<User, AccountError> {
        if let Some(scopes) = &patch.scopes
            && let Some(unknown) = scopes.iter().find(|s| !scopes::is_known(s))
        {
            return Err(AccountError::Invalid(vec![FieldError {
                field: "scopes",
                message: format!(
                    "unknown scope {:?}",
                    unknown.chars().take(64).collect::<String>()
                ),
            }]));
        }
        if id == admin.user.id {
            let demotes = patch
                .scopes
                .as_ref()
                .is_some_and(|s| !s.iter().any(|s| s == scopes::ADMIN));
            if demotes || patch.disabled == Some(true) {
                return Err(AccountError::SelfLockout);
            }
        }
        let user = self
            .store
            .update_user(id, patch)
            .await?
            .ok_or(AccountError::NoSuchUser)?;
        tracing::info!(target: "audit", event = "user_updated", admin_id = %admin.user.id, user_id = %user.id, scopes = %user.scopes.join(" "), disabled = user.disabled);
        Ok(user)
    }

    /// Deletes refresh families expired for over an hour and throttle
    /// counters quiet for longer than their window: neither can decide an
    /// answer any more. Returns what was deleted.
    pub async fn purge_expired(&self) -> Result<crate::store::Purged, AccountError> {
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

    /// Signs an access token with the active key, and counts it.
    fn issue_access(
        &self,
        user: Uuid,
        granted: &[String],
        now: chrono::DateTime<Utc>,
    ) -> crate::token::access::IssuedAccessToken {
        let keys = self.keyring.current();
        self.metrics.token_issued(keys.active().alg().as_str());
        self.tokens.issue(&keys, user, granted, now)
    }

    async fn start_session(
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
