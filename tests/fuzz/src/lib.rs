//! What sigil's fuzz targets share: a fixed key set and clock, an independent
//! model of the access-token rules (SPEC §3) to judge sigil's answers, and
//! the whole HTTP application in process.
//!
//! # Layout
//!
//! - [`keys`]: an RS256 and an EdDSA key derived from fixed seeds, so every
//!   run verifies against the same kids and the committed seed tokens stay
//!   valid; `NOW`, the instant tokens are issued and verified at.
//! - [`model`]: what an accepted token must look like, written from the
//!   spec and not from sigil's code; the targets assert sigil agrees.
//! - [`http`]: `sigil::http::app` over an in-memory SQLite store with cheap
//!   argon2, an administrator, a user and a refresh token to use, and the
//!   check every answer must pass (never 5xx, every error problem+json).

pub mod http;
pub mod keys;
pub mod model;
