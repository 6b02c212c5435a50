//! Client authentication at the OAuth 2.0 endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic` — `Authorization: Basic base64(urlencode(id) ":"
//! urlencode(secret))`, the id and secret form-urlencoded before base64 —
//! and `client_secret_post` — `client_id` and `client_secret` in the form.
//!
//! What is refused, and how (RFC 6749 §5.2):
//! - both methods at once (a secret in the header and in the form, or two
//!   different ids), or several `Authorization` headers: 400
//!   `invalid_request` — the request is ambiguous, not failed authentication;
//! - a malformed Basic credential (not base64, not UTF-8, no colon, bad
//!   percent-encoding, control characters such as `%00`, an empty id, longer
//!   than [`MAX_BASIC_CREDENTIALS`]): 401 `invalid_client`, as a failed
//!   authentication, never a 5xx;
//! - failed authentication: 401 `invalid_client`, with
//!   `WWW-Authenticate: Basic realm="sigil"` whenever Basic was tried.
//!
//! The endpoints call [`client_credentials`] to read what was presented and
//! `Accounts::authenticate_client` to check it, mapping its refusal with
//! [`refusal`]:
//!
//! ```ignore
//! let creds = client_auth::client_credentials(req, form.client_id.as_deref(), form.client_secret.as_deref())?;
//! let client = match creds {
//!     Some(creds) => Some(accounts.authenticate_client(&creds, client_addr).await
//!         .map_err(|e| client_auth::refusal(e, creds.method))?),
//!     None => None,
//! };
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use poem::Request;
use poem::http::header;
use secrecy::SecretString;

use super::oauth_form::decode;
use super::problem::ApiError;
use crate::accounts::{AccountError, ClientAuthMethod, ClientCredentials};

/// Longest base64 credential of a Basic header: far above any id and secret
/// sigil makes (under 100 characters), low enough to refuse junk before
/// decoding it.
pub const MAX_BASIC_CREDENTIALS: usize = 1024;

/// The challenge sent when Basic was tried and failed.
pub const BASIC_CHALLENGE: &str = r#"Basic realm="sigil""#;

/// The client credentials presented with `req` (Basic) or in the form
/// (`form_id`, `form_secret`); `Ok(None)` when there are none. A form
/// `client_id` alone (a public client naming itself) is no credential.
pub fn client_credentials(
    req: &Request,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<Option<ClientCredentials>, ApiError> {
    let mut authorization = req.headers().get_all(header::AUTHORIZATION).iter();
    let first = authorization.next();
    if authorization.next().is_some() {
        return Err(ambiguous("Send one Authorization header."));
    }
    let basic = match first {
        Some(value) => basic_credential(value.as_bytes())?,
        None => None,
    };
    match (basic, form_secret) {
        (Some(_), Some(_)) => Err(ambiguous(
            "Authenticate the client with HTTP Basic or with client_secret in the form, not both.",
        )),
        (Some(creds), None) => match form_id {
            Some(id) if id != creds.client_id => Err(ambiguous(
                "The form's client_id is not the client of the Authorization header.",
            )),
            _ => Ok(Some(creds)),
        },
        (None, Some(secret)) => {
            let id = form_id.filter(|id| !id.is_empty() && !has_control(id));
            match id {
                Some(id) if !has_control(secret) => Ok(Some(ClientCredentials {
                    client_id: id.to_owned(),
                    secret: SecretString::from(secret.to_owned()),
                    method: ClientAuthMethod::Post,
                })),
                _ => Err(invalid_client(false)),
            }
        }
        (None, None) => Ok(None),
    }
}

/// 401 `invalid_client`, with the Basic challenge when Basic was tried.
pub fn invalid_client(basic_tried: bool) -> ApiError {
    refusal(AccountError::BadClient, basic_tried_method(basic_tried))
}

/// A refusal of `Accounts::authenticate_client` (or of a grant that
/// authenticates) as an answer: [`AccountError::BadClient`] gets the Basic
/// challenge when the client used Basic.
pub fn refusal(e: AccountError, method: ClientAuthMethod) -> ApiError {
    let challenge = matches!(e, AccountError::BadClient) && method == ClientAuthMethod::Basic;
    let mut error = ApiError::from(e);
    if challenge && let ApiError::Client(_, _, www_authenticate, _) = &mut error {
        *www_authenticate = Some(BASIC_CHALLENGE.to_owned());
    }
    error
}

fn basic_tried_method(basic_tried: bool) -> ClientAuthMethod {
    if basic_tried {
        ClientAuthMethod::Basic
    } else {
        ClientAuthMethod::Post
    }
}

fn ambiguous(detail: &str) -> ApiError {
    ApiError::bad_request(detail).oauth("invalid_request")
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// Reads `Basic <credentials>`; another scheme is no client credential.
fn basic_credential(value: &[u8]) -> Result<Option<ClientCredentials>, ApiError> {
    let Some(space) = value.iter().position(|b| *b == b' ') else {
        if value.eq_ignore_ascii_case(b"basic") {
            return Err(invalid_client(true));
        }
        return Ok(None);
    };
    if !value[..space].eq_ignore_ascii_case(b"basic") {
        return Ok(None);
    }
    let encoded = value[space + 1..].trim_ascii();
    let bad = || invalid_client(true);
    if encoded.is_empty() || encoded.len() > MAX_BASIC_CREDENTIALS {
        return Err(bad());
    }
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| bad())?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or_else(bad)?;
    let id = decode(&decoded[..colon]).map_err(|_| bad())?;
    let secret = decode(&decoded[colon + 1..]).map_err(|_| bad())?;
    if id.is_empty() || has_control(&id) || has_control(&secret) {
        return Err(bad());
    }
    Ok(Some(ClientCredentials {
        client_id: id,
        secret: SecretString::from(secret),
        method: ClientAuthMethod::Basic,
    }))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn basic(raw: &str) -> Result<Option<ClientCredentials>, ApiError> {
        basic_credential(format!("Basic {}", STANDARD.encode(raw)).as_bytes())
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        let creds = basic("svc%3Aone:s%2Bcr%20t+x").unwrap().unwrap();
        assert_eq!(creds.client_id, "svc:one");
        assert_eq!(creds.secret.expose_secret(), "s+cr t x");
        assert_eq!(creds.method, ClientAuthMethod::Basic);
    }

    #[test]
    fn malformed_basic_credentials_are_invalid_client_with_the_challenge() {
        for raw in ["no-colon", "id:%ZZ", "id:%00", ":secret", "id%0A:secret"] {
            let refused = basic(raw).unwrap_err();
            assert_eq!(refused.problem().status, 401, "{raw}");
            assert_eq!(refused.problem().error.as_deref(), Some("invalid_client"));
            assert!(
                matches!(&refused, ApiError::Client(_, _, Some(c), _) if c == BASIC_CHALLENGE),
                "{raw}"
            );
        }
        assert!(basic_credential(b"Basic !!!not base64").is_err());
        let not_utf8 = format!("Basic {}", STANDARD.encode(b"id:\xff\xfe"));
        assert!(basic_credential(not_utf8.as_bytes()).is_err());
        let long = format!("Basic {}", "A".repeat(MAX_BASIC_CREDENTIALS + 4));
        assert!(basic_credential(long.as_bytes()).is_err());
    }

    #[test]
    fn other_schemes_are_no_client_credentials() {
        assert!(basic_credential(b"Bearer abc").unwrap().is_none());
        assert!(basic_credential(b"Bearer").unwrap().is_none());
        assert!(basic_credential(b"Basic").is_err());
    }
}
