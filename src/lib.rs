//! sigil: a token issuer. Users register and log in; sigil hands out short-lived
//! JWT access tokens signed with an asymmetric key named by `kid`, and opaque
//! refresh tokens. Other services verify access tokens offline with the public
//! keys published at `/.well-known/jwks.json`.
//!
//! # Layout
//!
//! Follow a request from the socket to the disk:
//!
//! - [`startup`] builds the [`Application`](startup::Application) from
//!   [`config::Settings`]: opens the store, loads the keys, binds, wires routes.
//!   `main.rs` only parses the [`cli`] and calls it; the other commands
//!   (`users`, `keys`, `bench crypto`) live in [`cli`] too.
//! - [`http`] is the boundary: routes and their OpenAPI documentation
//!   (`token_api`, `users_api`, `well_known`, `health` with `/metrics`), bearer
//!   authentication as an extractor (`auth`), the one error type (`problem`),
//!   who the client is (`client_addr`, trusted proxies), and what wraps every
//!   request (`middleware`: request id, metrics, input limits, problem+json).
//! - [`accounts`] is the domain: register, log in, refresh, log out,
//!   authenticate a bearer token, manage users; input rules, scopes, the
//!   back-off against guessing (`throttle`); audit events.
//! - [`password`] hashes with argon2id on a few dedicated low-priority
//!   threads behind a bounded queue.
//! - [`token`] makes and checks tokens: compact JWS (`jws`), access-token claims
//!   (`access`), refresh tokens (`refresh`).
//! - [`keys`] holds signing keys: generation, the keys folder on disk, the JWK
//!   Set, and the [`Keyring`](keys::Keyring) that swaps key sets atomically.
//! - [`reload`] keeps a running server's key set current: `SIGHUP`, a watcher
//!   on the keys folder and polling all reload it, off the request path.
//! - [`store`] persists users, refresh-token families and throttle counters
//!   behind the [`Store`](store::Store) trait (SQLite and PostgreSQL, same
//!   behaviour); `startup` purges what has expired every 10 minutes.
//! - [`config`] reads settings; [`telemetry`] sets up logging and holds the
//!   Prometheus [`Metrics`](telemetry::metrics::Metrics).
//! - [`verify`] is for other services: it checks sigil's access tokens
//!   offline against the published JWK Set, cached per its `Cache-Control`.
//!
//! Crypto, keys and storage know nothing about HTTP. Integration tests are in
//! `tests/api/` (one binary, real server on port 0), the fuzz targets in
//! `tests/fuzz/`, the operator's and benchmark scripts in `scripts/`.

#[cfg(feature = "server")]
pub mod accounts;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod http;
pub mod jose;
#[cfg(feature = "server")]
pub mod keys;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod reload;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;
#[cfg(feature = "server")]
pub mod token;
#[cfg(feature = "verify")]
pub mod verify;
