//! `/oauth/revoke` (RFC 7009) and `/oauth/introspect` (RFC 7662): parse the
//! form, decide who the caller is, call one `Accounts` method, shape the
//! answer. Errors are [`OAuthError`]s (`application/json` with `error`).
//!
//! Who the caller is ([`Requester`]):
//! - a confidential client authenticated by HTTP Basic or by
//!   `client_id` + `client_secret` in the form: `Requester::Client`;
//! - a bearer access token with the `admin` scope: `Requester::Admin` (a
//!   bearer token without it, or one sigil refuses, gets 401);
//! - nobody (at most the public client's `client_id`): `Requester::Public`,
//!   which may revoke refresh tokens and may not introspect.

use poem::Request;
use poem::http::{StatusCode, header};
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;

use super::client_addr::ClientAddr;
use super::client_auth::{self, BASIC_CHALLENGE};
use super::problem::{ApiError, OAuthError};
use crate::accounts::{
    Accounts, ActiveToken, AuthError, Requester, RevocationError, TokenHint, TokenKind,
};

/// The challenge when introspection gets no usable credentials: a client's
/// Basic, or an administrator's bearer token.
const INTROSPECTION_CHALLENGE: &str = r#"Basic realm="sigil", Bearer"#;

#[derive(Tags)]
enum Tag {
    /// Standard OAuth 2.0 endpoints: revocation and introspection.
    OAuth,
}

/// A token to revoke or introspect (`application/x-www-form-urlencoded`).
#[derive(Object, Deserialize)]
pub struct PresentedToken {
    /// The token: an access token or a refresh token.
    #[oai(write_only)]
    pub token: String,
    /// `access_token` or `refresh_token`: which kind to look for first.
    /// Any other value is ignored; a wrong hint does not stop the search.
    pub token_type_hint: Option<String>,
    /// A confidential client's id (`client_secret_post`), or the public
    /// client's id, which changes nothing.
    pub client_id: Option<String>,
    /// A confidential client's secret (`client_secret_post`).
    #[oai(write_only)]
    pub client_secret: Option<String>,
}

