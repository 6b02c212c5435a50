//! Tokens: signed access tokens (compact JWS, RFC 9068 profile) and opaque refresh tokens.
//!
//! - [`jws`] turns a header and claims into `header.payload.signature` with a key
//!   of the key set, and back, enforcing every header rule of SPEC §3.
//! - [`access`] defines the access-token claims and the issuer/audience/time checks.
//! - [`refresh`] makes 256-bit refresh tokens and the hashes they are stored as.

pub mod access;
pub mod jws;
pub mod refresh;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// base64url without padding (RFC 7515 §2), as every JOSE member uses.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: no padding, no whitespace, no stray trailing bits.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
