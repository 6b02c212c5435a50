//! The command-line flags behind [`Settings`](super::Settings). Each flag is
//! declared once, here: its name, its `SIGIL_*` variable, its default and the
//! value parser (in `parse`) that gives it its type. clap reads flags and
//! variables alike and stops at the first bad value; what is left for the
//! `settings()` methods are the rules between two settings (a refresh token
//! outlives an access token, …).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::clients::ClientArgs;
use super::hashing::{
    Argon2Cost, HashingSettings, MAX_ITERATIONS, MAX_MEMORY_KIB, MAX_PARALLELISM,
    MIN_MEMORY_KIB_PER_LANE, default_concurrency,
};
use super::key_store::{KeyStoreKind, check_database, key_store_settings};
use super::parse::{self, RotationInterval};
use super::{
    BootstrapAdmin, CLOCK_LEEWAY, ConfigError, DatabaseUrl, KeySettings, LogFormat, Settings,
    Throttles, TrustedProxies,
};
use crate::jose::Algorithm;

/// Database flags, shared by every command that opens the database.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(
        long,
        env = "SIGIL_DATABASE_URL",
        default_value = "sqlite://data/sigil.db",
        hide_env_values = true,
        value_parser = DatabaseUrl::parse
    )]
    pub database_url: DatabaseUrl,
}

/// Password-hashing flags, shared by `serve` and `users create`.
#[derive(Args, Debug, Clone)]
pub struct HashingArgs {
    /// argon2id memory cost in KiB.
    #[arg(
        long,
        env = "SIGIL_ARGON2_MEMORY_KIB",
        default_value = "19456",
        value_parser = parse::number_in::<u32, 8, { MAX_MEMORY_KIB as u64 }>
    )]
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    #[arg(
        long,
        env = "SIGIL_ARGON2_ITERATIONS",
        default_value = "2",
        value_parser = parse::number_in::<u32, 1, { MAX_ITERATIONS as u64 }>
    )]
    pub argon2_iterations: u32,
    /// argon2id lanes.
    #[arg(
        long,
        env = "SIGIL_ARGON2_PARALLELISM",
        default_value = "1",
        value_parser = parse::number_in::<u32, 1, { MAX_PARALLELISM as u64 }>
    )]
    pub argon2_parallelism: u32,
    /// Password hashes computed at once (default: number of CPUs).
    #[arg(long, env = "SIGIL_HASH_CONCURRENCY", value_parser = parse::at_least_one::<usize>)]
    pub hash_concurrency: Option<usize>,
    /// Password hashes allowed to wait; more get 503 + Retry-After.
    #[arg(long, env = "SIGIL_HASH_QUEUE", default_value = "64", value_parser = parse::whole::<usize>)]
    pub hash_queue: usize,
}

impl HashingArgs {
    /// The hashing settings; fails when the memory is too small for the lanes.
    pub fn settings(&self) -> Result<HashingSettings, ConfigError> {
        let cost = Argon2Cost {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        };
        if cost.memory_kib < MIN_MEMORY_KIB_PER_LANE * cost.parallelism {
            return Err(ConfigError::new(
                "SIGIL_ARGON2_MEMORY_KIB",
                "argon2-memory-kib",
                format!(
                    "{} is less than {MIN_MEMORY_KIB_PER_LANE} × SIGIL_ARGON2_PARALLELISM",
                    cost.memory_kib
                ),
            ));
        }
        Ok(HashingSettings {
            cost,
            concurrency: self.hash_concurrency.unwrap_or_else(default_concurrency),
            queue: self.hash_queue,
        })
    }
}

