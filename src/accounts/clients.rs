//! Confidential OAuth 2.0 clients (service accounts): creating them (the
//! secret is shown once), listing, changing scopes or the disabled flag, and
//! rotating the secret with an overlap during which the previous one keeps
//! working. `secret` says how ids and secrets are made and compared; `grant`
//! authenticates a client and hands it a token (RFC 6749 §4.4).
//!
//! The management functions take the store directly, so `sigil clients …`
//! runs them without a server; [`Accounts`] wraps them for the admin API.
//! Each change is an audit event naming who made it, never the secret.

mod grant;
pub mod secret;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use self::grant::{AuthenticatedClient, ClientAuthMethod, ClientCredentials, ClientToken};
use super::scopes::Scopes;
use super::{AccountError, Accounts, Field, FieldError, Principal, validate};
pub use crate::store::Client;
use crate::store::{ClientPatch, NewClient, Store};

/// Longest audience, in characters.
pub const MAX_AUDIENCE_CHARS: usize = 200;

/// A client to create, before validation.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Scopes it may be granted; each must be known.
    pub scopes: Vec<String>,
    /// `aud` of its tokens, if not the server's.
    pub audience: Option<String>,
}

/// What an administrator may change about a client; `None` leaves it as is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChanges {
    /// The complete new list of scopes.
    pub scopes: Option<Vec<String>>,
    /// Disable (`Some(true)`) or re-enable (`Some(false)`) the client.
    pub disabled: Option<bool>,
}

/// A new client and its secret, which is shown this once.
#[derive(Debug)]
pub struct CreatedClient {
    /// The client.
    pub client: Client,
    /// Its secret; `Debug` prints `[REDACTED]`.
    pub secret: SecretString,
}

/// A client's new secret, shown this once.
#[derive(Debug)]
pub struct RotatedSecret {
    /// The client's id.
    pub client_id: String,
    /// The new secret; `Debug` prints `[REDACTED]`.
    pub secret: SecretString,
    /// Until when the previous secret keeps working.
    pub previous_valid_until: DateTime<Utc>,
}

/// Checks every field of a new client, reporting each invalid one.
fn check(input: ClientRequest, scopes: &Scopes) -> Result<ClientRequest, AccountError> {
    let mut errors = Vec::new();
    let name = validate::name(&input.name, &mut errors);
    let granted = check_scopes(input.scopes, scopes, &mut errors);
    let audience = input.audience.map(|a| audience(&a, &mut errors));
    if errors.is_empty() {
        Ok(ClientRequest {
            name,
            scopes: granted,
            audience,
        })
    } else {
        Err(AccountError::Invalid(errors))
    }
}

/// Every scope must be known; repetitions are kept once.
fn check_scopes(
    requested: Vec<String>,
    scopes: &Scopes,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    if let Some(unknown) = scopes.first_unknown(&requested) {
        errors.push(FieldError::new(
            Field::Scopes,
            format!("unknown scope {unknown:?}"),
        ));
    }
    let mut kept: Vec<String> = Vec::with_capacity(requested.len());
    for scope in requested {
        if !kept.contains(&scope) {
            kept.push(scope);
        }
    }
    kept
}

/// An audience: 1 to 200 visible characters, no spaces (a URI or a name).
fn audience(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let audience = raw.trim();
    let chars = audience.chars().count();
    if chars == 0 || chars > MAX_AUDIENCE_CHARS {
        errors.push(FieldError::new(
            Field::Audience,
            format!("must be 1 to {MAX_AUDIENCE_CHARS} characters"),
        ));
    } else if audience
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        errors.push(FieldError::new(
            Field::Audience,
            "must not contain spaces or control characters",
        ));
    }
    audience.to_owned()
}

