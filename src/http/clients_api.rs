//! `/admin/clients`: confidential clients (service accounts) for tokens with
//! the `admin` scope. A client's secret is in the answer that creates it and
//! in the answer that rotates it, never anywhere else (`no-store`); the list
//! shows no secret and no hash.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use secrecy::ExposeSecret;

use super::auth::{BearerAuth, Scopes};
use super::problem::ApiError;
use super::users_api::page;
use crate::accounts::{Accounts, Client, ClientChanges, ClientRequest, scopes::ADMIN};

#[derive(Tags)]
enum Tag {
    /// Confidential clients, i.e. service accounts (scope `admin`).
    Clients,
}

/// A confidential client, without its secret.
#[derive(Object)]
pub struct ClientView {
    /// The client id (`client_id` of the OAuth 2.0 requests and tokens).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// `aud` of its tokens; absent: the server's audience.
    #[oai(skip_serializing_if_is_none)]
    pub audience: Option<String>,
    /// Whether the client is barred from getting and using tokens.
    pub disabled: bool,
    /// When the client was created.
    pub created_at: DateTime<Utc>,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        ClientView {
            client_id: c.id,
            name: c.name,
            scopes: c.scopes,
            audience: c.audience,
            disabled: c.disabled,
            created_at: c.created_at,
        }
    }
}

/// A new client.
#[derive(Object)]
pub struct NewClientBody {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Scopes it may be granted: built-in or declared (`SIGIL_SCOPES`), else 422.
    pub scopes: Vec<String>,
    /// `aud` of its tokens (1 to 200 characters, no spaces); default: the
    /// server's audience (`SIGIL_AUDIENCE`).
    pub audience: Option<String>,
}

/// A new client with its secret, shown this once.
#[derive(Object)]
pub struct CreatedClientView {
    /// The client id.
    pub client_id: String,
    /// The secret: keep it now, it is never shown again.
    pub client_secret: String,
    /// Display name.
    pub name: String,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
    /// `aud` of its tokens; absent: the server's audience.
    #[oai(skip_serializing_if_is_none)]
    pub audience: Option<String>,
    /// Always false for a new client.
    pub disabled: bool,
    /// When the client was created.
    pub created_at: DateTime<Utc>,
}

/// Changes to a client; absent fields stay as they are.
#[derive(Object)]
pub struct ClientChangesBody {
    /// The complete new list of scopes (built-in or declared), else 422.
    pub scopes: Option<Vec<String>>,
    /// `true` refuses the client's next token request and its tokens here.
    pub disabled: Option<bool>,
}

/// A client's new secret, shown this once.
#[derive(Object)]
pub struct NewSecretView {
    /// The client id.
    pub client_id: String,
    /// The new secret: keep it now, it is never shown again.
    pub client_secret: String,
    /// Until when the previous secret keeps working (`SIGIL_CLIENT_SECRET_OVERLAP`).
    pub previous_secret_expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum CreatedResponse {
    /// The client and its secret; never cached.
    #[oai(status = 201)]
    Created(
        Json<CreatedClientView>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

#[derive(ApiResponse)]
enum ClientsResponse {
    /// One page of clients, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<ClientView>>),
}

#[derive(ApiResponse)]
enum ClientResponse {
    /// The client after the change.
    #[oai(status = 200)]
    Ok(Json<ClientView>),
}

#[derive(ApiResponse)]
enum SecretResponse {
    /// The new secret; never cached.
    #[oai(status = 200)]
    Ok(
        Json<NewSecretView>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// The `/admin/clients` routes.
pub struct ClientsApi {
    /// The account service.
    pub accounts: Accounts,
}

#[OpenApi(tag = "Tag::Clients")]
impl ClientsApi {
    /// Create a confidential client; its secret is shown in this answer only.
    #[oai(path = "/admin/clients", method = "post")]
    async fn create_client(
        &self,
        #[oai(scope = "Scopes::Admin")] auth: BearerAuth,
        body: Json<NewClientBody>,
    ) -> Result<CreatedResponse, ApiError> {
        let admin = auth.require(ADMIN)?;
        let Json(NewClientBody {
            name,
            scopes,
            audience,
        }) = body;
        let created = self
            .accounts
            .create_client(
                &admin,
                ClientRequest {
                    name,
                    scopes,
                    audience,
                },
            )
            .await?;
        let client = created.client;
        Ok(CreatedResponse::Created(
            Json(CreatedClientView {
                client_id: client.id,
                client_secret: created.secret.expose_secret().to_owned(),
                name: client.name,
                scopes: client.scopes,
                audience: client.audience,
                disabled: client.disabled,
                created_at: client.created_at,
            }),
            "no-store".to_owned(),
            "no-cache".to_owned(),
        ))
    }

    /// List confidential clients (no secrets).
    #[oai(path = "/admin/clients", method = "get")]
    async fn list_clients(
        &self,
        #[oai(scope = "Scopes::Admin")] auth: BearerAuth,
        /// Page size, 1 to 500 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
        /// Clients to skip (default 0).
        offset: Query<Option<u32>>,
    ) -> Result<ClientsResponse, ApiError> {
        auth.require(ADMIN)?;
        let (limit, offset) = page(limit, offset)?;
        let clients = self.accounts.list_clients(limit, offset).await?;
        Ok(ClientsResponse::Ok(Json(
            clients.into_iter().map(ClientView::from).collect(),
        )))
    }

    /// Change a client's scopes or disable it.
    #[oai(path = "/admin/clients/:id", method = "patch")]
    async fn update_client(
        &self,
        #[oai(scope = "Scopes::Admin")] auth: BearerAuth,
        /// The client's id.
        id: Path<String>,
        changes: Json<ClientChangesBody>,
    ) -> Result<ClientResponse, ApiError> {
        let admin = auth.require(ADMIN)?;
        let Json(ClientChangesBody { scopes, disabled }) = changes;
        let client = self
            .accounts
            .update_client(&admin, &id.0, ClientChanges { scopes, disabled })
            .await?;
        Ok(ClientResponse::Ok(Json(client.into())))
    }

    /// Give a client a new secret.
    ///
    /// The previous secret keeps working for the configured overlap
    /// (`SIGIL_CLIENT_SECRET_OVERLAP`).
    #[oai(path = "/admin/clients/:id/secret", method = "post")]
    async fn rotate_secret(
        &self,
        #[oai(scope = "Scopes::Admin")] auth: BearerAuth,
        /// The client's id.
        id: Path<String>,
    ) -> Result<SecretResponse, ApiError> {
        let admin = auth.require(ADMIN)?;
        let rotated = self.accounts.rotate_client_secret(&admin, &id.0).await?;
        Ok(SecretResponse::Ok(
            Json(NewSecretView {
                client_id: rotated.client_id,
                client_secret: rotated.secret.expose_secret().to_owned(),
                previous_secret_expires_at: rotated.previous_valid_until,
            }),
            "no-store".to_owned(),
            "no-cache".to_owned(),
        ))
    }
}
