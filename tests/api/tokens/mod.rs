//! Access tokens: `claims.rs` (their shape) and `rejections.rs` (every rule
//! that refuses one at `/me`) run on both backends (listed in `per_backend!`
//! in `main.rs`, not here); forgeries signed with the wrong key or algorithm,
//! the mutation property test and the JWK Set do not depend on storage.

use crate::helpers;

mod forgery;
mod jwks;
mod mutations;