/// Creates a client with a new id and secret. `actor` names who did it in
/// the audit event (an administrator's id, or `cli`).
pub async fn create_client(
    store: &dyn Store,
    scopes: &Scopes,
    input: ClientRequest,
    actor: &str,
) -> Result<CreatedClient, AccountError> {
    let input = check(input, scopes)?;
    let new = secret::new_secret();
    let client = store
        .create_client(
            NewClient {
                id: secret::new_client_id(),
                name: input.name,
                scopes: input.scopes,
                audience: input.audience,
                secret_hash: new.hash.to_vec(),
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(target: "audit", event = "client_created", actor = %actor, client_id = %client.id, scopes = %client.scopes.join(" "), audience = client.audience.as_deref().unwrap_or(""));
    Ok(CreatedClient {
        client,
        secret: new.secret,
    })
}

/// One page of clients, oldest first.
pub async fn list_clients(
    store: &dyn Store,
    limit: u32,
    offset: u32,
) -> Result<Vec<Client>, AccountError> {
    Ok(store.list_clients(limit, offset).await?)
}

/// Changes a client's scopes or disabled flag. A disabled client is refused
/// at its next token request, and its tokens at their next use here.
pub async fn update_client(
    store: &dyn Store,
    scopes: &Scopes,
    id: &str,
    changes: ClientChanges,
    actor: &str,
) -> Result<Client, AccountError> {
    if id.len() > secret::MAX_CLIENT_ID_LEN {
        return Err(AccountError::NoSuchClient);
    }
    let mut errors = Vec::new();
    let new_scopes = changes
        .scopes
        .map(|requested| check_scopes(requested, scopes, &mut errors));
    if !errors.is_empty() {
        return Err(AccountError::Invalid(errors));
    }
    let patch = ClientPatch {
        scopes: new_scopes,
        disabled: changes.disabled,
    };
    let client = store
        .update_client(id, patch)
        .await?
        .ok_or(AccountError::NoSuchClient)?;
    tracing::info!(target: "audit", event = "client_updated", actor = %actor, client_id = %client.id, scopes = %client.scopes.join(" "), disabled = client.disabled);
    Ok(client)
}

/// Gives a client a new secret; the previous one keeps working for `overlap`
/// (zero: not at all).
pub async fn rotate_client_secret(
    store: &dyn Store,
    id: &str,
    overlap: Duration,
    actor: &str,
) -> Result<RotatedSecret, AccountError> {
    if id.len() > secret::MAX_CLIENT_ID_LEN {
        return Err(AccountError::NoSuchClient);
    }
    let now = Utc::now();
    let overlap = chrono::TimeDelta::from_std(overlap).unwrap_or(chrono::TimeDelta::MAX);
    let previous_valid_until = now.checked_add_signed(overlap).unwrap_or(now);
    let new = secret::new_secret();
    if !store
        .rotate_client_secret(id, &new.hash, now, previous_valid_until)
        .await?
    {
        return Err(AccountError::NoSuchClient);
    }
    tracing::info!(target: "audit", event = "client_secret_rotated", actor = %actor, client_id = %id, previous_valid_until = %previous_valid_until.to_rfc3339());
    Ok(RotatedSecret {
        client_id: id.to_owned(),
        secret: new.secret,
        previous_valid_until,
    })
}

impl Accounts {
    /// Creates a client (administrators).
    pub async fn create_client(
        &self,
        admin: &Principal,
        input: ClientRequest,
    ) -> Result<CreatedClient, AccountError> {
        create_client(self.store.as_ref(), &self.scopes, input, &admin.id()).await
    }

    /// One page of clients, oldest first (administrators).
    pub async fn list_clients(&self, limit: u32, offset: u32) -> Result<Vec<Client>, AccountError> {
        list_clients(self.store.as_ref(), limit, offset).await
    }

    /// Changes a client's scopes or disabled flag (administrators).
    pub async fn update_client(
        &self,
        admin: &Principal,
        id: &str,
        changes: ClientChanges,
    ) -> Result<Client, AccountError> {
        update_client(self.store.as_ref(), &self.scopes, id, changes, &admin.id()).await
    }

    /// Gives a client a new secret, the previous one working for the
    /// configured overlap (administrators).
    pub async fn rotate_client_secret(
        &self,
        admin: &Principal,
        id: &str,
    ) -> Result<RotatedSecret, AccountError> {
        rotate_client_secret(self.store.as_ref(), id, self.secret_overlap, &admin.id()).await
    }
}
