//! Third-party tools against sigil: Swagger UI in a browser, PyJWT and jose
//! as verifiers, schemathesis on the OpenAPI document. Each needs a tool
//! from outside Rust (`.ci/run` installs them; `helpers::skip` decides what a
//! missing one means).

mod browser;
mod contract;
mod verifiers;
