//! The command-line flags behind [`Settings`](super::Settings): clap parses each
//! as a plain string (also read from its `SIGIL_*` variable), and the
//! `settings()` methods here validate them into typed values.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::{
    BootstrapAdmin, CLOCK_LEEWAY, ConfigError, DatabaseUrl, HashingSettings, KeySettings, Settings,
    check_url, duration, number, parse_log_format,
};
use crate::config::Argon2Cost;

/// Database flags, shared by every command that opens the database.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(
        long,
        env = "SIGIL_DATABASE_URL",
        default_value = "sqlite://data/sigil.db",
        hide_env_values = true
    )]
    pub database_url: String,
}

impl DatabaseArgs {
    /// Validates the URL.
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        DatabaseUrl::parse(&self.database_url)
            .map_err(|p| ConfigError::new("SIGIL_DATABASE_URL", "database-url", p))
    }
}

/// Password-hashing flags, shared by `serve` and `users create`.
#[derive(Args, Debug, Clone)]
pub struct HashingArgs {
    /// argon2id memory cost in KiB.
    #[arg(long, env = "SIGIL_ARGON2_MEMORY_KIB", default_value = "19456")]
    pub argon2_memory_kib: String,
    /// argon2id passes.
    #[arg(long, env = "SIGIL_ARGON2_ITERATIONS", default_value = "2")]
    pub argon2_iterations: String,
    /// argon2id lanes.
    #[arg(long, env = "SIGIL_ARGON2_PARALLELISM", default_value = "1")]
    pub argon2_parallelism: String,
    /// Password hashes computed at once (default: number of CPUs).
    #[arg(long, env = "SIGIL_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<String>,
    /// Password hashes allowed to wait; more get 503 + Retry-After.
    #[arg(long, env = "SIGIL_HASH_QUEUE", default_value = "64")]
    pub hash_queue: String,
}

impl HashingArgs {
    /// Validates the hashing settings, including argon2's own limits.
    pub fn settings(&self) -> Result<HashingSettings, ConfigError> {
        let cost = Argon2Cost {
            memory_kib: number(
                &self.argon2_memory_kib,
                "SIGIL_ARGON2_MEMORY_KIB",
                "argon2-memory-kib",
            )?,
            iterations: number(
                &self.argon2_iterations,
                "SIGIL_ARGON2_ITERATIONS",
                "argon2-iterations",
            )?,
            parallelism: number(
                &self.argon2_parallelism,
                "SIGIL_ARGON2_PARALLELISM",
                "argon2-parallelism",
            )?,
        };
        crate::password::check_cost(cost)
            .map_err(|(variable, flag, problem)| ConfigError::new(variable, flag, problem))?;
        let concurrency = match &self.hash_concurrency {
            Some(v) => number::<usize>(v, "SIGIL_HASH_CONCURRENCY", "hash-concurrency")?,
            None => HashingSettings::default().concurrency,
        };
        if concurrency == 0 {
            return Err(ConfigError::new(
                "SIGIL_HASH_CONCURRENCY",
                "hash-concurrency",
                "must be at least 1",
            ));
        }
        let queue = number(&self.hash_queue, "SIGIL_HASH_QUEUE", "hash-queue")?;
        Ok(HashingSettings {
            cost,
            concurrency,
            queue,
        })
    }
}

