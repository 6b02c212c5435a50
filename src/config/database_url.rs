//! The database URL setting: a checked scheme, and a password that never
//! appears in `Debug`, `Display`, logs or error messages.
//!
//! A PostgreSQL URL carries its password in two places that sqlx reads: the
//! user-info (`postgres://user:PASSWORD@host/db`) and the query string
//! (`?password=PASSWORD`, with the key percent-encoded or not). Redaction
//! therefore works from what is known to be harmless rather than from what
//! is known to be secret: the user name, host, port, path and the values of
//! a few named query parameters are shown; every other value, and anything
//! that does not parse as expected, becomes `***`. A query parameter that
//! sqlx does not read is refused when the URL is parsed, because sqlx would
//! otherwise log its value in a warning ("ignoring unrecognized connect
//! parameter"), and a parameter such as `sslpassword` would be ignored
//! silently anyway.

use std::fmt;

/// What stands in for a hidden part of the URL.
const HIDDEN: &str = "***";

/// Query parameters whose values are never secret (file paths, modes, names),
/// shown as given. PostgreSQL's as sqlx reads them, then SQLite's.
const SHOWN_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "application_name",
    "mode",
    "cache",
    "immutable",
    "vfs",
];

/// Query parameters sqlx's PostgreSQL driver reads whose values are hidden:
/// the password, and server options (`options`, `options[NAME]`), which are
/// free text.
const HIDDEN_POSTGRES_PARAMETERS: &[&str] = &["password", "options"];

/// A database URL. Its password never appears in `Debug` or `Display`.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Checks the scheme (`sqlite:` or `postgres://`) and, for PostgreSQL,
    /// that every query parameter is one the driver reads; wraps the URL.
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        let url = DatabaseUrl(url.trim().to_owned());
        if url.0.starts_with("sqlite:") {
            Ok(url)
        } else if url.is_postgres() {
            match url.unknown_postgres_parameter() {
                None => Ok(url),
                Some(name) => Err(format!(
                    "{} has a query parameter the PostgreSQL driver does not read ({name}); \
                     remove it",
                    url.redacted()
                )),
            }
        } else {
            Err(format!(
                "{} is neither sqlite://PATH nor postgres://…",
                url.redacted()
            ))
        }
    }

    /// The full URL, password included: for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with every password, and every query value not known to be
    /// harmless, replaced by `***`: fit for logs and errors.
    pub fn redacted(&self) -> String {
        let (before_fragment, fragment) = match self.0.split_once('#') {
            Some((before, _)) => (before, Some(HIDDEN)),
            None => (self.0.as_str(), None),
        };
        let (base, query) = match before_fragment.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (before_fragment, None),
        };
        let mut shown = without_password(base);
        if let Some(query) = query {
            shown.push('?');
            let pairs: Vec<String> = query.split('&').map(redacted_pair).collect();
            shown.push_str(&pairs.join("&"));
        }
        if let Some(fragment) = fragment {
            shown.push('#');
            shown.push_str(fragment);
        }
        shown
    }

    /// Whether this names a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    /// The first query parameter sqlx's PostgreSQL driver would ignore, as
    /// it may be named in an error: its decoded name, or `***` when the name
    /// does not look like one.
    fn unknown_postgres_parameter(&self) -> Option<String> {
        let query = self.0.split('#').next()?.split_once('?')?.1;
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| decoded(pair.split('=').next().unwrap_or_default()))
            .find(|name| !is_postgres_parameter(name))
            .map(|name| {
                if is_plain_name(&name) {
                    name
                } else {
                    HIDDEN.to_owned()
                }
            })
    }
}

/// Whether sqlx's PostgreSQL driver reads the query parameter `name`.
fn is_postgres_parameter(name: &str) -> bool {
    SHOWN_PARAMETERS.contains(&name)
        || HIDDEN_POSTGRES_PARAMETERS.contains(&name)
        || (name.starts_with("options[") && name.ends_with(']'))
}

