//! What wraps every route: the client address and a request id on every log
//! line, the input limits (64 KiB bodies, 8 KiB `Authorization` headers), the
//! conversion of every error into problem+json, and on the OAuth 2.0
//! endpoints the reshaping of those problems into `application/json` with an
//! RFC 6749 §5.2 `error` (`oauth_errors`), whoever raised them.

use std::time::Instant;

use poem::http::{HeaderName, HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use tracing::Instrument;
use uuid::Uuid;

use super::client_addr::{ClientAddr, TrustedProxies};
use super::problem::{ApiError, error_description, oauth_code};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{ACCESS_TARGET, ClientField};

/// Largest request body accepted (SPEC §2).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest `Authorization` header accepted. sigil's own tokens stay under
/// 1.5 KiB even with RSA-4096 keys; anything far larger is refused before it
/// is decoded or parsed.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// Header carrying the request id, in both directions.
pub const REQUEST_ID: &str = "x-request-id";

/// Refuses an `Authorization` header over [`MAX_AUTHORIZATION_BYTES`] with 431,
/// and bodies over [`MAX_BODY_BYTES`] with 413 whether or not they declare a
/// `Content-Length`, before any handler reads them.
pub async fn limit_input<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let authorization: usize = req
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(|v| v.len())
        .sum();
    if authorization > MAX_AUTHORIZATION_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Some("header-too-large"),
            "Authorization header too large",
            format!(
                "The Authorization header is limited to {} KiB.",
                MAX_AUTHORIZATION_BYTES / 1024
            ),
        )
        .into());
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large().into());
    }
    let body = req.take_body();
    if !body.is_empty() {
        match body.into_bytes_limit(MAX_BODY_BYTES).await {
            Ok(bytes) if is_form(&req) && !form_is_utf8(&bytes) => {
                return Err(ApiError::bad_request(
                    "The form body is not valid UTF-8 once percent-decoded.",
                )
                .into());
            }
            Ok(bytes) => req.set_body(bytes),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => return Err(too_large().into()),
            Err(_) => {
                return Err(ApiError::bad_request("The request body could not be read.").into());
            }
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

fn is_form(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// Whether every name and value of a form decodes to UTF-8. The form parser
/// behind the handlers replaces bad bytes with U+FFFD, which would let
/// different byte strings reach the password check as one string.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|b| *b == b'&')
        .flat_map(|pair| pair.split(|b| *b == b'='))
        .all(|part| percent_encoding::percent_decode(part).decode_utf8().is_ok())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Some("too-large"),
        "Request body too large",
        format!(
            "Request bodies are limited to {} KiB.",
            MAX_BODY_BYTES / 1024
        ),
    )
}

/// Turns any error that reached the top into a problem+json response. Our own
/// [`ApiError`]s already are (and `OAuthError`s are their `application/json`
/// form); poem's and poem-openapi's get one here.
pub async fn to_problem(err: poem::Error) -> Response {
    if err.is::<AuthorizationError>() {
        return ApiError::missing_bearer().into_response();
    }
    let status = err.status();
    let converted = if err.is::<ParseRequestPayloadError>() {
        Some(ApiError::bad_request(
            "The request body is malformed or does not match the expected schema.",
        ))
    } else if err.is::<ParseParamError>() || err.is::<ParsePathError>() {
        // Parameter names and the reason carry no secrets (no parameter is one).
        Some(ApiError::bad_request(err.to_string()))
    } else if err.is::<ContentTypeError>() {
        Some(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported-media-type"),
            "Unsupported media type",
            "This route does not accept the request's Content-Type.",
        ))
    } else {
        None
    };
    if let Some(problem) = converted {
        return problem.into_response();
    }
    let response = err.into_response();
    // Our own errors: problem+json, or an `OAuthError`'s `application/json`
    // (poem's own errors are plain text).
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            let v = v.as_bytes();
            v.starts_with(b"application/problem+json") || v.starts_with(b"application/json")
        });
    if is_problem {
        return response;
    }
    let (title, detail) = match status {
        StatusCode::NOT_FOUND => ("Not found", "No route matches this path."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Method not allowed",
            "This route does not accept this method.",
        ),
        s if s.is_server_error() => {
            tracing::error!(status = s.as_u16(), "unhandled server error");
            (
                "Internal server error",
                "Something went wrong on our side; it has been logged.",
            )
        }
        _ => ("Bad request", "The request could not be processed."),
    };
    let mut problem = ApiError::new(status, None, title, detail).into_response();
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}

/// The OAuth 2.0 endpoints, whose errors are `application/json` with an
/// `error` member (SPEC §2).
pub const OAUTH_ENDPOINTS: &[&str] = &[
    "/auth/login",
    "/auth/refresh",
    "/oauth/revoke",
    "/oauth/introspect",
];