/// Flags of `sigil serve`; each also read from its `SIGIL_*` variable.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "SIGIL_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `iss` of access tokens and base of published URLs [default: http:// + bind address].
    #[arg(long, env = "SIGIL_ISSUER")]
    pub issuer: Option<String>,
    /// `aud` of access tokens [default: the issuer].
    #[arg(long, env = "SIGIL_AUDIENCE")]
    pub audience: Option<String>,
    /// Refresh-token lifetime, e.g. 7d.
    #[arg(long, env = "SIGIL_REFRESH_TTL", default_value = "7d")]
    pub refresh_ttl: String,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Rotate keys automatically this often, e.g. 30d (default: never).
    #[arg(long, env = "SIGIL_KEY_ROTATION_INTERVAL")]
    pub key_rotation_interval: Option<String>,
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// Failed logins allowed for one email from one client address before
    /// further ones wait.
    #[arg(long, env = "SIGIL_LOGIN_FREE_ATTEMPTS", default_value = "5")]
    pub login_free_attempts: String,
    /// Failed logins allowed from one client address, for any emails, before
    /// further ones wait.
    #[arg(long, env = "SIGIL_ADDRESS_FREE_LOGIN_FAILURES", default_value = "20")]
    pub address_free_login_failures: String,
    /// Longest wait after repeated failed logins (each failure doubles it from 1s).
    #[arg(long, env = "SIGIL_LOGIN_MAX_BACKOFF", default_value = "15m")]
    pub login_max_backoff: String,
    /// Registrations allowed from one client address (within an hour of each
    /// other) before further ones wait (from 1 min, doubling, up to 1 h).
    #[arg(long, env = "SIGIL_ADDRESS_FREE_REGISTRATIONS", default_value = "10")]
    pub address_free_registrations: String,
    /// Proxies whose X-Forwarded-For names the client: addresses and CIDR
    /// networks, comma-separated (default: none; the TCP peer is the client).
    #[arg(long, env = "SIGIL_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "SIGIL_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Where to write the server's pid (empty = nowhere).
    #[arg(long, env = "SIGIL_PID_FILE", default_value = "data/sigil.pid")]
    pub pid_file: PathBuf,
    /// Email of the first administrator, created on first start only.
    #[arg(long, env = "SIGIL_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,
    /// Password of the first administrator (prefer the variable to the flag).
    #[arg(long, env = "SIGIL_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,
}

impl ServeArgs {
    /// Validates every flag; the first invalid one is reported.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let bind = self.bind.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "SIGIL_BIND",
                "bind",
                format!("{:?} is not an address like 127.0.0.1:8080", self.bind),
            )
        })?;
        let mut s = Settings::new(self.database.database_url()?, self.keys.keys_dir.clone());
        s.bind = bind;
        s.issuer = match &self.issuer {
            Some(issuer) => Some(check_url(issuer, "SIGIL_ISSUER", "issuer")?),
            None => None,
        };
        s.audience = match &self.audience {
            Some(a) if a.trim().is_empty() => {
                return Err(ConfigError::new(
                    "SIGIL_AUDIENCE",
                    "audience",
                    "must not be empty",
                ));
            }
            other => other.clone(),
        };
        let keys = self.keys.settings()?;
        s.keys_dir = keys.keys_dir;
        s.signing_alg = keys.signing_alg;
        s.rsa_bits = keys.rsa_bits;
        s.access_ttl = keys.access_ttl;
        s.jwks_max_age = keys.jwks_max_age;
        s.key_grace = keys.key_grace;
        s.refresh_ttl = duration(&self.refresh_ttl, "SIGIL_REFRESH_TTL", "refresh-ttl")?;
        if s.refresh_ttl <= s.access_ttl {
            return Err(ConfigError::new(
                "SIGIL_REFRESH_TTL",
                "refresh-ttl",
                "must be longer than SIGIL_ACCESS_TTL",
            ));
        }
        s.key_rotation_interval = match &self.key_rotation_interval {
            None => None,
            Some(v) if v.trim().is_empty() || v.trim() == "off" => None,
            Some(v) => {
                let every = duration(v, "SIGIL_KEY_ROTATION_INTERVAL", "key-rotation-interval")?;
                if every <= s.jwks_max_age * 2 {
                    return Err(ConfigError::new(
                        "SIGIL_KEY_ROTATION_INTERVAL",
                        "key-rotation-interval",
                        "must be more than twice SIGIL_JWKS_MAX_AGE, so verifiers see each next key before it signs",
                    ));
                }
                Some(every)
            }
        };
        s.hashing = self.hashing.settings()?;
        let at_least_one = |value: &str, variable: &'static str, flag: &'static str| {
            let n: u32 = number(value, variable, flag)?;
            if n == 0 {
                return Err(ConfigError::new(variable, flag, "must be at least 1"));
            }
            Ok(n)
        };
        s.throttles.account.free_attempts = at_least_one(
            &self.login_free_attempts,
            "SIGIL_LOGIN_FREE_ATTEMPTS",
            "login-free-attempts",
        )?;
        s.throttles.address.free_attempts = at_least_one(
            &self.address_free_login_failures,
            "SIGIL_ADDRESS_FREE_LOGIN_FAILURES",
            "address-free-login-failures",
        )?;
        s.throttles.registrations.free_attempts = at_least_one(
            &self.address_free_registrations,
            "SIGIL_ADDRESS_FREE_REGISTRATIONS",
            "address-free-registrations",
        )?;
        let max_backoff = duration(
            &self.login_max_backoff,
            "SIGIL_LOGIN_MAX_BACKOFF",
            "login-max-backoff",
        )?;
        if max_backoff > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::new(
                "SIGIL_LOGIN_MAX_BACKOFF",
                "login-max-backoff",
                "must be at most 24h, so an attacker cannot lock a real user out for long",
            ));
        }
        s.throttles.account.max = max_backoff;
        s.throttles.address.max = max_backoff;
        let proxies = self.trusted_proxies.as_deref().unwrap_or("");
        s.trusted_proxies =
            crate::http::client_addr::TrustedProxies::parse(proxies).map_err(|problem| {
                ConfigError::new("SIGIL_TRUSTED_PROXIES", "trusted-proxies", problem)
            })?;
        s.log_format = parse_log_format(&self.log_format)?;
        s.pid_file = (!self.pid_file.as_os_str().is_empty()).then(|| self.pid_file.clone());
        s.bootstrap_admin = match (&self.bootstrap_admin_email, &self.bootstrap_admin_password) {
            (None, None) => None,
            (Some(email), Some(password)) => Some(BootstrapAdmin {
                email: email.clone(),
                password: SecretString::from(password.clone()),
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
        Ok(s)
    }
}

/// Keys-folder flags, shared by `serve` and the `keys` commands.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Keys folder (generated on first start if it holds no keys).
    #[arg(long, env = "SIGIL_KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,
    /// Algorithm of generated keys: RS256 or EdDSA.
    #[arg(long, env = "SIGIL_SIGNING_ALG", default_value = "RS256")]
    pub signing_alg: String,
    /// Modulus size of generated RSA keys: 2048, 3072 or 4096.
    #[arg(long, env = "SIGIL_RSA_BITS", default_value = "2048")]
    pub rsa_bits: String,
    /// Access-token lifetime, e.g. 15m (also the base of the default key grace).
    #[arg(long, env = "SIGIL_ACCESS_TTL", default_value = "15m")]
    pub access_ttl: String,
    /// `Cache-Control: max-age` of the JWK Set, e.g. 300s.
    #[arg(long, env = "SIGIL_JWKS_MAX_AGE", default_value = "300s")]
    pub jwks_max_age: String,
    /// How long a retired key stays published [default: access TTL + 60s].
    #[arg(long, env = "SIGIL_KEY_GRACE")]
    pub key_grace: Option<String>,
}

