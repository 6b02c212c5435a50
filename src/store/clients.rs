//! Confidential OAuth 2.0 clients as stored: the client, its secrets' hashes,
//! and the changes an administrator may make. Secrets themselves are never
//! stored; what a hash is made of is the account service's business.

use std::fmt;

use chrono::{DateTime, Utc};

/// A confidential client (a service account), without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client id, chosen by the account service.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Scopes the client may be granted, in the order given.
    pub scopes: Vec<String>,
    /// `aud` of its tokens; `None` = the server's audience.
    pub audience: Option<String>,
    /// A disabled client gets no tokens and its tokens are refused.
    pub disabled: bool,
    /// When the client was created (microsecond precision).
    pub created_at: DateTime<Utc>,
}

/// A client with the hashes of the secrets that work at the time asked for.
/// `Debug` never prints the hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientWithSecrets {
    /// The client.
    pub client: Client,
    /// Hashes of its secrets that are not expired (one, or two during an overlap).
    pub secret_hashes: Vec<Vec<u8>>,
}

impl fmt::Debug for ClientWithSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientWithSecrets")
            .field("client", &self.client)
            .field(
                "secret_hashes",
                &format_args!("<{} redacted>", self.secret_hashes.len()),
            )
            .finish()
    }
}

/// What is needed to create a client and its first secret. `Debug` never
/// prints the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct NewClient {
    /// The client id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
    /// `aud` of its tokens, if not the server's.
    pub audience: Option<String>,
    /// Hash of its first secret.
    pub secret_hash: Vec<u8>,
}

impl fmt::Debug for NewClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClient")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

/// A partial update of a client; `None` fields are left unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientPatch {
    /// Replace the client's scopes.
    pub scopes: Option<Vec<String>>,
    /// Disable (`Some(true)`) or re-enable (`Some(false)`) the client.
    pub disabled: Option<bool>,
}
