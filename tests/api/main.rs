//! Integration tests: each starts the real server on port 0 with a fresh
//! database and keys folder, and talks HTTP to it.
//!
//! The modules that exercise storage run twice: in `sqlite` always, and in
//! `postgres` when `SIGIL_TEST_POSTGRES_URL` was set at build time (see
//! `src/build.rs`); otherwise one ignored test says they were skipped. The
//! other modules test what does not depend on the database.

// The storage-dependent modules are compiled once per backend on purpose
// (`sqlite/mod.rs`, `postgres/mod.rs` include the same files).
#![allow(clippy::duplicate_mod)]

mod helpers;

/// Backend-specific `spawn_app`/`spawn_app_with`, shadowing the SQLite
/// defaults of [`crate::helpers`] inside a backend's modules.
macro_rules! backend_helpers {
    ($backend:expr) => {
        pub mod helpers {
            #[allow(unused_imports)]
            pub use crate::helpers::*;

            /// The backend of this half of the suite.
            #[allow(dead_code)]
            pub const BACKEND: Backend = $backend;

            /// A server on this backend with default options.
            #[allow(dead_code)]
            pub async fn spawn_app() -> TestApp {
                spawn_app_on($backend, Options::default()).await
            }

            /// A server on this backend.
            #[allow(dead_code)]
            pub async fn spawn_app_with(options: Options) -> TestApp {
                spawn_app_on($backend, options).await
            }
        }
    };
}

mod sqlite;

#[cfg(sigil_postgres_tests)]
mod outage;
#[cfg(sigil_postgres_tests)]
mod postgres;

#[cfg(not(sigil_postgres_tests))]
#[test]
#[ignore = "SKIPPED: SIGIL_TEST_POSTGRES_URL is not set, so the PostgreSQL half of the suite was not built"]
fn postgres_suite_skipped() {}

mod browser;
mod cli;
mod contract;
mod discovery;
mod downstream;
mod forgery;
mod hostile_input;
mod interop;
mod jwks;
mod keys_cli;
mod log_hygiene;
mod metrics;
mod reload;
mod rotation;
mod token_mutations;
mod verifier;
