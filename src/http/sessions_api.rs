//! `/me/sessions`: the signed-in user's sessions — one per login or
//! registration, carried on by its refresh tokens — and ending one, so that
//! a lost device can be logged out without logging out the others. Also the
//! [`UserAgent`] of a request, which a login records with its session.

use chrono::{DateTime, Utc};
use poem::http::{StatusCode, header};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use uuid::Uuid;

use super::auth::{BearerAuth, Scopes};
use super::problem::ApiError;
use crate::accounts::{Accounts, Session};

/// The scope that `/me/sessions` asks for, as `/me`'s.
const PROFILE: &str = "profile";

/// Most bytes of a `User-Agent` header read; the account service keeps at
/// most 256 characters of it, which never take more than this.
const USER_AGENT_BYTES: usize = 1024;

#[derive(Tags)]
enum Tag {
    /// The signed-in user.
    Me,
}

/// The `User-Agent` of a request, as sent (bytes that are not UTF-8
/// replaced); `None` without the header. Undocumented in OpenAPI: a login
/// records it, nobody has to send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent(pub Option<String>);

impl<'a> FromRequest<'a> for UserAgent {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(UserAgent(req.headers().get(header::USER_AGENT).map(
            |value| {
                let bytes = value.as_bytes();
                String::from_utf8_lossy(&bytes[..bytes.len().min(USER_AGENT_BYTES)]).into_owned()
            },
        )))
    }
}

/// One session: a login on one device, and the refresh tokens that carry it on.
#[derive(Object)]
#[oai(rename = "Session")]
pub struct SessionView {
    /// Session id (UUID), for `DELETE /me/sessions/{id}`.
    pub id: Uuid,
    /// When the login (or registration) happened.
    pub created_at: DateTime<Utc>,
    /// When the session last logged in or refreshed its tokens.
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` of the login, without control characters, at most
    /// 256 characters; `null` if none was sent.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// The client address of the login (behind trusted proxies, the one
    /// `X-Forwarded-For` names); `null` if unknown.
    #[oai(nullable)]
    pub client_addr: Option<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        SessionView {
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            user_agent: s.user_agent,
            client_addr: s.client_addr,
        }
    }
}

#[derive(ApiResponse)]
enum SessionsResponse {
    /// The caller's sessions that can still refresh (not logged out, ended or
    /// expired), most recently used first.
    #[oai(status = 200)]
    Ok(Json<Vec<SessionView>>),
}

#[derive(ApiResponse)]
enum EndSessionResponse {
    /// The session is ended: its refresh tokens stop working at once. Access
    /// tokens already issued to it stay valid until they expire.
    #[oai(status = 204)]
    Ended,
}

/// The `/me/sessions` routes.
pub struct SessionsApi {
    /// The account service.
    pub accounts: Accounts,
}

#[OpenApi(tag = "Tag::Me")]
impl SessionsApi {
    /// The signed-in user's sessions (profile scope).
    ///
    /// One per login or registration that can still refresh. Which one is the
    /// caller's own cannot be told from an access token.
    #[oai(path = "/me/sessions", method = "get")]
    async fn list(
        &self,
        #[oai(scope = "Scopes::Profile")] auth: BearerAuth,
    ) -> Result<SessionsResponse, ApiError> {
        let user = auth.user()?.clone();
        auth.require(PROFILE)?;
        let sessions = self.accounts.sessions(user.id).await?;
        Ok(SessionsResponse::Ok(Json(
            sessions.into_iter().map(SessionView::from).collect(),
        )))
    }

    /// End one of the signed-in user's sessions (profile scope).
    ///
    /// Its refresh tokens stop working at once, on every instance; the other
    /// sessions go on. Another user's session, an unknown id and a session
    /// already ended or expired are all 404.
    #[oai(path = "/me/sessions/:id", method = "delete")]
    async fn end(
        &self,
        #[oai(scope = "Scopes::Profile")] auth: BearerAuth,
        /// The session's id.
        id: Path<Uuid>,
    ) -> Result<EndSessionResponse, ApiError> {
        let user = auth.user()?.clone();
        auth.require(PROFILE)?;
        if self.accounts.end_session(user.id, id.0).await? {
            Ok(EndSessionResponse::Ended)
        } else {
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Some("not-found"),
                "Not found",
                "You have no session with this id.",
            ))
        }
    }
}
