//! Bearer authentication for any tower stack (axum, tonic, hyper…):
//! [`BearerAuthLayer`] checks the request's bearer token with a shared
//! [`JwksVerifier`], optionally requires one scope, and hands the
//! [`AccessClaims`] to the inner service in the request's extensions. Refused
//! requests never reach the inner service; they get the answers sigil's own
//! routes give (401 and 403 with RFC 6750 `WWW-Authenticate`, 503 when the
//! issuer's keys are unavailable, problem+json bodies).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Extension, Router, routing::get};
//! use sigil::jose::AccessClaims;
//! use sigil::verify::{JwksVerifier, tower::BearerAuthLayer};
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let verifier = Arc::new(JwksVerifier::new(
//!     "https://auth.example.com/.well-known/jwks.json".parse()?,
//!     "https://auth.example.com",
//!     "https://auth.example.com",
//! ));
//! let app = Router::new()
//!     .route("/orders", get(|Extension(claims): Extension<AccessClaims>| async move {
//!         format!("orders of {}", claims.sub)
//!     }))
//!     .layer(BearerAuthLayer::new(verifier).require_scope("orders"));
//! # Ok(app)
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

use super::JwksVerifier;
use super::refusal::{PROBLEM_JSON, Refusal, authorize};
#[cfg(doc)]
use crate::jose::AccessClaims;

/// A [`tower_layer::Layer`] that lets through only requests with a valid
/// bearer token (and the required scope, if any), with their
/// [`AccessClaims`] in the request extensions.
#[derive(Debug, Clone)]
pub struct BearerAuthLayer {
    verifier: Arc<JwksVerifier>,
    scope: Option<Arc<str>>,
}

impl BearerAuthLayer {
    /// Checks bearer tokens with `verifier`; any valid token passes.
    pub fn new(verifier: Arc<JwksVerifier>) -> Self {
        BearerAuthLayer {
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

impl<S> tower_layer::Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> BearerAuth<S> {
        BearerAuth {
            inner,
            verifier: Arc::clone(&self.verifier),
            scope: self.scope.clone(),
        }
    }
}

/// The service [`BearerAuthLayer`] wraps around `S`.
#[derive(Debug, Clone)]
pub struct BearerAuth<S> {
    inner: S,
    verifier: Arc<JwksVerifier>,
    scope: Option<Arc<str>>,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for BearerAuth<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready serves this request; the clone
        // left in its place is polled for the next one.
        let replacement = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, replacement);
        let verifier = Arc::clone(&self.verifier);
        let scope = self.scope.clone();
        Box::pin(async move {
            let authorization = request.headers().get(AUTHORIZATION).cloned();
            let checked = authorize(
                &verifier,
                authorization.as_ref().map(HeaderValue::as_bytes),
                scope.as_deref(),
            )
            .await;
            match checked {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    let response = inner.call(request).await?;
                    Ok(response.map(|body| ResponseBody {
                        kind: Kind::Inner { body },
                    }))
                }
                Err(refusal) => Ok(refused(refusal)),
            }
        })
    }
}

/// The response for a refusal.
fn refused<B>(refusal: Refusal) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody {
        kind: Kind::Problem {
            body: Some(Bytes::from(refusal.body)),
        },
    });
    *response.status_mut() =
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    // Challenges are built from fixed text and the configured scope; a scope
    // that cannot be a header value loses only the challenge.
    if let Some(value) = refusal
        .www_authenticate
        .and_then(|challenge| HeaderValue::try_from(challenge).ok())
    {
        headers.insert(WWW_AUTHENTICATE, value);
    }
    response
}

pin_project! {
    /// The body of a response from behind [`BearerAuth`]: the inner
    /// service's body, or the problem document of a refusal.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Problem { body: Option<Bytes> },
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Problem { .. } => "problem",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

impl<B> http_body::Body for ResponseBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProjection::Inner { body } => body.poll_frame(cx),
            KindProjection::Problem { body } => {
                Poll::Ready(body.take().map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Problem { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Problem { body } => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
