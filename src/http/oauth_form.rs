//! The form of the OAuth 2.0 endpoints (`application/x-www-form-urlencoded`),
//! read strictly: RFC 6749 §3.1 and §3.2 say a parameter MUST NOT appear
//! more than once, so a repeated one (`grant_type=password&grant_type=…`) is
//! 400 `invalid_request` instead of one copy winning silently. poem's own
//! `Form` leaves that to serde, which ignores repeated names it does not know.
//!
//! Names and values are percent-decoded (`+` is a space) and must be UTF-8;
//! the request-size limit has applied before this reads the body.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// A form payload in which every parameter appears at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthForm<T>(pub T);

impl<T: Type> Payload for OAuthForm<T> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case(Self::CONTENT_TYPE))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + Send> ParsePayload for OAuthForm<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = Vec::<u8>::from_request(req, body).await?;
        let pairs = parse(&bytes)?;
        let object = serde_json::Value::Object(pairs.into_iter().collect());
        let form = serde_json::from_value(object).map_err(|_| {
            ApiError::bad_request("The form's parameters do not match what this endpoint takes.")
                .oauth("invalid_request")
        })?;
        Ok(OAuthForm(form))
    }
}

/// The decoded parameters, in order; refuses a repeated name and a name or
/// value that is not UTF-8 or not validly percent-encoded.
pub fn parse(body: &[u8]) -> Result<Vec<(String, serde_json::Value)>, ApiError> {
    let mut pairs: Vec<(String, serde_json::Value)> = Vec::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let name = decode(name)?;
        if pairs.iter().any(|(seen, _)| *seen == name) {
            return Err(ApiError::bad_request(format!(
                "The parameter {:?} appears more than once (RFC 6749 §3.2).",
                name.chars().take(64).collect::<String>()
            ))
            .oauth("invalid_request"));
        }
        let value = decode(value)?;
        pairs.push((name, serde_json::Value::String(value)));
    }
    Ok(pairs)
}

/// Form-urlencoded text to a string: `+` is a space, `%XX` a byte; a `%`
/// without two hex digits after it, or bytes that are not UTF-8, are refused.
pub fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let malformed = || {
        ApiError::bad_request("The form is not validly percent-encoded UTF-8.")
            .oauth("invalid_request")
    };
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.iter();
    while let Some(&b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = rest.next().and_then(|h| (*h as char).to_digit(16));
                let lo = rest.next().and_then(|l| (*l as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => bytes.push((hi * 16 + lo) as u8),
                    _ => return Err(malformed()),
                }
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_and_a_repeated_one_is_refused() {
        let pairs = parse(b"grant_type=client_credentials&scope=a+b%3Ac&empty=&flag").unwrap();
        let text: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            text,
            [
                ("grant_type", "client_credentials"),
                ("scope", "a b:c"),
                ("empty", ""),
                ("flag", "")
            ]
        );
        let repeated = parse(b"grant_type=password&grant_type=client_credentials").unwrap_err();
        assert_eq!(repeated.problem().error.as_deref(), Some("invalid_request"));
        assert!(
            parse(b"a=1&%61=2").is_err(),
            "the same name, encoded otherwise"
        );
    }

    #[test]
    fn bad_percent_encoding_and_bad_utf8_are_refused() {
        assert!(decode(b"%ZZ").is_err());
        assert!(decode(b"%4").is_err());
        assert!(decode(b"%ff%fe").is_err());
        assert_eq!(decode(b"%00").unwrap(), "\0");
        assert_eq!(decode(b"caf%C3%A9").unwrap(), "café");
    }
}
