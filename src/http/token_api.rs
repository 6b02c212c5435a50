//! `/auth/*`: register, the OAuth 2.0 token endpoint (`/auth/login`), refresh
//! and logout. Handlers parse, call one `Accounts` method, and shape the answer.

use poem::web::Data;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::client_addr::ClientAddr;
use super::client_auth;
use super::oauth_form::OAuthForm;
use super::problem::{ApiError, OAuthError};
use super::sessions_api::UserAgent;
use crate::accounts::{Accounts, ClientToken, Registration, TokenPair};

#[derive(Tags)]
enum Tag {
    /// Accounts and tokens.
    Auth,
}

/// Token response (RFC 6749 §5.1).
#[derive(Object)]
pub struct TokenBody {
    /// A JWS access token (RFC 9068), to send as `Authorization: Bearer`.
    pub access_token: String,
    /// An opaque refresh token; each use returns a new one and uses this one
    /// up. None for the client-credentials grant: the client authenticates again.
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// A successful token answer; never cached.
#[derive(ApiResponse)]
pub enum TokenResponse {
    /// Account created; here are its first tokens.
    #[oai(status = 201)]
    Created(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// Here are the tokens.
    #[oai(status = 200)]
    Ok(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

fn body(pair: TokenPair) -> Json<TokenBody> {
    Json(TokenBody {
        access_token: pair.access_token,
        refresh_token: Some(pair.refresh_token.expose_secret().to_owned()),
        token_type: "bearer".to_owned(),
        expires_in: pair.expires_in,
        scope: pair.scope,
    })
}

fn client_body(token: ClientToken) -> Json<TokenBody> {
    Json(TokenBody {
        access_token: token.access_token,
        refresh_token: None,
        token_type: "bearer".to_owned(),
        expires_in: token.expires_in,
        scope: token.scope,
    })
}

fn no_store() -> (String, String) {
    ("no-store".to_owned(), "no-cache".to_owned())
}

/// A new account.
#[derive(Object, Deserialize)]
pub struct RegisterBody {
    /// Email address, at most 254 characters; unique regardless of letter case.
    pub email: String,
    /// 8 to 128 characters.
    #[oai(write_only)]
    pub password: String,
    /// Display name, 1 to 100 characters.
    pub name: String,
}

/// The OAuth 2.0 token request (`application/x-www-form-urlencoded`).
#[derive(Object, Deserialize)]
pub struct TokenForm {
    /// `password` (the default), `refresh_token` or `client_credentials`.
    pub grant_type: Option<String>,
    /// The email, for `grant_type=password`.
    pub username: Option<String>,
    /// The password, for `grant_type=password`.
    #[oai(write_only)]
    pub password: Option<String>,
    /// Space-separated scopes to narrow the grant to.
    pub scope: Option<String>,
    /// The refresh token, for `grant_type=refresh_token`.
    #[oai(write_only)]
    pub refresh_token: Option<String>,
    /// For `client_credentials` with `client_secret_post`: the client's id.
    /// Accepted and ignored for the other grants (the public client).
    pub client_id: Option<String>,
    /// For `client_credentials` with `client_secret_post`: the client's
    /// secret (or use HTTP Basic, `client_secret_basic`, not both).
    #[oai(write_only)]
    pub client_secret: Option<String>,
}

/// JSON login.
#[derive(Object, Deserialize)]
pub struct LoginBody {
    /// The email.
    pub email: String,
    /// The password.
    #[oai(write_only)]
    pub password: String,
    /// Space-separated scopes to narrow the grant to.
    pub scope: Option<String>,
}

/// Login as an OAuth 2.0 form or as JSON.
#[derive(ApiRequest)]
pub enum LoginRequest {
    /// OAuth 2.0 password, refresh-token or client-credentials grant; each
    /// parameter at most once.
    Form(OAuthForm<TokenForm>),
    /// `{email, password}`.
    Json(Json<LoginBody>),
}

/// A refresh token in JSON.
#[derive(Object, Deserialize)]
pub struct RefreshBody {
    /// The refresh token.
    #[oai(write_only)]
    pub refresh_token: String,
}

/// A refresh token as a form with `grant_type=refresh_token`.
#[derive(Object, Deserialize)]
pub struct RefreshForm {
    /// Must be `refresh_token`.
    pub grant_type: String,
    /// The refresh token.
    #[oai(write_only)]
    pub refresh_token: String,
}

/// Refresh as JSON or as an OAuth 2.0 form.
#[derive(ApiRequest)]
pub enum RefreshRequest {
    /// `{refresh_token}`.
    Json(Json<RefreshBody>),
    /// `grant_type=refresh_token&refresh_token=…`.
    Form(Form<RefreshForm>),
}

/// Logged out.
#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// The token's family is revoked (or the token was unknown).
    #[oai(status = 204)]
    Done,
}

/// The `/auth` routes.
pub struct TokenApi {
    /// The account service.
    pub accounts: Accounts,
}

#[OpenApi(tag = "Tag::Auth")]
impl TokenApi {
    /// Create an account and log it in.
    #[oai(path = "/auth/register", method = "post")]
    async fn register(
        &self,
        request: Json<RegisterBody>,
        client: Data<&ClientAddr>,
        user_agent: UserAgent,
    ) -> Result<TokenResponse, ApiError> {
        let Json(RegisterBody {
            email,
            password,
            name,
        }) = request;
        let pair = self
            .accounts
            .register(
                Registration {
                    email,
                    password: SecretString::from(password),
                    name,
                },
                client.0.0,
                user_agent.0.as_deref(),
            )
            .await?;
        let (cache, pragma) = no_store();
        Ok(TokenResponse::Created(body(pair), cache, pragma))
    }

    /// OAuth 2.0 token endpoint: log in, refresh, or get a client's token.
    ///
    /// `grant_type=password` logs a user in (email as `username`),
    /// `refresh_token` renews a pair, and `client_credentials` gives a
    /// confidential client a token (HTTP Basic, or `client_id` +
    /// `client_secret` in the form).
    ///
    /// One identical 401 answers an unknown email, a wrong password and a
    /// disabled user; one identical 401 `invalid_client` an unknown client,
    /// a wrong secret and a disabled client.
    #[oai(path = "/auth/login", method = "post")]
    async fn login(
        &self,
        req: &poem::Request,
        request: LoginRequest,
        client: Data<&ClientAddr>,
        user_agent: UserAgent,
    ) -> Result<TokenResponse, OAuthError> {
        let client = client.0.0;
        let user_agent = user_agent.0.as_deref();
        let pair = match request {
            LoginRequest::Json(Json(LoginBody {
                email,
                password,
                scope,
            })) => {
                self.accounts
                    .login(
                        &email,
                        SecretString::from(password),
                        scope.as_deref(),
                        client,
                        user_agent,
                    )
                    .await?
            }
            LoginRequest::Form(OAuthForm(form)) => {
                match form.grant_type.as_deref().unwrap_or("password") {
                    "password" => {
                        let (Some(username), Some(password)) = (form.username, form.password)
                        else {
                            return Err(ApiError::bad_request(
                                "grant_type=password needs username and password.",
                            )
                            .oauth("invalid_request")
                            .into());
                        };
                        self.accounts
                            .login(
                                &username,
                                SecretString::from(password),
                                form.scope.as_deref(),
                                client,
                                user_agent,
                            )
                            .await?
                    }
                    "refresh_token" => {
                        let Some(token) = form.refresh_token else {
                            return Err(ApiError::bad_request(
                                "grant_type=refresh_token needs refresh_token.",
                            )
                            .oauth("invalid_request")
                            .into());
                        };
                        self.accounts.refresh(&token).await?
                    }
                    "client_credentials" => {
                        let creds = client_auth::client_credentials(
                            req,
                            form.client_id.as_deref(),
                            form.client_secret.as_deref(),
                        )?
                        .ok_or_else(|| client_auth::invalid_client(false))?;
                        let token = self
                            .accounts
                            .client_credentials_grant(&creds, form.scope.as_deref(), client)
                            .await
                            .map_err(|e| client_auth::refusal(e, creds.method))?;
                        let (cache, pragma) = no_store();
                        return Ok(TokenResponse::Ok(client_body(token), cache, pragma));
                    }
                    _ => {
                        return Err(ApiError::bad_request(
                            "grant_type must be password, refresh_token or client_credentials.",
                        )
                        .oauth("unsupported_grant_type")
                        .into());
                    }
                }
            }
        };
        let (cache, pragma) = no_store();
        Ok(TokenResponse::Ok(body(pair), cache, pragma))
    }

    /// Exchange a refresh token for new tokens; the presented one is used up.
    #[oai(path = "/auth/refresh", method = "post")]
    async fn refresh(&self, request: RefreshRequest) -> Result<TokenResponse, OAuthError> {
        let token = match request {
            RefreshRequest::Json(Json(b)) => b.refresh_token,
            RefreshRequest::Form(Form(f)) => {
                if f.grant_type != "refresh_token" {
                    return Err(ApiError::bad_request("grant_type must be refresh_token.")
                        .oauth("unsupported_grant_type")
                        .into());
                }
                f.refresh_token
            }
        };
        let pair = self.accounts.refresh(&token).await?;
        let (cache, pragma) = no_store();
        Ok(TokenResponse::Ok(body(pair), cache, pragma))
    }

    /// Revoke a refresh token's whole family.
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout(&self, request: Json<RefreshBody>) -> Result<LogoutResponse, ApiError> {
        self.accounts.logout(&request.0.refresh_token).await?;
        Ok(LogoutResponse::Done)
    }
}
