//! `/me` and `/admin/users`: the signed-in user, and user management for tokens
//! with the `admin` scope.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use uuid::Uuid;

use super::auth::{BearerAuth, Scopes};
use super::problem::ApiError;
use crate::accounts::{Account, AccountChanges, Accounts, scopes::ADMIN};

#[derive(Tags)]
enum Tag {
    /// The signed-in user.
    Me,
    /// User management (scope `admin`).
    Admin,
}

/// Largest page of `/admin/users`.
pub const MAX_PAGE: u32 = 500;
/// Page size when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 50;

/// The `limit` and `offset` of a listing, with their defaults. The OpenAPI
/// validator already refuses a `limit` outside 1..=[`MAX_PAGE`]; this is the
/// one place that also holds to it should a route lack the validator.
pub(super) fn page(
    limit: Query<Option<u32>>,
    offset: Query<Option<u32>>,
) -> Result<(u32, u32), ApiError> {
    let limit = limit.0.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("bad-request"),
            "Bad request",
            format!("limit must be between 1 and {MAX_PAGE}."),
        ));
    }
    Ok((limit, offset.0.unwrap_or(0)))
}

/// The signed-in user.
#[derive(Object)]
pub struct Me {
    /// User id (UUID).
    pub id: Uuid,
    /// Email as registered.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Scopes the user holds.
    pub scopes: Vec<String>,
}

/// A user as administrators see it.
#[derive(Object)]
pub struct UserView {
    /// User id (UUID).
    pub id: Uuid,
    /// Email as registered.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Scopes the user holds.
    pub scopes: Vec<String>,
    /// Whether the user is barred from signing in.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl From<Account> for UserView {
    fn from(u: Account) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            name: u.name,
            scopes: u.scopes,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// Changes to a user; absent fields stay as they are.
#[derive(Object)]
pub struct UserChanges {
    /// The complete new list of scopes: built-in or declared (`SIGIL_SCOPES`)
    /// ones only, else 422.
    pub scopes: Option<Vec<String>>,
    /// `true` bars the user from signing in and revokes their refresh tokens.
    pub disabled: Option<bool>,
}

#[derive(ApiResponse)]
enum MeResponse {
    /// The signed-in user.
    #[oai(status = 200)]
    Ok(Json<Me>),
}

#[derive(ApiResponse)]
enum UsersResponse {
    /// One page of users, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<UserView>>),
}

#[derive(ApiResponse)]
enum UserResponse {
    /// The user after the change.
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

/// The `/me` and `/admin` routes.
pub struct UsersApi {
    /// The account service.
    pub accounts: Accounts,
}

#[OpenApi]
impl UsersApi {
    /// The signed-in user; 403 for a client-credentials token.
    #[oai(path = "/me", method = "get", tag = "Tag::Me")]
    async fn me(&self, auth: BearerAuth) -> Result<MeResponse, ApiError> {
        let user = auth.into_user()?;
        Ok(MeResponse::Ok(Json(Me {
            id: user.id,
            email: user.email,
            name: user.name,
            scopes: user.scopes,
        })))
    }

    /// List users (admin scope).
    ///
    /// Needs a bearer token with the `admin` scope. Oldest first, one page of
    /// `limit` users after skipping `offset`.
    #[oai(path = "/admin/users", method = "get", tag = "Tag::Admin")]
    async fn list_users(
        &self,
        #[oai(scope = "Scopes::Admin")] auth: BearerAuth,
        /// Page size, 1 to 500 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
        /// Users to skip (default 0).
        offset: Query<Option<u32>>,
    ) -> Result<UsersResponse, ApiError> {
        auth.require(ADMIN)?;
        let (limit, offset) = page(limit, offset)?;
        let users = self.accounts.list_users(limit, offset).await?;
        Ok(UsersResponse::Ok(Json(
            users.into_iter().map(UserView::from).collect(),
        )))
    }

    /// Change a user's scopes or disable them (admin scope).
    ///
    /// Needs a bearer token with the `admin` scope.
    #[oai(path = "/admin/users/:id", method = "patch", tag = "Tag::Admin")]
    async fn update_user(
        &self,
        #[oai(scope = "Scopes::Admin")] auth: BearerAuth,
        /// The user's id.
        id: Path<Uuid>,
        changes: Json<UserChanges>,
    ) -> Result<UserResponse, ApiError> {
        let admin = auth.require(ADMIN)?;
        let Json(UserChanges { scopes, disabled }) = changes;
        let user = self
            .accounts
            .update_user(&admin, id.0, AccountChanges { scopes, disabled })
            .await?;
        Ok(UserResponse::Ok(Json(user.into())))
    }
}
