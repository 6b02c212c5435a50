//! Compact JWS, as sigil signs and checks its tokens. The implementation is in
//! [`crate::jose::jws`], shared with the downstream verifier; these
//! re-exports keep the `token::jws` paths working.

pub use crate::jose::jws::{JwsError, MAX_TOKEN_LEN, Signer, parse_object, sign, verify};