/// On the [`OAUTH_ENDPOINTS`], turns a problem+json error that reached the
/// top (an unreadable form, a wrong content type, a body over the limit, a
/// wrong method: refused before any handler ran) into the same document as
/// `application/json` with `error` and `error_description`, the code chosen
/// by [`oauth_code`]. Handlers there answer [`OAuthError`](super::problem::OAuthError)s,
/// which already have that shape and pass unchanged.
pub async fn oauth_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let oauth = OAUTH_ENDPOINTS.contains(&req.uri().path());
    let response = next.call(req).await?.into_response();
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !oauth || !is_problem || !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (mut parts, body) = response.into_parts();
    let bytes = body.into_vec().await.unwrap_or_default();
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let Some(members) = doc.as_object_mut() else {
        tracing::error!(
            status = status.as_u16(),
            "a problem body is not a JSON object"
        );
        return Ok(ApiError::internal().into_response());
    };
    let code = oauth_code(status, challenge.as_deref());
    members
        .entry("error")
        .or_insert_with(|| serde_json::Value::from(code));
    let description = members
        .get("detail")
        .and_then(|d| d.as_str())
        .map(error_description)
        .unwrap_or_default();
    members.insert("error_description".to_owned(), description.into());
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, doc.to_string().into()))
}

/// What [`trace_request`] needs besides the request.
pub struct Observe {
    /// Proxies whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    /// The routes, whose templates label the metrics.
    pub routes: std::sync::Arc<super::allow::AllowedMethods>,
    /// Where each request is counted and timed.
    pub metrics: std::sync::Arc<Metrics>,
}

/// Gives each request an id (the client's `X-Request-Id` if it is sane, else a
/// new UUID) and its [`ClientAddr`], runs it inside a span carrying both, logs
/// one line and counts it in the metrics when it ends, and returns the id in
/// the response. A request whose trusted proxy names no client is answered
/// 400 here, before any route (see [`client_addr`](super::client_addr)).
pub async fn trace_request<E: Endpoint>(
    next: E,
    mut req: Request,
    observe: &Observe,
) -> poem::Result<Response> {
    // Nothing here allocates for the log but the line itself: the id is kept
    // on the stack, and the span's fields format straight into the span's
    // record.
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map_or_else(RequestId::generate, RequestId::copy);
    let (client, unusable) = match super::client_addr::client_of(&observe.proxies, &req) {
        Ok(client) => (client, None),
        // Logged as the proxy; the request goes no further.
        Err(why) => (
            req.remote_addr().as_socket_addr().map(|a| a.ip()),
            Some(why),
        ),
    };
    let route = observe.routes.route_of(req.uri().path());
    let method = req.method().clone();
    req.extensions_mut().insert(ClientAddr(client));
    let span = tracing::info_span!(
        "request",
        id = %id.as_str(),
        method = %method,
        path = %req.uri().path(),
        client = %ClientField(client)
    );
    let started = Instant::now();
    let result = match unusable {
        None => next
            .call(req)
            .instrument(span.clone())
            .await
            .map(IntoResponse::into_response),
        // No route may run without knowing its client: refused here, in the
        // shape of the route's errors (`oauth_errors`).
        Some(why) => {
            span.in_scope(|| tracing::warn!(reason = %why, "a trusted proxy's forwarding headers name no client; refused"));
            let refuse = poem::endpoint::make(move |_| async move { why.refusal() });
            oauth_errors(refuse, req).await
        }
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => to_problem(e).await,
    };
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    observe
        .metrics
        .request(route, method.as_str(), status, elapsed);
    let elapsed_ms = elapsed * 1000.0;
    // The access log: one line per request, its own target so that
    // `RUST_LOG=…,sigil::access=off` turns exactly it off.
    span.in_scope(|| tracing::info!(target: ACCESS_TARGET, status, elapsed_ms, "request finished"));
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    Ok(response)
}

/// The header [`REQUEST_ID`], parsed once.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);

/// A request id, on the stack: a sane client one ([`is_sane_request_id`],
/// at most 64 bytes) or a new UUID.
struct RequestId {
    bytes: [u8; 64],
    len: usize,
}

impl RequestId {
    fn generate() -> RequestId {
        let mut bytes = [0u8; 64];
        let len = Uuid::new_v4().hyphenated().encode_lower(&mut bytes).len();
        RequestId { bytes, len }
    }

    /// `id` must be sane (so at most 64 bytes, all ASCII).
    fn copy(id: &str) -> RequestId {
        let mut bytes = [0u8; 64];
        let len = id.len().min(bytes.len());
        bytes[..len].copy_from_slice(&id.as_bytes()[..len]);
        RequestId { bytes, len }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever copied in (a UUID, or a sane id, cut at most at
        // a byte boundary of ASCII).
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("-")
    }
}

/// At most 64 characters of letters, digits, `-`, `_`, `.` — nothing that could
/// forge log lines or carry a payload.
fn is_sane_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_sane_request_id;

    #[test]
    fn form_bodies_must_decode_to_utf8() {
        assert!(super::form_is_utf8(
            b"username=a%40b.c&password=p%C3%A4ss+word"
        ));
        assert!(!super::form_is_utf8(b"password=%FF%FE"));
        assert!(!super::form_is_utf8(b"password=\xff"));
        assert!(!super::form_is_utf8(b"pass%C3=x"));
    }

    #[test]
    fn request_ids_from_clients_must_be_short_and_plain() {
        assert!(is_sane_request_id("7f1c2a9e-0b1d-4f0e-9a77-3c3f0e5e6a11"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id("x\nlevel=error"));
        assert!(!is_sane_request_id(&"a".repeat(65)));
    }
}