/// Revocation done.
#[derive(ApiResponse)]
pub enum RevokeResponse {
    /// Revoked, or nothing to revoke: an unknown, malformed or expired token
    /// is answered the same (RFC 7009 §2.2).
    #[oai(status = 200)]
    Ok,
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` alone for
/// any token sigil would not accept now.
#[derive(Object, Debug, PartialEq, Eq)]
pub struct Introspection {
    /// Whether sigil would accept the token right now.
    pub active: bool,
    /// Scopes the token grants now (those its owner still holds), space-separated.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// The user's email, for users' tokens.
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    /// `Bearer` for access tokens (RFC 6749 §7.1), `refresh_token` for
    /// refresh tokens.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch.
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch.
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<i64>,
    /// Not before (access tokens).
    #[oai(skip_serializing_if_is_none)]
    pub nbf: Option<i64>,
    /// Subject: the user's id.
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<String>,
    /// Audience (access tokens).
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<String>,
    /// Issuer.
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    /// Token id (access tokens).
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<String>,
}

impl Introspection {
    /// `{"active": false}`.
    fn inactive() -> Introspection {
        Introspection {
            active: false,
            scope: None,
            client_id: None,
            username: None,
            token_type: None,
            exp: None,
            iat: None,
            nbf: None,
            sub: None,
            aud: None,
            iss: None,
            jti: None,
        }
    }
}

impl From<ActiveToken> for Introspection {
    fn from(t: ActiveToken) -> Self {
        let token_type = match t.kind {
            TokenKind::Access => "Bearer",
            TokenKind::Refresh => "refresh_token",
        };
        Introspection {
            active: true,
            scope: Some(t.scope),
            client_id: Some(t.client_id),
            username: t.username,
            token_type: Some(token_type.to_owned()),
            exp: Some(t.exp),
            iat: Some(t.iat),
            nbf: t.nbf,
            sub: Some(t.sub),
            aud: t.aud,
            iss: Some(t.iss),
            jti: t.jti,
        }
    }
}

/// An introspection answer; never cached.
#[derive(ApiResponse)]
pub enum IntrospectResponse {
    /// What sigil says about the token.
    #[oai(status = 200)]
    Ok(
        Json<Introspection>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// The `/oauth` routes.
pub struct OAuthApi {
    /// The account service.
    pub accounts: Accounts,
}

#[OpenApi(tag = "Tag::OAuth")]
impl OAuthApi {
    /// Revoke a token (RFC 7009).
    ///
    /// A refresh token's whole family is revoked; an access token is refused
    /// by sigil (its routes and introspection) until it expires, though
    /// offline verifiers cannot know. Without client authentication only
    /// refresh tokens can be revoked; a confidential client (HTTP Basic or
    /// `client_secret_post`) may revoke only its own tokens, a bearer token
    /// with `admin` any token. Unknown or malformed tokens get 200.
    #[oai(path = "/oauth/revoke", method = "post")]
    async fn revoke(
        &self,
        req: &Request,
        form: Form<PresentedToken>,
    ) -> Result<RevokeResponse, OAuthError> {
        let caller = self.caller(req, &form).await?;
        let hint = form.token_type_hint.as_deref().and_then(TokenHint::parse);
        self.accounts
            .revoke(&caller, &form.token, hint)
            .await
            .map_err(refused)?;
        Ok(RevokeResponse::Ok)
    }

    /// Introspect a token (RFC 7662).
    ///
    /// For a confidential client (HTTP Basic or `client_secret_post`) or a
    /// bearer token with the `admin` scope; anyone else gets 401.
    /// `{"active": false}` answers any token sigil would not accept now.
    #[oai(path = "/oauth/introspect", method = "post")]
    async fn introspect(
        &self,
        req: &Request,
        form: Form<PresentedToken>,
    ) -> Result<IntrospectResponse, OAuthError> {
        if self.caller(req, &form).await? == Requester::Public {
            return Err(OAuthError::invalid_client(
                "Introspection needs client authentication or a bearer token with the admin scope.",
                Some(INTROSPECTION_CHALLENGE),
            ));
        }
        let hint = form.token_type_hint.as_deref().and_then(TokenHint::parse);
        let answer = match self.accounts.introspect(&form.token, hint).await? {
            Some(active) => Introspection::from(active),
            None => Introspection::inactive(),
        };
        Ok(IntrospectResponse::Ok(
            Json(answer),
            "no-store".to_owned(),
            "no-cache".to_owned(),
        ))
    }
}

impl OAuthApi {
    /// Who is asking: a client, an administrator's bearer token, or nobody.
    async fn caller(&self, req: &Request, form: &PresentedToken) -> Result<Requester, OAuthError> {
        if let Some(client) = self.authenticate_client(req, form).await? {
            return Ok(client);
        }
        match authorization(req) {
            Some(("bearer", token)) => self.admin_bearer(token).await,
            Some(_) => Err(OAuthError::invalid_client(
                "Authenticate with HTTP Basic (a client) or Bearer (an admin token).",
                Some(BASIC_CHALLENGE),
            )),
            None => match form.client_id.as_deref() {
                Some(id) if id != self.accounts.tokens().public_client_id => {
                    Err(OAuthError::invalid_client(
                        "A confidential client must authenticate.",
                        Some(BASIC_CHALLENGE),
                    ))
                }
                _ => Ok(Requester::Public),
            },
        }
    }

    /// Client authentication by HTTP Basic or `client_secret_post`
    /// (`client_auth`): the client, `None` when the request does not try it,
    /// 401 `invalid_client` (throttled per address like failed logins) when
    /// it fails.
    async fn authenticate_client(
        &self,
        req: &Request,
        form: &PresentedToken,
    ) -> Result<Option<Requester>, OAuthError> {
        let presented = client_auth::client_credentials(
            req,
            form.client_id.as_deref(),
            form.client_secret.as_deref(),
        )?;
        let Some(creds) = presented else {
            return Ok(None);
        };
        let addr = req.data::<ClientAddr>().and_then(|addr| addr.0);
        let client = self
            .accounts
            .authenticate_client(&creds, addr)
            .await
            .map_err(|e| client_auth::refusal(e, creds.method))?;
        Ok(Some(Requester::Client(client.client.id)))
    }

    /// An administrator's bearer token, or 401 (RFC 7662 §2.3).
    async fn admin_bearer(&self, token: &str) -> Result<Requester, OAuthError> {
        match self.accounts.authenticate(token).await {
            Ok(principal) if principal.has_scope("admin") => Ok(Requester::Admin),
            Ok(_) => Err(OAuthError::bearer_lacks_scope("admin")),
            Err(AuthError::InvalidToken) => Err(ApiError::invalid_token().into()),
            Err(AuthError::Unavailable) => Err(ApiError::unavailable().into()),
        }
    }
}

/// The `Authorization` header as (lower-case scheme, credentials).
fn authorization(req: &Request) -> Option<(&'static str, &str)> {
    let Ok(value) = req.headers().get(header::AUTHORIZATION)?.to_str() else {
        return Some(("other", ""));
    };
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        "bearer"
    } else if scheme.eq_ignore_ascii_case("basic") {
        "basic"
    } else {
        "other"
    };
    Some((scheme, credentials.trim()))
}

/// A refused revocation: 401 `invalid_client` for an access token presented
/// without client authentication, 400 `unauthorized_client` for another
/// client's token.
fn refused(e: RevocationError) -> OAuthError {
    match e {
        RevocationError::ClientAuthenticationRequired => OAuthError::invalid_client(
            "Revoking an access token needs client authentication; \
             without it only refresh tokens can be revoked.",
            Some(BASIC_CHALLENGE),
        ),
        RevocationError::NotOwner => ApiError::new(
            StatusCode::BAD_REQUEST,
            Some("unauthorized-client"),
            "Not this client's token",
            "The token was issued to another client.",
        )
        .oauth("unauthorized_client")
        .into(),
        RevocationError::Account(e) => e.into(),
    }
}
