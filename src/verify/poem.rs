//! Bearer authentication for poem: the [`BearerAuth`] middleware checks the
//! request's bearer token with a shared [`JwksVerifier`], optionally requires
//! one scope, and puts the [`AccessClaims`] in the request's data, where
//! handlers take them with `Data<&AccessClaims>`. Refused requests never
//! reach the endpoint; they get the answers sigil's own routes give (401 and
//! 403 with RFC 6750 `WWW-Authenticate`, 503 when the issuer's keys are
//! unavailable, problem+json bodies).
//!
//! ```no_run
//! use std::sync::Arc;
//! use poem::{EndpointExt, Route, get, handler, web::Data};
//! use sigil::jose::AccessClaims;
//! use sigil::verify::{JwksVerifier, poem::BearerAuth};
//!
//! #[handler]
//! fn orders(Data(claims): Data<&AccessClaims>) -> String {
//!     format!("orders of {}", claims.sub)
//! }
//!
//! # fn app() -> Result<impl poem::Endpoint, Box<dyn std::error::Error>> {
//! let verifier = Arc::new(JwksVerifier::new(
//!     "https://auth.example.com/.well-known/jwks.json".parse()?,
//!     "https://auth.example.com",
//!     "https://auth.example.com",
//! ));
//! let app = Route::new()
//!     .at("/orders", get(orders))
//!     .with(BearerAuth::new(verifier).require_scope("orders"));
//! # Ok(app)
//! # }
//! ```

use std::sync::Arc;

use ::poem::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use ::poem::http::{HeaderValue, StatusCode};
use ::poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::JwksVerifier;
use super::refusal::{PROBLEM_JSON, Refusal, authorize};
#[cfg(doc)]
use crate::jose::AccessClaims;

/// A poem [`Middleware`] that lets through only requests with a valid bearer
/// token (and the required scope, if any), with their [`AccessClaims`] in
/// the request data.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    verifier: Arc<JwksVerifier>,
    scope: Option<Arc<str>>,
}

impl BearerAuth {
    /// Checks bearer tokens with `verifier`; any valid token passes.
    pub fn new(verifier: Arc<JwksVerifier>) -> Self {
        BearerAuth {
            verifier,
            scope: None,
        }
    }

    /// Also requires `scope` among the token's scopes; a valid token without
    /// it gets 403 `insufficient_scope`.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into().into());
        self
    }
}

impl<E: Endpoint> Middleware<E> for BearerAuth {
    type Output = BearerAuthEndpoint<E>;

    fn transform(&self, inner: E) -> BearerAuthEndpoint<E> {
        BearerAuthEndpoint {
            inner,
            verifier: Arc::clone(&self.verifier),
            scope: self.scope.clone(),
        }
    }
}

/// The endpoint [`BearerAuth`] wraps around `E`.
#[derive(Debug)]
pub struct BearerAuthEndpoint<E> {
    inner: E,
    verifier: Arc<JwksVerifier>,
    scope: Option<Arc<str>>,
}

impl<E: Endpoint> Endpoint for BearerAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> ::poem::Result<Response> {
        let authorization = request.headers().get(AUTHORIZATION).cloned();
        let checked = authorize(
            &self.verifier,
            authorization.as_ref().map(HeaderValue::as_bytes),
            self.scope.as_deref(),
        )
        .await;
        match checked {
            Ok(claims) => {
                request.extensions_mut().insert(claims);
                self.inner
                    .call(request)
                    .await
                    .map(IntoResponse::into_response)
            }
            Err(refusal) => Ok(refused(refusal)),
        }
    }
}

/// The response for a refusal.
fn refused(refusal: Refusal) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(CONTENT_TYPE, PROBLEM_JSON)
        .body(refusal.body);
    // Challenges are built from fixed text and the configured scope; a scope
    // that cannot be a header value loses only the challenge.
    if let Some(value) = refusal
        .www_authenticate
        .and_then(|challenge| HeaderValue::try_from(challenge).ok())
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}
