//! The database URL setting: a checked scheme, and a password that never
//! appears in `Debug`, `Display`, logs or error messages.

use std::fmt;

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
}
