//! Settings: what `sigil serve` reads from flags, `SIGIL_*` variables and `.env`,
//! checked once at start-up and turned into typed [`Settings`].
//!
//! Flags are parsed as plain strings by clap (which also gives them their
//! `SIGIL_*` variable) and validated here, so that every invalid value is
//! reported as one line that names the setting, e.g.
//! `invalid setting SIGIL_ACCESS_TTL (--access-ttl): "0s" must be at least 1s`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use crate::keys::Algorithm;

/// Leeway applied to `exp`, `nbf` and `iat` when verifying access tokens (SPEC §3).
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

/// An invalid setting: names it by its variable and flag, says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {variable} (--{flag}): {problem}")]
pub struct ConfigError {
    /// The environment variable, e.g. `SIGIL_BIND`.
    pub variable: &'static str,
    /// The flag without dashes, e.g. `bind`.
    pub flag: &'static str,
    /// What is wrong with the value; never contains a secret.
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, flag: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            variable,
            flag,
            problem: problem.into(),
        }
    }
}

/// A database URL. Its password never appears in `Debug` or `Display`.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Checks the scheme (`sqlite:` or `postgres://`) and wraps the URL.
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        let url = url.trim();
        if url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            Ok(DatabaseUrl(url.to_owned()))
        } else {
            Err(format!(
                "{} is neither sqlite://PATH nor postgres://…",
                DatabaseUrl(url.to_owned()).redacted()
            ))
        }
    }

    /// The full URL, password included: for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, fit for logs and errors.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return url.clone();
        };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split(':').next().unwrap_or_default();
                let masked = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_owned()
                };
                format!("{}{}{}", &url[..scheme_end + 3], masked, &rest[at..])
            }
            None => url.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line.
    Json,
}

/// argon2id cost parameters (SPEC §5). Defaults follow OWASP: m=19456 KiB, t=2, p=1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Argon2Cost {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// How password hashing is run: its cost and how much of it may happen at once.
#[derive(Clone, Debug)]
pub struct HashingSettings {
    /// argon2id parameters for new hashes.
    pub cost: Argon2Cost,
    /// Hashes computed at the same time (each on a blocking thread).
    pub concurrency: usize,
    /// Hashes allowed to wait for a free slot; beyond that, 503 + `Retry-After`.
    pub queue: usize,
}

impl Default for HashingSettings {
    fn default() -> Self {
        HashingSettings {
            cost: Argon2Cost::default(),
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 64,
        }
    }
}

/// The first administrator, created on first start only (no users yet).
#[derive(Clone, Debug)]
pub struct BootstrapAdmin {
    /// Its email.
    pub email: String,
    /// Its password; `Debug` prints `[REDACTED]`.
    pub password: SecretString,
}

/// Everything `sigil serve` needs, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listen address; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Where users and refresh tokens live.
    pub database_url: DatabaseUrl,
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
    /// `max-age` of the JWK Set.
    pub jwks_max_age: Duration,
    /// Password hashing.
    pub hashing: HashingSettings,
    /// Log format (used by the binary when it sets up logging).
    pub log_format: LogFormat,
    /// Where `serve` writes its pid; `None` = do not write one.
    pub pid_file: Option<PathBuf>,
    /// First-start administrator, if configured.
    pub bootstrap_admin: Option<BootstrapAdmin>,
}

