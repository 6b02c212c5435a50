//! Arbitrary requests to the whole application in process (every middleware,
//! every route): register, login as a form and as JSON, refresh, logout,
//! `PATCH /admin/users/{id}` and the bearer routes, and the OAuth 2.0 routes
//! of SPEC §7 (client credentials at the token endpoint, `/oauth/revoke`,
//! `/oauth/introspect`, `/admin/clients…`, `/me/sessions…`), with bodies that
//! are raw bytes, near-valid JSON or forms, under any content type, with or
//! without a valid token or client authentication, and with HTTP Basic
//! headers good, wrong and malformed. No answer may be a 5xx; every error must
//! be problem+json carrying its status, or on the OAuth 2.0 endpoints
//! application/json with an `error` code as well (see `Harness::send`).
//! Some requests are abandoned part-way, as a client that hangs up; no
//! hashing slot may stay taken afterwards (see `Harness::abandon`).
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use poem::Request;
use poem::http::{HeaderValue, Method, Uri, header};
use serde_json::{Map, Value, json};
use sigil_fuzz::http::{ADMIN_EMAIL, Harness, PASSWORD, USER_EMAIL, basic_auth};

#[derive(Arbitrary, Debug)]
struct Case {
    route: Route,
    method: MethodPick,
    content_type: ContentType,
    auth: Auth,
    body: Body,
    /// `Some(n)`: the client hangs up after the request was polled `n`
    /// times (a reset connection, a cancelled HTTP/2 stream).
    abandon: Option<u8>,
}

