//! Tokens: signed access tokens (compact JWS, RFC 9068 profile) and opaque refresh tokens.
//!
//! - [`jws`] turns a header and claims into `header.payload.signature` with a key
//!   of the key set, and back, enforcing every header rule of SPEC §3.
//! - [`access`] defines the access-token claims and the issuer/audience/time checks.
//! - [`refresh`] makes 256-bit refresh tokens and the hashes they are stored as.

pub mod access;
pub mod jws;
pub mod refresh;

pub use crate::jose::{base64url, base64url_decode};