impl Settings {
    /// Defaults of SPEC §1 with the given database and keys folder.
    pub fn new(database_url: DatabaseUrl, keys_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url,
            keys_dir: keys_dir.into(),
            issuer: None,
            audience: None,
            signing_alg: Algorithm::Rs256,
            rsa_bits: 2048,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            jwks_max_age: Duration::from_secs(300),
            hashing: HashingSettings::default(),
            log_format: LogFormat::Text,
            pid_file: None,
            bootstrap_admin: None,
        }
    }
}

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
    /// Keys folder (generated on first start if it holds no keys).
    #[arg(long, env = "SIGIL_KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,
    /// `iss` of access tokens and base of published URLs [default: http:// + bind address].
    #[arg(long, env = "SIGIL_ISSUER")]
    pub issuer: Option<String>,
    /// `aud` of access tokens [default: the issuer].
    #[arg(long, env = "SIGIL_AUDIENCE")]
    pub audience: Option<String>,
    /// Algorithm of generated keys: RS256 or EdDSA.
    #[arg(long, env = "SIGIL_SIGNING_ALG", default_value = "RS256")]
    pub signing_alg: String,
    /// Modulus size of generated RSA keys: 2048, 3072 or 4096.
    #[arg(long, env = "SIGIL_RSA_BITS", default_value = "2048")]
    pub rsa_bits: String,
    /// Access-token lifetime, e.g. 15m.
    #[arg(long, env = "SIGIL_ACCESS_TTL", default_value = "15m")]
    pub access_ttl: String,
    /// Refresh-token lifetime, e.g. 7d.
    #[arg(long, env = "SIGIL_REFRESH_TTL", default_value = "7d")]
    pub refresh_ttl: String,
    /// `Cache-Control: max-age` of the JWK Set, e.g. 300s.
    #[arg(long, env = "SIGIL_JWKS_MAX_AGE", default_value = "300s")]
    pub jwks_max_age: String,
    #[command(flatten)]
    pub hashing: HashingArgs,
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
        let mut s = Settings::new(self.database.database_url()?, self.keys_dir.clone());
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
        s.signing_alg = self.signing_alg.parse().map_err(|_| {
            ConfigError::new(
                "SIGIL_SIGNING_ALG",
                "signing-alg",
                format!("{:?} is not RS256 or EdDSA", self.signing_alg),
            )
        })?;
        s.rsa_bits = match self.rsa_bits.trim() {
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
        s.access_ttl = duration(&self.access_ttl, "SIGIL_ACCESS_TTL", "access-ttl")?;
        s.refresh_ttl = duration(&self.refresh_ttl, "SIGIL_REFRESH_TTL", "refresh-ttl")?;
        if s.access_ttl > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::new(
                "SIGIL_ACCESS_TTL",
                "access-ttl",
                "access tokens cannot be revoked, so their lifetime is capped at 24h",
            ));
        }
        if s.refresh_ttl <= s.access_ttl {
            return Err(ConfigError::new(
                "SIGIL_REFRESH_TTL",
                "refresh-ttl",
                "must be longer than SIGIL_ACCESS_TTL",
            ));
        }
        s.jwks_max_age = duration(&self.jwks_max_age, "SIGIL_JWKS_MAX_AGE", "jwks-max-age")?;
        s.hashing = self.hashing.settings()?;
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

/// Reads `SIGIL_LOG_FORMAT` alone, so logging can start before the other settings are checked.
pub fn parse_log_format(value: &str) -> Result<LogFormat, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(ConfigError::new(
            "SIGIL_LOG_FORMAT",
            "log-format",
            format!("{other:?} is not text or json"),
        )),
    }
}

fn number<T: std::str::FromStr>(
    value: &str,
    variable: &'static str,
    flag: &'static str,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| {
        ConfigError::new(
            variable,
            flag,
            format!("{value:?} is not a whole number in range"),
        )
    })
}

/// Parses `15m`, `7d`, `300s`, `1h 30m` (humantime's syntax); at least one second.
pub fn duration(
    value: &str,
    variable: &'static str,
    flag: &'static str,
) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value.trim()).map_err(|e| {
        ConfigError::new(
            variable,
            flag,
            format!("{value:?} is not a duration like 15m or 7d ({e})"),
        )
    })?;
    if d < Duration::from_secs(1) {
        return Err(ConfigError::new(
            variable,
            flag,
            format!("{value:?} must be at least 1s"),
        ));
    }
    Ok(d)
}

fn check_url(
    value: &str,
    variable: &'static str,
    flag: &'static str,
) -> Result<String, ConfigError> {
    let v = value.trim().trim_end_matches('/');
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty())
        && !v.contains(['?', '#', ' ']);
    if ok {
        Ok(v.to_owned())
    } else {
        Err(ConfigError::new(
            variable,
            flag,
            format!("{value:?} is not an http(s) URL without query or fragment"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_its_password_in_debug_and_display() {
        let url = DatabaseUrl::parse("postgres://sigil:hunter2@db.internal:5432/sigil").unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://sigil:***@db.internal:5432/sigil"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!format!("{url}").contains("hunter2"));
        assert_eq!(
            url.expose(),
            "postgres://sigil:hunter2@db.internal:5432/sigil"
        );
    }

    #[test]
    fn database_url_with_another_scheme_is_refused_without_echoing_the_password() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@localhost/db").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn durations_accept_the_spec_forms_and_refuse_zero() {
        assert_eq!(duration("15m", "X", "x").unwrap(), Duration::from_secs(900));
        assert_eq!(
            duration("7d", "X", "x").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            duration("300s", "X", "x").unwrap(),
            Duration::from_secs(300)
        );
        assert!(duration("0s", "X", "x").is_err());
        assert!(duration("soon", "X", "x").is_err());
    }

    #[test]
    fn config_error_is_one_line_naming_the_variable_and_flag() {
        let err = duration("soon", "SIGIL_ACCESS_TTL", "access-ttl")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid setting SIGIL_ACCESS_TTL (--access-ttl):"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
