//! New accounts: the rules every field must pass, and registration, which
//! counts against the client's address before it costs a hash.

use std::net::IpAddr;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::{AccountError, Accounts, TokenPair, client_field, scopes, throttle, validate};
use crate::password::PasswordHasher;
use crate::store::{NewUser, Store, User};

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

impl Accounts {
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
}