#[derive(Arbitrary, Debug)]
enum Route {
    Register,
    Login,
    Refresh,
    Logout,
    PatchUser(UserRef),
    ListUsers(String),
    Me,
    Revoke,
    Introspect,
    Sessions,
    DeleteSession(SessionRef),
    ListClients(String),
    CreateClient,
    PatchClient(ClientRef),
    RotateSecret(ClientRef),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum UserRef {
    TheUser,
    Unknown,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum ClientRef {
    TheClient,
    Unknown,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum SessionRef {
    Unknown,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum MethodPick {
    /// The route's own method.
    Natural,
    Get,
    Put,
    Delete,
    Options,
}

#[derive(Arbitrary, Debug)]
enum ContentType {
    Json,
    JsonWithCharset,
    Form,
    ProblemJson,
    Text,
    Missing,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    Admin,
    User,
    /// The confidential client's own access token as a bearer.
    Client,
    /// `client_secret_basic` with the right secret.
    ClientBasic,
    /// The client's id with another secret.
    ClientBasicWrongSecret(String),
    /// Any id and secret, form-urlencoded and base64 as they should be.
    Basic(String, String),
    /// `Basic ` and base64 of any bytes: no colon, not UTF-8, `%` tricks.
    BasicBytes(Vec<u8>),
    /// `Basic ` and any text (not base64 at all).
    BasicRaw(String),
    /// A long Basic header (this many KiB of base64).
    BasicLong(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Empty,
    Raw(Vec<u8>),
    Json(Vec<(Key, Field)>),
    Form(Vec<(Key, Scalar)>),
    /// Just over the 64 KiB limit, by this many bytes.
    Oversized(u8),
}

#[derive(Arbitrary, Debug)]
enum Key {
    Email,
    Password,
    Name,
    Username,
    GrantType,
    Scope,
    RefreshToken,
    ClientId,
    Scopes,
    Disabled,
    ClientSecret,
    Token,
    TokenTypeHint,
    Audience,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Field {
    Scalar(Scalar),
    Array(Vec<Scalar>),
    Object(Vec<(Key, Scalar)>),
}

#[derive(Arbitrary, Debug)]
enum Scalar {
    NewEmail(u32),
    AdminEmail,
    UserEmail,
    Password,
    LiveRefreshToken,
    GrantPassword,
    GrantRefreshToken,
    GrantClientCredentials,
    TheClientId,
    TheClientSecret,
    AdminAccessToken,
    UserAccessToken,
    ClientAccessToken,
    HintAccessToken,
    HintRefreshToken,
    Admin,
    Profile,
    Str(String),
    /// A string of this many copies of a character (length limits).
    Repeat(char, u16),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Key {
    fn name(&self) -> String {
        let known = match self {
            Key::Email => "email",
            Key::Password => "password",
            Key::Name => "name",
            Key::Username => "username",
            Key::GrantType => "grant_type",
            Key::Scope => "scope",
            Key::RefreshToken => "refresh_token",
            Key::ClientId => "client_id",
            Key::Scopes => "scopes",
            Key::Disabled => "disabled",
            Key::ClientSecret => "client_secret",
            Key::Token => "token",
            Key::TokenTypeHint => "token_type_hint",
            Key::Audience => "audience",
            Key::Other(name) => return name.clone(),
        };
        known.to_owned()
    }
}

impl Scalar {
    fn to_json(&self, h: &Harness) -> Value {
        match self {
            Scalar::NewEmail(n) => json!(format!("fuzz-{n}@example.com")),
            Scalar::AdminEmail => json!(ADMIN_EMAIL),
            Scalar::UserEmail => json!(USER_EMAIL),
            Scalar::Password => json!(PASSWORD),
            Scalar::LiveRefreshToken => json!(h.refresh_token),
            Scalar::GrantPassword => json!("password"),
            Scalar::GrantRefreshToken => json!("refresh_token"),
            Scalar::GrantClientCredentials => json!("client_credentials"),
            Scalar::TheClientId => json!(h.client_id),
            Scalar::TheClientSecret => json!(h.client_secret),
            Scalar::AdminAccessToken => json!(h.admin_token),
            Scalar::UserAccessToken => json!(h.user_token),
            Scalar::ClientAccessToken => json!(h.client_token),
            Scalar::HintAccessToken => json!("access_token"),
            Scalar::HintRefreshToken => json!("refresh_token"),
            Scalar::Admin => json!("admin"),
            Scalar::Profile => json!("profile"),
            Scalar::Str(s) => json!(s),
            Scalar::Repeat(c, n) => json!(String::from(*c).repeat(usize::from(*n) % 300)),
            Scalar::Int(n) => json!(n),
            Scalar::Float(x) => json!(x),
            Scalar::Bool(b) => json!(b),
            Scalar::Null => Value::Null,
        }
    }

    fn to_text(&self, h: &Harness) -> String {
        match self.to_json(h) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Like [`encode`], but keeps `=` and `&` so a query keeps its structure.
fn encode_query(text: &str) -> String {
    text.split('&')
        .map(|pair| pair.split('=').map(encode).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `{id}` of a client route.
fn client_path(client: &ClientRef, h: &Harness) -> String {
    match client {
        ClientRef::TheClient => encode(&h.client_id),
        ClientRef::Unknown => "00000000-0000-4000-8000-000000000000".to_owned(),
        ClientRef::Raw(raw) => encode(raw),
    }
}

fn body_bytes(body: &Body, h: &Harness) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::Raw(bytes) => bytes.clone(),
        Body::Json(members) => {
            let object: Map<String, Value> = members
                .iter()
                .map(|(k, f)| {
                    let value = match f {
                        Field::Scalar(s) => s.to_json(h),
                        Field::Array(all) => {
                            Value::Array(all.iter().map(|s| s.to_json(h)).collect())
                        }
                        Field::Object(members) => Value::Object(
                            members
                                .iter()
                                .map(|(k, s)| (k.name(), s.to_json(h)))
                                .collect(),
                        ),
                    };
                    (k.name(), value)
                })
                .collect();
            Value::Object(object).to_string().into_bytes()
        }
        Body::Form(pairs) => pairs
            .iter()
            .map(|(k, s)| format!("{}={}", encode(&k.name()), encode(&s.to_text(h))))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        Body::Oversized(extra) => vec![b'a'; 64 * 1024 + 1 + usize::from(*extra)],
    }
}

fuzz_target!(|case: Case| {
    let h = Harness::get();
    let (natural, path, documented) = match &case.route {
        Route::Register => (Method::POST, "/auth/register".to_owned(), true),
        Route::Login => (Method::POST, "/auth/login".to_owned(), true),
        Route::Refresh => (Method::POST, "/auth/refresh".to_owned(), true),
        Route::Logout => (Method::POST, "/auth/logout".to_owned(), true),
        Route::PatchUser(user) => {
            let id = match user {
                UserRef::TheUser => h.user_id.to_string(),
                UserRef::Unknown => "00000000-0000-4000-8000-000000000000".to_owned(),
                UserRef::Raw(raw) => encode(raw),
            };
            (Method::PATCH, format!("/admin/users/{id}"), true)
        }
        Route::ListUsers(query) => (
            Method::GET,
            format!("/admin/users?{}", encode_query(query)),
            true,
        ),
        Route::Me => (Method::GET, "/me".to_owned(), true),
        // RFC 7009 says nothing of the success body: only errors are judged.
        Route::Revoke => (Method::POST, "/oauth/revoke".to_owned(), false),
        Route::Introspect => (Method::POST, "/oauth/introspect".to_owned(), true),
        Route::Sessions => (Method::GET, "/me/sessions".to_owned(), true),
        Route::DeleteSession(session) => {
            let id = match session {
                SessionRef::Unknown => "00000000-0000-4000-8000-000000000000".to_owned(),
                SessionRef::Raw(raw) => encode(raw),
            };
            (Method::DELETE, format!("/me/sessions/{id}"), true)
        }
        Route::ListClients(query) => (
            Method::GET,
            format!("/admin/clients?{}", encode_query(query)),
            true,
        ),
        Route::CreateClient => (Method::POST, "/admin/clients".to_owned(), true),
        Route::PatchClient(client) => (
            Method::PATCH,
            format!("/admin/clients/{}", client_path(client, h)),
            true,
        ),
        Route::RotateSecret(client) => (
            Method::POST,
            format!("/admin/clients/{}/secret", client_path(client, h)),
            true,
        ),
        Route::Other(path) => (Method::GET, format!("/{}", encode_query(path)), false),
    };
    let method = match case.method {
        MethodPick::Natural => natural,
        MethodPick::Get => Method::GET,
        MethodPick::Put => Method::PUT,
        MethodPick::Delete => Method::DELETE,
        MethodPick::Options => Method::OPTIONS,
    };
    let Ok(uri) = path.parse::<Uri>() else {
        return;
    };
    let mut request = Request::builder().method(method).uri(uri);
    let content_type = match &case.content_type {
        ContentType::Json => Some("application/json".to_owned()),
        ContentType::JsonWithCharset => Some("application/json; charset=utf-8".to_owned()),
        ContentType::Form => Some("application/x-www-form-urlencoded".to_owned()),
        ContentType::ProblemJson => Some("application/problem+json".to_owned()),
        ContentType::Text => Some("text/plain".to_owned()),
        ContentType::Missing => None,
        ContentType::Raw(raw) => Some(raw.clone()),
    };
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_str(&v).ok()) {
        request = request.header(header::CONTENT_TYPE, value);
    }
    let authorization = match &case.auth {
        Auth::None => None,
        Auth::Admin => Some(format!("Bearer {}", h.admin_token)),
        Auth::User => Some(format!("Bearer {}", h.user_token)),
        Auth::Client => Some(format!("Bearer {}", h.client_token)),
        Auth::ClientBasic => Some(basic_auth(&h.client_id, &h.client_secret)),
        Auth::ClientBasicWrongSecret(secret) => Some(basic_auth(&h.client_id, secret)),
        Auth::Basic(id, secret) => Some(basic_auth(id, secret)),
        Auth::BasicBytes(bytes) => Some(format!("Basic {}", STANDARD.encode(bytes))),
        Auth::BasicRaw(raw) => Some(format!("Basic {raw}")),
        Auth::BasicLong(kib) => Some(format!(
            "Basic {}",
            STANDARD.encode(vec![b'a'; 1024 * (1 + usize::from(*kib) % 16)])
        )),
        Auth::Raw(raw) => Some(raw.clone()),
    };
    if let Some(value) = authorization.and_then(|v| HeaderValue::from_str(&v).ok()) {
        request = request.header(header::AUTHORIZATION, value);
    }
    let request = request.body(body_bytes(&case.body, h));
    // Undocumented paths may answer HTML (/docs) or text; errors are checked
    // everywhere.
    match case.abandon {
        Some(polls) => h.abandon(request, polls),
        None => {
            h.send(request, documented);
        }
    }
});
