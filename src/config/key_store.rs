//! Where the key set is kept (`SIGIL_KEY_STORE`) and, for the database, the
//! key-encryption keys that seal it (`SIGIL_KEY_ENCRYPTION_KEY`, and
//! `SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS` while one replaces another).
//!
//! A key-encryption key is a secret from the moment clap reads it: the
//! value is parsed here, after clap, so that no error message can quote it,
//! and its bytes are held only in a [`SecretBox`], wiped on drop.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use zeroize::Zeroizing;

use super::{ConfigError, DatabaseUrl};

/// `SIGIL_KEY_STORE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyStoreKind {
    /// The keys folder, `SIGIL_KEYS_DIR` (the default).
    #[default]
    Folder,
    /// The PostgreSQL database, private keys sealed with AES-256-GCM.
    Database,
}

/// The 32 bytes of a key-encryption key; `Debug` shows nothing of them.
pub type KeyEncryptionKeyBytes = SecretBox<[u8; 32]>;

/// The key-encryption keys of the database store.
#[derive(Debug)]
pub struct KeyEncryptionKeys {
    /// Seals every write; opens what it sealed.
    pub current: KeyEncryptionKeyBytes,
    /// Still opens rows sealed under it, until `sigil keys reseal` has moved
    /// them to `current`.
    pub previous: Option<KeyEncryptionKeyBytes>,
}

impl Clone for KeyEncryptionKeys {
    fn clone(&self) -> Self {
        let copy = |key: &KeyEncryptionKeyBytes| SecretBox::new(Box::new(*key.expose_secret()));
        KeyEncryptionKeys {
            current: copy(&self.current),
            previous: self.previous.as_ref().map(copy),
        }
    }
}

/// Where the key set is kept, with what that store needs.
#[derive(Clone, Debug, Default)]
pub enum KeyStoreSettings {
    /// The keys folder.
    #[default]
    Folder,
    /// The database, sealed under these keys.
    Database(KeyEncryptionKeys),
}

const CURRENT: (&str, &str) = ("SIGIL_KEY_ENCRYPTION_KEY", "key-encryption-key");
const PREVIOUS: (&str, &str) = (
    "SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS",
    "key-encryption-key-previous",
);

/// The key store settings from the raw values. The encryption keys are
/// checked whenever they are given, also with the folder store: `sigil keys
/// migrate --to database` seals with them while the folder is still the store.
pub(crate) fn key_store_settings(
    kind: KeyStoreKind,
    current: Option<&SecretString>,
    previous: Option<&SecretString>,
) -> Result<(KeyStoreSettings, Option<KeyEncryptionKeys>), ConfigError> {
    let current = current.map(|v| decode(v, CURRENT)).transpose()?;
    let previous = previous.map(|v| decode(v, PREVIOUS)).transpose()?;
    let keys = match (current, previous) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ConfigError::new(
                PREVIOUS.0,
                PREVIOUS.1,
                "is only read beside SIGIL_KEY_ENCRYPTION_KEY (the new key); set that too",
            ));
        }
        (Some(current), previous) => {
            if previous
                .as_ref()
                .is_some_and(|p| p.expose_secret() == current.expose_secret())
            {
                return Err(ConfigError::new(
                    PREVIOUS.0,
                    PREVIOUS.1,
                    "is the same key as SIGIL_KEY_ENCRYPTION_KEY; the previous key is the one being replaced",
                ));
            }
            Some(KeyEncryptionKeys { current, previous })
        }
    };
    let store = match (kind, &keys) {
        (KeyStoreKind::Folder, _) => KeyStoreSettings::Folder,
        (KeyStoreKind::Database, Some(keys)) => KeyStoreSettings::Database(keys.clone()),
        (KeyStoreKind::Database, None) => {
            return Err(ConfigError::new(
                CURRENT.0,
                CURRENT.1,
                "is required with SIGIL_KEY_STORE=database: 32 random bytes in base64, \
                 e.g. from `openssl rand -base64 32`, the same on every instance",
            ));
        }
    };
    Ok((store, keys))
}

/// The database store needs PostgreSQL.
pub fn check_database(
    store: &KeyStoreSettings,
    database_url: &DatabaseUrl,
) -> Result<(), ConfigError> {
    if matches!(store, KeyStoreSettings::Database(_)) && !database_url.is_postgres() {
        return Err(ConfigError::new(
            "SIGIL_KEY_STORE",
            "key-store",
            "database needs SIGIL_DATABASE_URL=postgres://…; with SQLite, keep the keys folder",
        ));
    }
    Ok(())
}