impl KeyArgs {
    /// Validates the keys settings.
    pub fn settings(&self) -> Result<KeySettings, ConfigError> {
        let signing_alg = self.signing_alg.parse().map_err(|_| {
            ConfigError::new(
                "SIGIL_SIGNING_ALG",
                "signing-alg",
                format!("{:?} is not RS256 or EdDSA", self.signing_alg),
            )
        })?;
        let rsa_bits = match self.rsa_bits.trim() {
            "2048" => 2048,
            "3072" => 3072,
            "4096" => 4096,
            other => {
                return Err(ConfigError::new(
                    "SIGIL_RSA_BITS",
                    "rsa-bits",
                    format!("{other:?} is not 2048, 3072 or 4096"),
                ));
            }
        };
        let access_ttl = duration(&self.access_ttl, "SIGIL_ACCESS_TTL", "access-ttl")?;
        if access_ttl > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::new(
                "SIGIL_ACCESS_TTL",
                "access-ttl",
                "access tokens cannot be revoked, so their lifetime is capped at 24h",
            ));
        }
        let jwks_max_age = duration(&self.jwks_max_age, "SIGIL_JWKS_MAX_AGE", "jwks-max-age")?;
        let key_grace = match &self.key_grace {
            None => access_ttl + CLOCK_LEEWAY,
            Some(v) => {
                let grace = duration(v, "SIGIL_KEY_GRACE", "key-grace")?;
                if grace < access_ttl {
                    return Err(ConfigError::new(
                        "SIGIL_KEY_GRACE",
                        "key-grace",
                        "must be at least SIGIL_ACCESS_TTL, or tokens would fail before they expire",
                    ));
                }
                grace
            }
        };
        Ok(KeySettings {
            keys_dir: self.keys_dir.clone(),
            signing_alg,
            rsa_bits,
            access_ttl,
            jwks_max_age,
            key_grace,
        })
    }
}
