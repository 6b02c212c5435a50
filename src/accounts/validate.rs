//! Input rules for accounts (SPEC §2): checked before any hashing or database
//! work, and reported together so a form can show every problem at once.

/// Longest email accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in characters (argon2 cost must not depend on attacker input).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Which piece of an account's input a rule refused. Each layer that shows
/// it to someone names it its own way (`http::problem` picks the request's
/// field name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The email of a new account.
    Email,
    /// The email given to log in.
    LoginEmail,
    /// A password, new or presented.
    Password,
    /// The display name.
    Name,
    /// The scopes an administrator grants.
    Scopes,
    /// The audience of a client's tokens.
    Audience,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Field::Email | Field::LoginEmail => "email",
            Field::Password => "password",
            Field::Name => "name",
            Field::Scopes => "scopes",
            Field::Audience => "audience",
        })
    }
}

/// One piece of input that broke a rule, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// What was refused.
    pub field: Field,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl FieldError {
    /// `field` broke the rule `message` states.
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// Normalizes and checks an email; returns it trimmed.
pub fn email(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let email = raw.trim();
    if email.len() > MAX_EMAIL_LEN {
        errors.push(FieldError::new(
            Field::Email,
            format!("must be at most {MAX_EMAIL_LEN} characters"),
        ));
    } else if !is_plausible_email(email) {
        errors.push(FieldError::new(
            Field::Email,
            "must be an email address like name@example.com",
        ));
    }
    email.to_owned()
}

/// Checks a new password's length (in characters, not bytes).
pub fn password(raw: &str, errors: &mut Vec<FieldError>) {
    let chars = raw.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            Field::Password,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    } else if chars > MAX_PASSWORD_CHARS {
        errors.push(FieldError::new(
            Field::Password,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
}

/// Normalizes and checks a display name; returns it trimmed.
pub fn name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        errors.push(FieldError::new(Field::Name, "must not be empty"));
    } else if chars > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            Field::Name,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            Field::Name,
            "must not contain control characters",
        ));
    }
    name.to_owned()
}

/// A deliberately modest syntax check: `local@domain.tld`, no spaces, no
/// characters that only appear in quoted or bracketed forms. Whether the
/// mailbox exists is not ours to know.
fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"@".contains(c));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_errors(raw: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        email(raw, &mut errors);
        errors
    }

    #[test]
    fn ordinary_emails_pass_and_are_trimmed() {
        let mut errors = Vec::new();
        assert_eq!(
            email("  Ada.Lovelace+sigil@example.co.uk ", &mut errors),
            "Ada.Lovelace+sigil@example.co.uk"
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@exa mple.com",
            "ada@@example.com",
            "ada@-x.com",
            "ada..b@example.com",
        ] {
            assert_eq!(email_errors(bad).len(), 1, "{bad:?} should be refused");
        }
        assert_eq!(
            email_errors(&format!("{}@example.com", "a".repeat(250)))[0].message,
            "must be at most 254 characters"
        );
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        let mut errors = Vec::new();
        password("ééééééé", &mut errors); // 7 characters, 14 bytes
        assert_eq!(errors.len(), 1);
        errors.clear();
        password(&"é".repeat(128), &mut errors);
        assert!(errors.is_empty());
        password(&"x".repeat(129), &mut errors);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn names_must_be_present_short_and_printable() {
        for (raw, ok) in [
            ("Ada", true),
            ("   ", false),
            ("a\u{0}b", false),
            (&"n".repeat(101) as &str, false),
        ] {
            let mut errors = Vec::new();
            name(raw, &mut errors);
            assert_eq!(errors.is_empty(), ok, "{raw:?}");
        }
    }
}