/// Flags of `sigil serve`; each also read from its `SIGIL_*` variable.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "SIGIL_BIND", default_value = "127.0.0.1:8080", value_parser = parse::socket_addr)]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `iss` of access tokens and base of published URLs [default: http:// + bind address].
    #[arg(long, env = "SIGIL_ISSUER", value_parser = parse::http_url)]
    pub issuer: Option<String>,
    /// `aud` of access tokens [default: the issuer].
    #[arg(long, env = "SIGIL_AUDIENCE", value_parser = parse::not_empty)]
    pub audience: Option<String>,
    /// Refresh-token lifetime, e.g. 7d; at most a year.
    #[arg(
        long,
        env = "SIGIL_REFRESH_TTL",
        default_value = "7d",
        value_parser = parse::duration_at_most::<{ parse::MAX_LONG_LIVED_SECS }>
    )]
    pub refresh_ttl: Duration,
    /// How long after a refresh token was used it may be presented again and
    /// get the same new refresh token (several tabs, retries), e.g. 10s; 0 = off;
    /// at most a day.
    #[arg(
        long,
        env = "SIGIL_REFRESH_REUSE_INTERVAL",
        default_value = "10s",
        value_parser = parse::duration_or_zero
    )]
    pub refresh_reuse_interval: Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Rotate keys automatically this often, e.g. 30d, at most 10y (default: never).
    #[arg(long, env = "SIGIL_KEY_ROTATION_INTERVAL", value_parser = parse::rotation_interval)]
    pub key_rotation_interval: Option<RotationInterval>,
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// Failed logins allowed for one email from one client address before
    /// further ones wait.
    #[arg(
        long,
        env = "SIGIL_LOGIN_FREE_ATTEMPTS",
        default_value = "5",
        value_parser = parse::at_least_one::<u32>
    )]
    pub login_free_attempts: u32,
    /// Failed logins allowed from one client address, for any emails, before
    /// further ones wait.
    #[arg(
        long,
        env = "SIGIL_ADDRESS_FREE_LOGIN_FAILURES",
        default_value = "20",
        value_parser = parse::at_least_one::<u32>
    )]
    pub address_free_login_failures: u32,
    /// Longest wait after repeated failed logins (each failure doubles it from 1s).
    #[arg(
        long,
        env = "SIGIL_LOGIN_MAX_BACKOFF",
        default_value = "15m",
        value_parser = parse::duration_up_to_a_day
    )]
    pub login_max_backoff: Duration,
    /// Registrations allowed from one client address (within an hour of each
    /// other) before further ones wait (from 1 min, doubling, up to 1 h).
    #[arg(
        long,
        env = "SIGIL_ADDRESS_FREE_REGISTRATIONS",
        default_value = "10",
        value_parser = parse::at_least_one::<u32>
    )]
    pub address_free_registrations: u32,
    /// Proxies whose X-Forwarded-For or Forwarded names the client: addresses and CIDR
    /// networks, comma-separated (default: none; the TCP peer is the client).
    #[arg(long, env = "SIGIL_TRUSTED_PROXIES", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: Option<TrustedProxies>,
    /// Log format: text or json.
    #[arg(
        long,
        env = "SIGIL_LOG_FORMAT",
        default_value = "text",
        ignore_case = true
    )]
    pub log_format: LogFormat,
    /// Where to write the server's pid (empty = nowhere).
    #[arg(
        long,
        env = "SIGIL_PID_FILE",
        default_value = "data/sigil.pid",
        value_parser = parse::path
    )]
    pub pid_file: PathBuf,
    /// Email of the first administrator, created on first start only.
    #[arg(long, env = "SIGIL_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,
    /// Password of the first administrator (prefer the variable to the flag).
    /// A secret from the moment it is parsed, so `Debug` of these arguments
    /// shows `[REDACTED]`.
    #[arg(long, env = "SIGIL_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub bootstrap_admin_password: Option<SecretString>,
    #[command(flatten)]
    pub clients: ClientArgs,
}

impl ServeArgs {
    /// The settings; fails at the first rule between two settings that is broken.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let keys = self.keys.settings()?;
        check_database(&keys.store, &self.database.database_url)?;
        if self.refresh_ttl <= keys.access_ttl {
            return Err(ConfigError::new(
                "SIGIL_REFRESH_TTL",
                "refresh-ttl",
                "must be longer than SIGIL_ACCESS_TTL",
            ));
        }
        // A repeat within the interval gets the live successor: the interval is
        // a window of leniency on reuse detection, so it stays a small part of
        // a refresh token's life.
        if self.refresh_reuse_interval > self.refresh_ttl / 10 {
            return Err(ConfigError::new(
                "SIGIL_REFRESH_REUSE_INTERVAL",
                "refresh-reuse-interval",
                "must be well below SIGIL_REFRESH_TTL (at most a tenth of it)",
            ));
        }
        let key_rotation_interval = self.key_rotation_interval.and_then(|every| every.0);
        if let Some(every) = key_rotation_interval
            && every <= keys.jwks_max_age * 2
        {
            return Err(ConfigError::new(
                "SIGIL_KEY_ROTATION_INTERVAL",
                "key-rotation-interval",
                "must be more than twice SIGIL_JWKS_MAX_AGE, so verifiers see each next key before it signs",
            ));
        }
        let mut throttles = Throttles::default();
        throttles.account.free_attempts = self.login_free_attempts;
        throttles.address.free_attempts = self.address_free_login_failures;
        throttles.registrations.free_attempts = self.address_free_registrations;
        throttles.account.max = self.login_max_backoff;
        throttles.account_wide.max = self.login_max_backoff;
        throttles.address.max = self.login_max_backoff;
        throttles.clients.max = self.login_max_backoff;
        let bootstrap_admin = match (&self.bootstrap_admin_email, &self.bootstrap_admin_password) {
            (None, None) => None,
            (Some(email), Some(password)) => Some(BootstrapAdmin {
                email: email.clone(),
                password: password.clone(),
            }),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "SIGIL_BOOTSTRAP_ADMIN_PASSWORD",
                    "bootstrap-admin-password",
                    "is required when SIGIL_BOOTSTRAP_ADMIN_EMAIL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SIGIL_BOOTSTRAP_ADMIN_EMAIL",
                    "bootstrap-admin-email",
                    "is required when SIGIL_BOOTSTRAP_ADMIN_PASSWORD is set",
                ));
            }
        };
        Ok(Settings {
            bind: self.bind,
            database_url: self.database.database_url.clone(),
            key_store: keys.store,
            keys_dir: keys.keys_dir,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            signing_alg: keys.signing_alg,
            rsa_bits: keys.rsa_bits,
            access_ttl: keys.access_ttl,
            refresh_ttl: self.refresh_ttl,
            refresh_reuse_interval: self.refresh_reuse_interval,
            jwks_max_age: keys.jwks_max_age,
            key_grace: keys.key_grace,
            key_rotation_interval,
            hashing: self.hashing.settings()?,
            throttles,
            trusted_proxies: self.trusted_proxies.clone().unwrap_or_default(),
            log_format: self.log_format,
            pid_file: (!self.pid_file.as_os_str().is_empty()).then(|| self.pid_file.clone()),
            bootstrap_admin,
            clients: self.clients.settings(),
        })
    }
}

