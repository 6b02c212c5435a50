//! Logging in with a password, and the back-off around it: locks are checked
//! before any hashing, and failures count against the email from this address
//! and against the address.

use std::net::IpAddr;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::{
    AccountError, Accounts, Field, FieldError, TokenPair, client_field, throttle, validate,
};
use crate::password::Verdict;

impl Accounts {
    /// Checks email and password and starts a session, which keeps `client`
    /// and `user_agent` for the user's list of sessions. Unknown email, wrong
    /// password and disabled user cost the same and answer the same.
    /// Failures count against the email from `client` and against `client`.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        scope: Option<&str>,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<TokenPair, AccountError> {
        // Lengths only: a login must not reveal the password policy of old accounts,
        // but nothing longer than any valid value is worth hashing or looking up.
        let mut errors = Vec::new();
        if email.len() > validate::MAX_EMAIL_LEN {
            errors.push(FieldError::new(Field::LoginEmail, "is too long"));
        }
        if password.expose_secret().chars().count() > validate::MAX_PASSWORD_CHARS {
            errors.push(FieldError::new(Field::Password, "is too long"));
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
        let verdict = self
            .hasher
            .verify(
                password,
                stored_hash,
                user.as_ref().is_some_and(|u| !u.disabled),
            )
            .await?;
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
        let granted = self
            .scopes
            .grant(&user.scopes, scope)
            .map_err(AccountError::UnknownScope)?;
        tracing::info!(target: "audit", event = "login_succeeded", user_id = %user.id, client = %client_field(client));
        self.start_session(&user, granted, client, user_agent).await
    }

    /// `Throttled` until the latest end among the running locks of `keys`.
    pub(super) async fn refuse_if_locked(
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
}
