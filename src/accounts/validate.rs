//! Input rules for accounts (SPEC §2): checked before any hashing or database
//! work, and reported together so a form can show every problem at once.
//!
//! Emails are ASCII only: a local part of RFC 5322 `atext` and dots, a domain
//! of letters, digits and hyphens, so an international domain is given in its
//! IDNA `xn--` form. Normalising instead (NFKC and case folding) would still
//! let `exаmple.com` with a Cyrillic `а` through, as a different, equally
//! plausible domain; refusing everything outside ASCII leaves no look-alike
//! made of other scripts, fullwidth forms or invisible characters, and the
//! case-insensitive match the store already does is the whole comparison.
//! The rule applies to new addresses only: logging in looks the email up as
//! given, so an account stored before the rule keeps working.
//!
//! Display names may use any script, but not characters that change how the
//! text around them is shown or that show nothing at all (see [`name`]).

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
    } else if !email.is_ascii() {
        errors.push(FieldError::new(
            Field::Email,
            "must use ASCII characters only (an international domain in its xn-- form)",
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

/// Normalizes and checks a display name; returns it trimmed. A name may not
/// hold control characters, format characters (general category Cf: the
/// bidirectional overrides and isolates U+202A–U+202E and U+2066–U+2069,
/// which reorder the text shown after them, zero-width characters, the byte
/// order mark, the soft hyphen, tags), line or paragraph separators,
/// private-use or unassigned code points, or the blank fillers Unicode lists
/// as default-ignorable; and it needs one visible character
/// (a letter, digit, punctuation mark or symbol), not only spaces and
/// combining marks. Variation selectors stay allowed: they pick a glyph for
/// the character before them (`❤️`) and hide nothing.
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
    } else if !name.chars().all(allowed_in_name) {
        errors.push(FieldError::new(
            Field::Name,
            "must not contain control, formatting or invisible characters",
        ));
    } else if !name.chars().any(is_visible) {
        errors.push(FieldError::new(
            Field::Name,
            "must contain a visible character",
        ));
    }
    name.to_owned()
}

/// Characters that are default-ignorable (they show nothing) but whose
/// general category is a letter or a mark, so the category check alone would
/// let them through: the combining grapheme joiner, the Hangul fillers, two
/// Khmer inherent vowels and the Mongolian free variation selectors.
const INVISIBLE: &[char] = &[
    '\u{034F}', '\u{115F}', '\u{1160}', '\u{17B4}', '\u{17B5}', '\u{180B}', '\u{180C}', '\u{180D}',
    '\u{180F}', '\u{3164}', '\u{FFA0}',
];

/// Whether `c` may appear in a display name (see [`name`]).
fn allowed_in_name(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory as _};
    !matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
    ) && !INVISIBLE.contains(&c)
}

/// Whether `c` shows as something of its own: a letter, number, punctuation
/// mark or symbol (not a space, a combining mark or a control).
fn is_visible(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup as G, UnicodeGeneralCategory as _};
    matches!(
        c.general_category_group(),
        G::Letter | G::Number | G::Punctuation | G::Symbol
    )
}

/// A deliberately modest syntax check: `local@domain.tld`, the local part an
/// RFC 5322 dot-atom (no quoted or bracketed forms), the domain ASCII
/// letters, digits and hyphens. Whether the mailbox exists is not ours to
/// know.
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
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
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
    fn emails_outside_ascii_are_refused_so_no_look_alike_can_be_registered() {
        for look_alike in [
            "\u{FF41}dmin@example.com",  // fullwidth a
            "admin@ex\u{0430}mple.com",  // Cyrillic a
            "\u{0430}dmin@example.com",  // Cyrillic a in the local part
            "admin\u{200B}@example.com", // zero-width space
            "ad\u{00AD}min@example.com", // soft hyphen
            "admin@example\u{2060}.com", // word joiner
            "\u{202E}admin@example.com", // right-to-left override
            "admin@b\u{FC}cher.example", // an IDN in Unicode form
            "adm\u{00A0}in@example.com", // no-break space
            "admin@example.c\u{FF4F}m",  // fullwidth o
        ] {
            let errors = email_errors(look_alike);
            assert_eq!(errors.len(), 1, "{look_alike:?} should be refused");
            assert!(errors[0].message.contains("ASCII"), "{:?}", errors[0]);
        }
    }

    #[test]
    fn punycode_domains_and_every_dot_atom_character_pass() {
        for good in [
            "ada@xn--bcher-kva.example",
            "a!#$%&'*+-/=?^_`{|}~.b@example.com",
            "ADA@EXAMPLE.COM",
            "1@2.example",
        ] {
            assert!(email_errors(good).is_empty(), "{good:?}");
        }
        for bad in ["a\"b@example.com", "a(b)@example.com", "ada@exa_mple.com"] {
            assert_eq!(email_errors(bad).len(), 1, "{bad:?}");
        }
    }

    fn name_errors(raw: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        name(raw, &mut errors);
        errors
    }

    #[test]
    fn names_refuse_bidi_controls_and_other_invisible_characters() {
        for bad in [
            "Ada\u{202E}gnp.exe",  // right-to-left override
            "A\u{202A}da",         // left-to-right embedding
            "A\u{202B}da",         // right-to-left embedding
            "A\u{202C}da",         // pop directional formatting
            "A\u{202D}da",         // left-to-right override
            "\u{2066}Ada\u{2069}", // left-to-right isolate, pop isolate
            "\u{2067}Ada",         // right-to-left isolate
            "\u{2068}Ada",         // first strong isolate
            "Ada\u{200B}",         // zero-width space
            "Ad\u{200C}a",         // zero-width non-joiner
            "Ad\u{200D}a",         // zero-width joiner
            "Ad\u{200E}a",         // left-to-right mark
            "Ad\u{200F}a",         // right-to-left mark
            "Ada\u{061C}",         // Arabic letter mark
            "\u{FEFF}Ada",         // byte order mark
            "Ada\u{00AD}Lovelace", // soft hyphen
            "Ada\u{2060}",         // word joiner
            "Ada\u{E0041}",        // tag character
            "Ada\u{2028}Lovelace", // line separator
            "Ada\u{2029}Lovelace", // paragraph separator
            "Ada\u{E000}",         // private use
            "Ada\u{10FFFF}",       // a noncharacter
            "Ada\u{1B}[31m",       // escape
            "Ada\u{85}Lovelace",   // next line (C1 control)
            "\u{3164}",            // Hangul filler
            "Ada\u{115F}",         // Hangul choseong filler
            "A\u{034F}da",         // combining grapheme joiner
        ] {
            let errors = name_errors(bad);
            assert_eq!(errors.len(), 1, "{bad:?} should be refused");
            assert_eq!(errors[0].field, Field::Name);
        }
    }

    #[test]
    fn names_need_a_visible_character() {
        for bad in ["\u{0301}", "\u{3000}\u{0301}\u{0301}", "\u{FE0F}"] {
            assert_eq!(
                name_errors(bad)[0].message,
                "must contain a visible character",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_in_any_script_with_marks_and_emoji_pass() {
        for good in [
            "Ada Lovelace",
            "Zoë O'Brien-Núñez",
            "Zoe\u{0308}",
            "李小龍",
            "Мария",
            "محمد",
            "देवनागरी",
            "Ada ❤\u{FE0F}",
            "Ada 👩\u{1F3FD}",
            "R2-D2 (droid) #1",
        ] {
            assert!(name_errors(good).is_empty(), "{good:?}");
        }
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
