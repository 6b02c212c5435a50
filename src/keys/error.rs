//! The one error type of the keys module.
//!
//! Messages name the setting or file that is wrong and never include key
//! material: they end up in logs and in operators' terminals.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::Algorithm;

/// Anything that can go wrong with signing keys or the keys folder.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured algorithm name is not one sigil supports.
    #[error("unknown signing algorithm {0:?}: expected \"RS256\" or \"EdDSA\"")]
    UnknownAlgorithm(String),

    /// A key state name in the manifest or configuration is unknown.
    #[error("unknown key state {0:?}: expected \"next\", \"active\" or \"retired\"")]
    UnknownState(String),

    /// The configured RSA modulus size is not one sigil generates.
    #[error(
        "unsupported RSA key size {0} bits (SIGIL_RSA_BITS, --rsa-bits): use 2048, 3072 or 4096"
    )]
    UnsupportedRsaBits(usize),

    /// Key generation failed (in practice: the system random generator).
    #[error("cannot generate a new {alg} key: {reason}")]
    Generate {
        /// Algorithm of the key being generated.
        alg: Algorithm,
        /// What failed.
        reason: String,
    },

    /// The PEM text is not a single unencrypted `PRIVATE KEY` block.
    #[error("invalid PEM: {0}")]
    Pem(String),

    /// The PKCS#8 document is not an RSA or Ed25519 key that can be used.
    #[error("invalid PKCS#8 private key: {0}")]
    InvalidKey(String),

    /// The key material is of another algorithm than its metadata says.
    #[error("the key material is for {found} but its metadata says {expected}")]
    AlgorithmMismatch {
        /// Algorithm named by the metadata (manifest).
        expected: Algorithm,
        /// Algorithm of the key material.
        found: Algorithm,
    },

    /// The kid in the metadata is not the thumbprint of the key material.
    #[error(
        "kid mismatch: the metadata says {expected:?} but the RFC 7638 thumbprint of the key is {actual:?}"
    )]
    KidMismatch {
        /// kid named by the metadata (manifest).
        expected: String,
        /// Thumbprint of the key's public part.
        actual: String,
    },

    /// Signing failed (in practice: the system random generator, which RSA
    /// blinding needs).
    #[error("cannot sign with key {kid}: {reason}")]
    Sign {
        /// Key that failed to sign.
        kid: String,
        /// What failed.
        reason: &'static str,
    },

    /// The keys do not form a valid set (for example two active keys).
    #[error("invalid key set: {0}")]
    InvalidSet(String),

    /// A key file is unreadable as a key; `source` says why.
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<KeyError>,
    },

    /// The manifest is malformed or describes an invalid set.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// Path of `keyset.json`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The folder has no manifest (and `load` does not create one).
    #[error(
        "no key set manifest at {}: start once with an empty keys folder to create one",
        path.display()
    )]
    NoManifest {
        /// Path where `keyset.json` was expected.
        path: PathBuf,
    },

    /// First start found files but no manifest; sigil never writes keys
    /// next to files it does not manage, so it might not overwrite them.
    #[error(
        "keys folder {} has no keyset.json but contains {}; refusing to create keys next to them. \
         If they are leftovers of an interrupted first start remove them; to use existing keys, \
         write a keyset.json that lists them",
        path.display(),
        files.join(", ")
    )]
    UnmanagedFiles {
        /// The keys folder.
        path: PathBuf,
        /// Names of the files found (not their contents).
        files: Vec<String>,
    },

    /// `rotate` refused: the `next` key has not been published for the JWK
    /// Set's max-age yet, so verifiers caching the set may not know it.
    #[error(
        "refusing to rotate: the next key {kid} has been published for {}, but a next key \
         must be published for at least {} (the JWK Set max-age, SIGIL_JWKS_MAX_AGE) before it \
         signs, so that verifiers caching the JWK Set already know it; rotate again in {}, \
         or use --force to rotate now",
        humantime::format_duration(*published),
        humantime::format_duration(*required),
        humantime::format_duration(required.saturating_sub(*published))
    )]
    NextKeyTooNew {
        /// The `next` key that would have become active.
        kid: String,
        /// How long it has been published (whole seconds).
        published: Duration,
        /// How long it must be published.
        required: Duration,
    },

    /// `rotate` found no `next` key, so no published key could become
    /// active; it published `published` as the new `next` key instead.
    #[error(
        "refusing to rotate: the key set had no next key, and a key that verifiers have \
         not seen must not sign; published {published} as the next key. Rotate again in {}, \
         or use --force to activate a new key now",
        humantime::format_duration(*required)
    )]
    NoNextKey {
        /// kid of the `next` key just published.
        published: String,
        /// How long it must be published before it may sign.
        required: Duration,
    },

    /// `import` refused the file `path`; `source` says why.
    #[error("cannot import {}: {source}; the keys folder is unchanged", path.display())]
    Import {
        /// The file given to `sigil keys import`.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<KeyError>,
    },

    /// `import` refused a key that the set already holds.
    #[error(
        "the key {kid} is already in the key set (state {state}); the keys folder is unchanged"
    )]
    AlreadyInSet {
        /// Its kid.
        kid: String,
        /// Its state in the set.
        state: super::KeyState,
    },

    /// `sigil keys migrate` found another key set where it was to write
    /// one; nothing was changed.
    #[error(
        "refusing to migrate: {destination} already holds another key set ({}); \
         a migration only fills an empty key store, so no key is lost",
        kids.join(", ")
    )]
    DestinationHoldsKeys {
        /// `the database` or `the keys folder PATH`.
        destination: String,
        /// The kids already there.
        kids: Vec<String>,
    },

    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read key file".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A key-encryption key given as base64 is not 32 bytes of base64; the
    /// value itself is never quoted.
    #[error("invalid key-encryption key: {0}")]
    KeyEncryptionKey(&'static str),

    /// A private key could not be sealed (in practice: the system random
    /// generator, which makes the nonce).
    #[error("cannot seal the private key {kid}: {reason}")]
    Seal {
        /// The key being sealed.
        kid: String,
        /// What failed.
        reason: &'static str,
    },

    /// A sealed private key in the database cannot be opened with the
    /// configured key-encryption keys. Names the row and the key it was
    /// sealed under, never any bytes.
    #[error(
        "cannot open the sealed private key {kid} (sealed under key-encryption key {kek_id}): {reason}"
    )]
    Unseal {
        /// The row's kid.
        kid: String,
        /// The id of the key-encryption key the row names.
        kek_id: String,
        /// Why it cannot be opened.
        reason: String,
    },

    /// The database holding the key set failed; the text never contains
    /// SQL or the values of a statement.
    #[error("cannot {action} the key set in the database: {reason}")]
    Database {
        /// What was being done, e.g. "read".
        action: &'static str,
        /// The database's or driver's one-line reason.
        reason: String,
    },
}

impl KeyError {
    /// Shorthand for [`KeyError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        KeyError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
