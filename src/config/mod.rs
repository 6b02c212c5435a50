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

use secrecy::SecretString;

use crate::jose::Algorithm;

pub use crate::jose::CLOCK_LEEWAY;

mod args;
pub use args::{DatabaseArgs, HashingArgs, KeyArgs, ServeArgs};

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
    pub(crate) fn new(
        variable: &'static str,
        flag: &'static str,
        problem: impl Into<String>,
    ) -> Self {
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

/// What the keys commands (and `serve`) need to manage the keys folder.
#[derive(Clone, Debug)]
pub struct KeySettings {
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
    /// How long a retired key stays published (and verifies).
    pub key_grace: Duration,
    /// Automatic rotation interval; `None` = off.
    pub key_rotation_interval: Option<Duration>,
    /// Password hashing.
    pub hashing: HashingSettings,
    /// Back-off of failed logins and registrations.
    pub throttles: crate::accounts::throttle::Throttles,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::http::client_addr::TrustedProxies,
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
            key_grace: Duration::from_secs(15 * 60) + CLOCK_LEEWAY,
            key_rotation_interval: None,
            hashing: HashingSettings::default(),
            throttles: Default::default(),
            trusted_proxies: Default::default(),
            log_format: LogFormat::Text,
            pid_file: None,
            bootstrap_admin: None,
        }
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

pub(crate) fn number<T: std::str::FromStr>(
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

pub(crate) fn check_url(
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
