//! New accounts: the rules every field must pass, and registration, which
//! counts against the client's address before it costs a hash.

use std::net::IpAddr;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::{Account, AccountError, Accounts, TokenPair, client_field, scopes, throttle, validate};
use crate::password::PasswordHasher;
use crate::store::{NewUser, Store, User};

/// Input of a registration, before validation.
pub struct Registration {
    /// Email, any case; a new one must be ASCII (see `validate`).
    pub email: String,
    /// Password, 8–128 characters.
    pub password: SecretString,
    /// Display name.
    pub name: String,
}

/// A registration whose fields passed every rule; the email and name normalised.
struct CheckedRegistration {
    email: String,
    name: String,
    password: SecretString,
}

impl Registration {
    /// Checks every field, reporting each invalid one.
    fn check(self) -> Result<CheckedRegistration, AccountError> {
        let mut errors = Vec::new();
        let email = validate::email(&self.email, &mut errors);
        validate::password(self.password.expose_secret(), &mut errors);
        let name = validate::name(&self.name, &mut errors);
        if errors.is_empty() {
            Ok(CheckedRegistration {
                email,
                name,
                password: self.password,
            })
        } else {
            Err(AccountError::Invalid(errors))
        }
    }
}

/// Creates an account with `scopes` after validating every field. Used by
/// registration, the first-start bootstrap and `sigil users create`.
pub async fn create_account(
    store: &dyn Store,
    hasher: &PasswordHasher,
    input: Registration,
    scopes: &[&str],
) -> Result<Account, AccountError> {
    let user = store_account(store, hasher, input.check()?, scopes, None).await?;
    Ok(user.into())
}

/// Hashes the password and stores the account.
async fn store_account(
    store: &dyn Store,
    hasher: &PasswordHasher,
    input: CheckedRegistration,
    scopes: &[&str],
    client: Option<IpAddr>,
) -> Result<User, AccountError> {
    let password_hash = hasher.hash(input.password).await?;
    let user = store
        .create_user(NewUser {
            email: input.email,
            name: input.name,
            password_hash,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
        .await?;
    tracing::info!(target: "audit", event = "user_registered", user_id = %user.id, client = %client_field(client), scopes = %user.scopes.join(" "));
    Ok(user)
}

impl Accounts {
    /// Creates an account with `scopes` after validating every field.
    pub async fn create_user(
        &self,
        input: Registration,
        scopes: &[&str],
    ) -> Result<Account, AccountError> {
        create_account(self.store.as_ref(), &self.hasher, input, scopes).await
    }

    /// Registers a user with the default scopes and logs them in (a session
    /// that keeps `client` and `user_agent`). Each registration that gets as
    /// far as hashing counts against `client`.
    pub async fn register(
        &self,
        input: Registration,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<TokenPair, AccountError> {
        let input = input.check()?;
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
        let user = store_account(
            self.store.as_ref(),
            &self.hasher,
            input,
            scopes::DEFAULT_SCOPES,
            client,
        )
        .await?;
        self.start_session(&user, user.scopes.clone(), client, user_agent)
            .await
    }
}