/// 32 bytes of base64 (standard or URL-safe alphabet, padding optional,
/// surrounding white space ignored). The error never quotes the value.
fn decode(
    value: &SecretString,
    (variable, flag): (&'static str, &'static str),
) -> Result<KeyEncryptionKeyBytes, ConfigError> {
    let text = value.expose_secret().trim().trim_end_matches('=');
    let bytes = Zeroizing::new(
        STANDARD_NO_PAD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| {
                ConfigError::new(
                    variable,
                    flag,
                    "is not base64; make a key with `openssl rand -base64 32`",
                )
            })?,
    );
    let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        ConfigError::new(
            variable,
            flag,
            format!(
                "must be 32 bytes in base64, but decodes to {} bytes; make a key with \
                 `openssl rand -base64 32`",
                bytes.len()
            ),
        )
    })?;
    Ok(SecretBox::new(Box::new(array)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    const KEY_A: &str = "q2XvE0c9q8ZJm0mJ2Yb0fQW3Qj1m3mZs8kq5dJf6kqY=";
    const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn the_database_store_needs_a_key_encryption_key() {
        let err = key_store_settings(KeyStoreKind::Database, None, None).unwrap_err();
        assert_eq!(err.variable, "SIGIL_KEY_ENCRYPTION_KEY");
        assert!(err.problem.contains("openssl rand -base64 32"), "{err}");
    }

    #[test]
    fn keys_in_either_base64_alphabet_with_or_without_padding_are_read() {
        for text in [
            KEY_A,
            KEY_B,
            " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        ] {
            let (store, _) =
                key_store_settings(KeyStoreKind::Database, Some(&secret(text)), None).unwrap();
            assert!(matches!(store, KeyStoreSettings::Database(_)), "{text}");
        }
        let (_, keys) =
            key_store_settings(KeyStoreKind::Folder, Some(&secret(KEY_B)), None).unwrap();
        assert_eq!(keys.unwrap().current.expose_secret()[31], 31);
    }

    #[test]
    fn a_malformed_key_is_refused_without_quoting_it() {
        for (text, says) in [
            ("not base64 at all!", "is not base64"),
            ("c2hvcnQta2V5LXNlY3JldA", "decodes to 16 bytes"),
        ] {
            let err =
                key_store_settings(KeyStoreKind::Database, Some(&secret(text)), None).unwrap_err();
            let line = err.to_string();
            assert!(line.contains(says), "{line}");
            assert!(!line.contains(text), "the line quotes the secret: {line}");
        }
    }

    #[test]
    fn a_previous_key_alone_or_equal_to_the_current_one_is_refused() {
        let err =
            key_store_settings(KeyStoreKind::Database, None, Some(&secret(KEY_A))).unwrap_err();
        assert_eq!(err.variable, "SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS");
        let err = key_store_settings(
            KeyStoreKind::Database,
            Some(&secret(KEY_A)),
            Some(&secret(KEY_A)),
        )
        .unwrap_err();
        assert!(err.problem.contains("the same key"), "{err}");
    }

    #[test]
    fn the_database_store_is_refused_on_sqlite_and_accepted_on_postgres() {
        let (store, _) =
            key_store_settings(KeyStoreKind::Database, Some(&secret(KEY_A)), None).unwrap();
        let sqlite = DatabaseUrl::parse("sqlite://data/sigil.db").unwrap();
        let err = check_database(&store, &sqlite).unwrap_err();
        assert_eq!(err.variable, "SIGIL_KEY_STORE");
        assert!(err.problem.contains("postgres://"), "{err}");
        let postgres = DatabaseUrl::parse("postgres://u@db.internal/sigil").unwrap();
        check_database(&store, &postgres).unwrap();
        check_database(&KeyStoreSettings::Folder, &sqlite).unwrap();
    }

    #[test]
    fn debug_of_the_keys_shows_none_of_their_bytes() {
        let (store, _) =
            key_store_settings(KeyStoreKind::Database, Some(&secret(KEY_B)), None).unwrap();
        let text = format!("{store:?}");
        assert!(!text.contains("31") && !text.contains(KEY_B), "{text}");
    }
}
