//! Integration tests: each starts the real server on port 0 with a fresh
//! database and keys folder, and talks HTTP to it.
//!
//! The modules that exercise storage run twice: in `sqlite` and in
//! `postgres`, which include the same files. Which backend a file runs on is
//! decided at run time: a PostgreSQL test makes its own database on the
//! server named by `SIGIL_TEST_POSTGRES_URL` and drops it when it ends; when
//! the variable is unset, it prints `SKIPPED:` and passes, or fails under
//! `CI=true` (`helpers::skip`). The other modules test what does not depend
//! on the database.

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

            /// A server on this backend with default options, or `None`
            /// when the backend is not there and the test is skipped.
            #[allow(dead_code)]
            pub async fn spawn_app() -> Option<TestApp> {
                spawn_app_on($backend, Options::default()).await
            }

            /// A server on this backend, or `None` when the backend is not
            /// there and the test is skipped.
            #[allow(dead_code)]
            pub async fn spawn_app_with(options: Options) -> Option<TestApp> {
                spawn_app_on($backend, options).await
            }
        }
    };
}

mod outage;
mod postgres;
mod sqlite;

mod browser;
mod cli;
mod contract;
mod discovery;
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