/// `scheme://user:***@rest` for `scheme://user:password@rest`. The user-info
/// ends at the last `@` before the query, so a password holding an
/// unencoded `/` or `@` is hidden whole.
fn without_password(base: &str) -> String {
    let Some(scheme_end) = base.find("://").map(|i| i + 3) else {
        return base.to_owned();
    };
    let rest = &base[scheme_end..];
    let Some(at) = rest.rfind('@') else {
        return base.to_owned();
    };
    let user_info = &rest[..at];
    let user = match user_info.split_once(':') {
        Some((user, _)) => format!("{user}:{HIDDEN}"),
        None => user_info.to_owned(),
    };
    format!("{}{user}{}", &base[..scheme_end], &rest[at..])
}

/// One `key=value` of a query: as given when the key is a harmless one,
/// `key=***` for another plain key, `***` when even the key looks odd.
fn redacted_pair(pair: &str) -> String {
    if pair.is_empty() {
        return String::new();
    }
    let key = pair.split('=').next().unwrap_or_default();
    if SHOWN_PARAMETERS.contains(&decoded(key).as_str()) {
        pair.to_owned()
    } else if is_plain_name(key) {
        format!("{key}={HIDDEN}")
    } else {
        HIDDEN.to_owned()
    }
}

/// A query key as sqlx sees it: `+` is a space, `%XX` a byte.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parameter name that may be shown: letters, digits, `_`, `-`, `.`,
/// `[`, `]`, and not too long.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.[]".contains(&b))
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
        let err = DatabaseUrl::parse("mysql://root@localhost/db?password=hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn every_form_of_the_password_that_sqlx_reads_is_hidden() {
        for (url, shown) in [
            (
                "postgres://u@db/x?password=hunter2",
                "postgres://u@db/x?password=***",
            ),
            (
                "postgres://u@db/x?sslmode=require&pass%77ord=hunter2&application_name=a",
                "postgres://u@db/x?sslmode=require&***&application_name=a",
            ),
            (
                "postgres://u:hunter2@db/x?password=hunter2#hunter2",
                "postgres://u:***@db/x?password=***#***",
            ),
            // An unencoded `/` or `@` in the password: still hidden whole.
            ("postgres://u:hun/ter2@db/x", "postgres://u:***@db/x"),
            ("postgres://u:hun@ter2@db/x", "postgres://u:***@db/x"),
            // Free text and odd keys are hidden too.
            (
                "postgres://u@db/x?options=-c%20search_path%3Dhunter2",
                "postgres://u@db/x?options=***",
            ),
            ("postgres://u@db/x?hun%3Dter2", "postgres://u@db/x?***"),
            (
                "sqlite://data/sigil.db?mode=rwc",
                "sqlite://data/sigil.db?mode=rwc",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
        ] {
            let url = DatabaseUrl(url.to_owned());
            assert_eq!(url.redacted(), shown, "{url:?}");
            assert!(!format!("{url:?} {url}").contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn a_postgres_parameter_the_driver_would_ignore_is_refused_without_its_value() {
        for (url, named) in [
            ("postgres://u@db/x?sslpassword=hunter2", "(sslpassword)"),
            (
                "postgres://u@db/x?sslmode=require&passwort=hunter2",
                "(passwort)",
            ),
            ("postgres://u@db/x?hun%3Dter2", "(***)"),
        ] {
            let err = DatabaseUrl::parse(url).unwrap_err();
            assert!(err.contains(named), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
        for url in [
            "postgres://u@db/x?password=p&sslmode=disable&application_name=sigil",
            "postgresql://u@db/x?pass%77ord=p&options[search_path]=s&statement-cache-capacity=10",
            "postgres://u@db/x?",
        ] {
            assert!(DatabaseUrl::parse(url).is_ok(), "{url}");
        }
    }
}
