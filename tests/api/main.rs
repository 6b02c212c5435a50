//! Integration tests: each starts the real server (in-process on port 0, or
//! the `sigil` binary as an operator runs it) with a fresh database and keys
//! folder, and talks HTTP to it.
//!
//! # Where a test lives
//!
//! The folders say what they cover:
//!
//! - `accounts/`: register, login, refresh, `/me`, the admin routes, and what
//!   the database must decide under concurrency.
//! - `clients/`: confidential clients over `/admin/clients` and `sigil
//!   clients`, client authentication, the client-credentials grant, declared
//!   scopes and the `client_id` claim (`support` is their shared vocabulary).
//! - `abuse/`: throttling of logins and registrations, floods, proxies, and
//!   administrators who would lock themselves out.
//! - `http/`: requests as such (malformed, oversized, hostile, unknown
//!   routes, request ids, health) and the published documents (OpenAPI,
//!   Swagger UI, RFC 8414 metadata).
//! - `oauth/`: the standard endpoints (RFC 7009 revocation, RFC 7662
//!   introspection) and the `application/json` errors of every OAuth 2.0
//!   endpoint.
//! - `tokens/`: the access token's shape, every rejection rule, forgeries,
//!   the mutation property test, the JWK Set.
//! - `keys/`: `sigil keys …` and `scripts/rotate-keys.sh`, rotation under
//!   traffic, reloads of the keys folder.
//! - `ops/`: the binary as operators run it: settings and their defaults,
//!   `.env`, users create, signals, logs, metrics; with PostgreSQL, several
//!   instances on one database and losing the database.
//! - `interop/`: third-party tools against sigil: a browser on Swagger UI,
//!   PyJWT and jose, schemathesis, authlib and openid-client.
//! - `key_store/`: the key set in PostgreSQL (`SIGIL_KEY_STORE=database`)
//!   across a fleet of `sigil serve` processes with no shared folder:
//!   rotation reaching every instance, notifications and polling, races,
//!   kills, key-encryption keys, `reseal`, `migrate`, the dump, and the
//!   measured time to propagate (PostgreSQL only; `fleet` is their
//!   vocabulary).
//! - `helpers/`: `spawn_app`, `ServerProcess`, request and signing helpers,
//!   PostgreSQL test databases, and [`helpers::skip`].
//!
//! # One mechanism for the two backends
//!
//! A file whose behaviour depends on storage is listed in [`per_backend!`]
//! below instead of in its folder's `mod.rs`: the macro compiles it twice,
//! as `sqlite::<area>::<file>` and `postgres::<area>::<file>`, each with a
//! `super::helpers` whose `spawn_app()`/`spawn_app_with()` start the server
//! on that backend and `BACKEND` names it. Such a test starts with
//! `let Some(app) = spawn_app().await else { return };`. Files that only make
//! sense on PostgreSQL (several instances on one database, losing the
//! database) are listed under `postgres_only`.
//!
//! Which backends run is decided when the tests run, not when they are built:
//! a PostgreSQL test makes its own database on the server named by
//! `SIGIL_TEST_POSTGRES_URL` and drops it when it ends, passed or failed.
//! When the variable is unset it prints `SKIPPED:` and passes, or fails under
//! `CI=true` ([`helpers::skip`], the same rule as every other missing tool).

// The storage-dependent files are compiled once per backend on purpose.
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

/// Compiles each listed `<area>/<file>.rs` once per backend (see the module
/// docs). `#[path = "."]` makes `sqlite::accounts::login` load
/// `tests/api/accounts/login.rs`, the same file as `postgres::accounts::login`.
macro_rules! per_backend {
    (
        both { $($area:ident: [$($file:ident),* $(,)?]),* $(,)? }
        postgres_only { $($pg_area:ident: [$($pg_file:ident),* $(,)?]),* $(,)? }
    ) => {
        #[path = "."]
        mod sqlite {
            backend_helpers!(crate::helpers::Backend::Sqlite);
            $(mod $area {
                use super::helpers;
                $(mod $file;)*
            })*
        }

        #[path = "."]
        mod postgres {
            backend_helpers!(crate::helpers::Backend::Postgres);
            $(mod $area {
                use super::helpers;
                $(mod $file;)*
            })*
            $(mod $pg_area {
                use super::helpers;
                $(mod $pg_file;)*
            })*
        }
    };
}

per_backend! {
    both {
        accounts: [admin, concurrency, crash_during_refresh, login, refresh, refresh_storage, register, reuse_interval, sessions, user_cache],
        clients: [support, admin_api, bad_input, client_auth, cli, grant],
        abuse: [abandoned, distributed, privileges, proxies, throttling],
        http: [requests],
        interop: [oauth_libraries],
        oauth: [client_auth_paths, errors, introspect, revoke],
        tokens: [claims, rejections],
    }
    postgres_only {
        ops: [database_password, migrations_quiet, multi_instance, outage, refresh_across_instances, revocation_across_instances, test_databases, user_cache_across_instances],
        key_store: [fleet, first_start, rotate_script, concurrent_rotation, notifications, interrupted, encryption_key, swapped_rows, reseal, migrate, dump, propagation],
    }
}

// Files that do not depend on the database (each folder's `mod.rs` lists them).
mod http;
mod interop;
mod keys;
mod ops;
mod tokens;

// The downstream verifier and its middleware, against a real sigil.
mod downstream;
mod verifier;
