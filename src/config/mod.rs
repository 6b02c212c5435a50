//! Settings: what `sigil serve` reads from flags, `SIGIL_*` variables and `.env`,
//! checked once at start-up and turned into typed [`Settings`].
//!
//! Each setting is written once, in `args`: its flag, variable, default and a
//! value parser (`parse`) that gives it its type, so a bad value is refused
//! while it is read. A refused value stops start-up with one line naming the
//! setting (`error`), e.g.
//! `invalid setting SIGIL_ACCESS_TTL (--access-ttl): "0s" must be at least 1s`.
//! [`Settings::new`] is those same defaults, for tests and embedding.
//!
//! This is the bottom of the server's layers: settings are plain values
//! (durations, counts, the list of trusted proxies, the back-off parameters)
//! that the layers above turn into working parts.

mod args;
mod clients;
mod database_url;
mod error;
mod hashing;
mod key_store;
mod parse;
mod proxies;
mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as _, FromArgMatches as _};
use secrecy::SecretString;

use crate::jose::Algorithm;
pub use args::{DatabaseArgs, HashingArgs, KeyArgs, ServeArgs};
pub use clients::{ClientArgs, ClientSettings, DeclaredScopes, MAX_SCOPE_LEN, is_scope_token};
pub use database_url::DatabaseUrl;
pub use error::{ConfigError, is_help, one_line};
pub use hashing::{
    Argon2Cost, HashingSettings, MAX_ITERATIONS, MAX_MEMORY_KIB, MAX_PARALLELISM,
    MIN_MEMORY_KIB_PER_LANE,
};
pub use key_store::{
    KeyEncryptionKeyBytes, KeyEncryptionKeys, KeyStoreKind, KeyStoreSettings, check_database,
};
pub use parse::RotationInterval;
pub use proxies::TrustedProxies;
pub use throttle::{ThrottlePolicy, Throttles};

pub use crate::jose::CLOCK_LEEWAY;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line.
    Json,
}

/// The first administrator, created on first start only (no users yet).
#[derive(Clone, Debug)]
pub struct BootstrapAdmin {
    /// Its email.
    pub email: String,
    /// Its password; `Debug` prints `[REDACTED]`.
    pub password: SecretString,
}

/// What the keys commands (and `serve`) need to manage the keys folder.
#[derive(Clone, Debug)]
pub struct KeySettings {
    /// Where the key set is kept.
    pub store: KeyStoreSettings,
    /// The key-encryption keys, when given (the database store needs them;
    /// `sigil keys migrate --to database` reads them with either store).
    pub encryption_keys: Option<KeyEncryptionKeys>,
    /// The keys folder.
    pub keys_dir: PathBuf,
    /// Algorithm of generated keys.
    pub signing_alg: Algorithm,
    /// Modulus size of generated RSA keys.
    pub rsa_bits: usize,
    /// Access-token lifetime (a retired key must outlive the tokens it signed).
    pub access_ttl: Duration,
    /// `max-age` of the JWK Set: the least time a `next` key is published before it signs.
    pub jwks_max_age: Duration,
    /// How long a retired key stays published.
    pub key_grace: Duration,
}

/// Everything `sigil serve` needs, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listen address; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Where users and refresh tokens live.
    pub database_url: DatabaseUrl,
    /// Where the key set is kept.
    pub key_store: KeyStoreSettings,
    /// The keys folder.
    pub keys_dir: PathBuf,
    /// `iss` of access tokens and base of published URLs; `None` = `http://` + bound address.
    pub issuer: Option<String>,
    /// `aud` of access tokens; `None` = the issuer.
    pub audience: Option<String>,
    /// Algorithm of keys that sigil generates.
    pub signing_alg: Algorithm,
    /// Modulus size of generated RSA keys.
    pub rsa_bits: usize,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// How long after a refresh token was used up a repeat gets the same
    /// successor; zero = off (every repeat is reuse).
    pub refresh_reuse_interval: Duration,
    /// `max-age` of the JWK Set.
    pub jwks_max_age: Duration,
    /// How long a retired key stays published (and verifies).
    pub key_grace: Duration,
    /// Automatic rotation interval; `None` = off.
    pub key_rotation_interval: Option<Duration>,
    /// Password hashing.
    pub hashing: HashingSettings,
    /// Back-off of failed logins and registrations.
    pub throttles: Throttles,
    /// Proxies whose `X-Forwarded-For` or `Forwarded` names the client.
    pub trusted_proxies: TrustedProxies,
    /// Log format (used by the binary when it sets up logging).
    pub log_format: LogFormat,
    /// Where `serve` writes its pid; `None` = do not write one.
    pub pid_file: Option<PathBuf>,
    /// First-start administrator, if configured.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// Declared scopes, the public client id, the client-secret overlap.
    pub clients: ClientSettings,
}

impl Settings {
    /// What `sigil serve` runs with when given no flags and no `SIGIL_*`
    /// variables, with the given database and keys folder — and no pid file:
    /// a program that embeds the server (the tests do) has no `scripts/`
    /// that would read one, and many servers in one folder would overwrite it.
    pub fn new(database_url: DatabaseUrl, keys_dir: impl Into<PathBuf>) -> Settings {
        let mut settings = ServeArgs::defaults()
            .settings()
            .unwrap_or_else(|e| unreachable!("the defaults of `sigil serve` are valid: {e}"));
        settings.database_url = database_url;
        settings.keys_dir = keys_dir.into();
        settings.pid_file = None;
        settings
    }
}

impl ServeArgs {
    /// The flags' defaults: `sigil serve` parsed with no arguments, ignoring
    /// the environment.
    pub fn defaults() -> ServeArgs {
        let command = ServeArgs::augment_args(clap::Command::new("serve"))
            .mut_args(|arg| arg.env(None::<&str>));
        let parsed = command
            .try_get_matches_from(["serve"])
            .and_then(|matches| ServeArgs::from_arg_matches(&matches));
        parsed.unwrap_or_else(|e| unreachable!("the defaults of `sigil serve` parse: {e}"))
    }
}

#[cfg(test)]
mod tests;