/// Keys-folder flags, shared by `serve` and the `keys` commands.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Keys folder (generated on first start if it holds no keys).
    #[arg(long, env = "SIGIL_KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,
    /// Algorithm of generated keys: RS256 or EdDSA.
    #[arg(long, env = "SIGIL_SIGNING_ALG", default_value = "RS256", value_parser = algorithm)]
    pub signing_alg: Algorithm,
    /// Modulus size of generated RSA keys: 2048, 3072 or 4096.
    #[arg(long, env = "SIGIL_RSA_BITS", default_value = "2048", value_parser = parse::rsa_bits)]
    pub rsa_bits: usize,
    /// Access-token lifetime, e.g. 15m (also the base of the default key grace).
    #[arg(long, env = "SIGIL_ACCESS_TTL", default_value = "15m", value_parser = parse::access_ttl)]
    pub access_ttl: Duration,
    /// `Cache-Control: max-age` of the JWK Set, e.g. 300s; at most 7d.
    #[arg(
        long,
        env = "SIGIL_JWKS_MAX_AGE",
        default_value = "300s",
        value_parser = parse::duration_at_most::<{ parse::MAX_JWKS_MAX_AGE_SECS }>
    )]
    pub jwks_max_age: Duration,
    /// How long a retired key stays published, at most a year [default:
    /// access TTL + 60s]. Recorded with each key when it is retired.
    #[arg(
        long,
        env = "SIGIL_KEY_GRACE",
        value_parser = parse::duration_at_most::<{ parse::MAX_LONG_LIVED_SECS }>
    )]
    pub key_grace: Option<Duration>,
    /// Where the key set is kept: folder (SIGIL_KEYS_DIR) or database
    /// (PostgreSQL, private keys sealed under SIGIL_KEY_ENCRYPTION_KEY).
    #[arg(
        long,
        env = "SIGIL_KEY_STORE",
        default_value = "folder",
        ignore_case = true
    )]
    pub key_store: KeyStoreKind,
    /// 32 random bytes in base64 (`openssl rand -base64 32`) sealing the
    /// private keys in the database; the same on every instance. Prefer the
    /// variable to the flag.
    #[arg(long, env = "SIGIL_KEY_ENCRYPTION_KEY", hide_env_values = true, value_parser = secret)]
    pub key_encryption_key: Option<SecretString>,
    /// The key-encryption key being replaced: still opens what it sealed
    /// until `sigil keys reseal` has sealed everything under the new one.
    #[arg(
        long,
        env = "SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS",
        hide_env_values = true,
        value_parser = secret
    )]
    pub key_encryption_key_previous: Option<SecretString>,
}

/// Wraps a secret value as soon as clap has read it.
fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

fn algorithm(value: &str) -> Result<Algorithm, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not RS256 or EdDSA"))
}

impl KeyArgs {
    /// The keys settings; fails when the grace is shorter than a token's life.
    pub fn settings(&self) -> Result<KeySettings, ConfigError> {
        let key_grace = match self.key_grace {
            None => self.access_ttl + CLOCK_LEEWAY,
            Some(grace) if grace < self.access_ttl => {
                return Err(ConfigError::new(
                    "SIGIL_KEY_GRACE",
                    "key-grace",
                    "must be at least SIGIL_ACCESS_TTL, or tokens would fail before they expire",
                ));
            }
            Some(grace) => grace,
        };
        let (store, encryption_keys) = key_store_settings(
            self.key_store,
            self.key_encryption_key.as_ref(),
            self.key_encryption_key_previous.as_ref(),
        )?;
        Ok(KeySettings {
            store,
            encryption_keys,
            keys_dir: self.keys_dir.clone(),
            signing_alg: self.signing_alg,
            rsa_bits: self.rsa_bits,
            access_ttl: self.access_ttl,
            jwks_max_age: self.jwks_max_age,
            key_grace,
        })
    }
}
