//! Third-party tools against sigil: Swagger UI in a browser, PyJWT and jose
//! as verifiers, schemathesis on the OpenAPI document, and (in
//! `oauth_libraries.rs`, run on both backends: it is listed in `per_backend!`
//! in `main.rs`, not here) authlib and openid-client as OAuth 2.0 clients.
//! Each needs a tool from outside Rust (`.ci/run` installs them;
//! `helpers::skip` decides what a missing one means); `tools.rs` finds them
//! and runs their scripts.

mod browser;
mod contract;
pub(crate) mod tools;
mod verifiers;
