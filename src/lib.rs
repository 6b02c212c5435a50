//! sigil: a token issuer. Users register and log in; sigil hands out short-lived
//! JWT access tokens signed with an asymmetric key named by `kid`, and opaque
//! refresh tokens. Other services verify access tokens offline with the public
//! keys published at `/.well-known/jwks.json`.
//!
//! # Layout
//!
//! The modules stand in layers. A module may use (`use crate::X`) only the
//! modules its row names, all on lower ranks: never one beside it, never one
//! above. `tests/layers.rs` reads every file under `src/` and fails on a
//! back-edge, naming the file, the line and the rule.
//!
//! | rank | module | what it is for | may use |
//! |---|---|---|---|
//! | 0 | [`jose`] | JOSE without sigil: base64url, `Algorithm`, JWK / JWK Set, compact JWS, access-token claims, `CLOCK_LEEWAY` | — |
//! | 1 | [`verify`] | for other services: checks sigil's tokens offline against the published JWK Set | `jose` |
//! | 1 | [`config`] | settings: flags, `SIGIL_*` variables, defaults, one-line errors; plain values only | `jose` |
//! | 1 | [`keys`] | signing keys: generation, the keys folder, the [`Keyring`](keys::Keyring) | `jose` |
//! | 2 | [`telemetry`] | logging, Prometheus [`Metrics`](telemetry::metrics::Metrics) | `config` |
//! | 2 | [`token`] | issuing and checking access and refresh tokens | `jose`, `keys` |
//! | 2 | [`password`] | argon2id on low-priority threads behind a bounded queue | `config`, `jose` |
//! | 3 | [`store`] | users, refresh families, throttle counters (SQLite, PostgreSQL) | `config`, `jose`, `keys`, `token` |
//! | 4 | [`accounts`] | the domain: register, log in, refresh, authenticate, manage users and confidential clients | everything below |
//! | 4 | [`key_store`] | where the key set is kept: the keys folder or the database (sealed); migration between them | `config`, `keys`, `telemetry`, `store` |
//! | 5 | [`reload`] | keeps a running server's key set current | `config`, `keys`, `telemetry`, `key_store` |
//! | 5 | [`http`] | routes, OpenAPI, bearer extractor, problem+json, middleware | everything below but `store`, `key_store` |
//! | 5 | [`cli`] | `users create\|promote`, `clients …`, `keys …` | everything below but `http`, `reload` |
//! | 6 | [`startup`] | wires it all into an [`Application`](startup::Application) | everything |
//!
//! Crypto, keys and storage know nothing about HTTP. Where does new code
//! go? Put it in the lowest layer that has everything it
//! needs. Something HTTP-shaped (a status, a header, a field name of a
//! request) belongs in [`http`]; the domain says what happened in its own
//! terms ([`accounts::AccountError`], [`accounts::Field`]) and hands out
//! [`accounts::Account`], never the stored user with its password hash.
//! Settings are plain values in [`config`]; the layer that uses one builds its
//! working parts from it.
//!
//! Features: `server` (default) compiles every module but [`jose`] and
//! [`verify`]; a downstream service depends on sigil with
//! `default-features = false, features = ["verify"]` (or `verify-tower`,
//! `verify-poem` for the middleware) and compiles only those two, with no
//! web framework, database driver or password hashing (the test
//! `downstream::lightness` in `tests/api/` checks the dependency tree).
//!
//! Follow a request from the socket to the disk:
//!
//! - [`startup`] builds the [`Application`](startup::Application) from
//!   [`config::Settings`]: opens the store, loads the keys, binds, wires routes,
//!   and keeps one running server per pid file (`pid_file`).
//!   `main.rs` only parses the [`cli`] and calls it; the other commands
//!   (`users`, `clients`, `keys`) live in [`cli`] too.
//! - [`http`] is the boundary: routes and their OpenAPI documentation
//!   (`token_api`, `users_api`, `sessions_api` for `/me/sessions`,
//!   `clients_api`, `oauth_api` for revocation and introspection,
//!   `well_known`, `health` with `/metrics`), bearer authentication as an
//!   extractor (`auth`), client authentication (`client_auth`) and the
//!   strict OAuth 2.0 form (`oauth_form`), the OpenAPI document with the
//!   declared scopes (`spec`), the one
//!   error type (`problem`, with its `application/json` form for the OAuth
//!   2.0 endpoints),
//!   who the client is (`client_addr`), what wraps every request
//!   (`middleware`: request id, metrics labelled by the route
//!   template `allow` reads from the OpenAPI document, input limits,
//!   problem+json).
//! - [`accounts`] is the domain: register, log in, refresh, log out,
//!   authenticate a bearer token (`principal`: a user's or a confidential
//!   client's), manage users and clients (`clients`, with client
//!   authentication and the client-credentials grant), revoke and introspect
//!   tokens (`revocation`, `introspection`); input rules, scopes (built-in
//!   and declared), the back-off against guessing (`throttle`); audit events.
//! - [`password`] hashes with argon2id (`argon`) on a few dedicated
//!   low-priority threads (`workers`) behind a bounded queue; a job keeps
//!   its slot until it ran or was dropped because its caller left, and
//!   every refusal costs what the dummy hash costs (`check`).
//! - [`token`] issues and checks sigil's own tokens: access tokens signed with
//!   the active key (`access`, over [`jose`]'s compact JWS and claims checks),
//!   refresh tokens (`refresh`).
//! - [`keys`] holds signing keys: generation, the keys folder on disk, the JWK
//!   Set, and the [`Keyring`](keys::Keyring) that swaps key sets atomically.
//! - [`key_store`] says where the key set is kept: the keys folder
//!   ([`keys::KeyFolder`]) or PostgreSQL (`database`: private keys sealed
//!   with AES-256-GCM by `keys::seal`, every change one transaction under an
//!   advisory lock, `NOTIFY` on commit), and moves a set between them
//!   (`migrate`). Both apply the same life-cycle rules (`keys::plan_*`).
//! - [`reload`] keeps a running server's key set current, off the request
//!   path: `SIGHUP`, a watcher on the keys folder and polling, or the
//!   database's notifications with polling as the fallback.
//! - [`store`] persists users, refresh-token families, revoked access tokens
//!   and throttle counters behind the [`Store`](store::Store) trait (SQLite and PostgreSQL, same
//!   behaviour), opened by [`store::open`], which wraps the backend in a
//!   [`CachedStore`](store::CachedStore): bearer checks' users and revoked
//!   tokens held in memory, forgotten on every change from any process;
//!   `startup` purges what has expired every 10 minutes.
//! - [`config`] reads settings; [`telemetry`] sets up logging and holds the
//!   Prometheus [`Metrics`](telemetry::metrics::Metrics).
//! - [`verify`] is for other services: it checks sigil's access tokens
//!   offline against the published JWK Set, cached per its `Cache-Control`.
//!
//! Integration tests are in `tests/api/` (one binary, real server on port 0),
//! the layer check in `tests/layers.rs`, the fuzz targets in `tests/fuzz/`,
//! the crypto bench in `tests/bench/`, the operator's and benchmark scripts
//! in `scripts/`.

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
pub mod key_store;
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
