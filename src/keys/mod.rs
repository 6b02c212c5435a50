//! Signing keys: key material, the on-disk keys folder and the JWK Set.
//!
//! This module knows nothing about HTTP. The server holds a [`Keyring`]; each
//! request takes a cheap snapshot ([`Keyring::current`]) of the immutable
//! [`KeySet`], signs with [`KeySet::active`], finds verification keys with
//! [`KeySet::by_kid`] and serves [`KeySet::jwks_body`] / [`KeySet::etag`].
//! The [`KeyFolder`] owns the files: one PKCS#8 PEM per key plus a manifest
//! (`keyset.json`) that says which key is `next`, `active` or `retired`, and
//! moves keys through those states: [`KeyFolder::rotate`],
//! [`KeyFolder::prune`], [`KeyFolder::rotate_if_due`] and
//! [`KeyFolder::import`] (in `lifecycle`). For the database key store, a
//! [`Sealer`] seals private keys with AES-256-GCM under a
//! [`KeyEncryptionKey`] and opens them again (`seal`).

mod error;
mod folder;
mod jwk;
mod lifecycle;
mod material;
mod pem_codec;
mod public;
mod seal;
mod set;
#[cfg(test)]
mod test_support;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::jose::Algorithm;
use crate::jose::JoseError;
pub use error::KeyError;
pub use folder::{FolderLock, KeyFolder, MANIFEST_FILE};
pub use jwk::{Jwk, JwkSet, thumbprint};
pub use lifecycle::{
    Import, ImportPlan, MAX_IMPORT_FILE_BYTES, PrunePlan, RotateOptions, Rotation, RotationPlan,
    plan_import, plan_prune, plan_rotation, read_import_file, rotation_due,
};
pub use material::{RSA_KEY_SIZES, SIGNATURE_LIBRARY, SigningKey};
pub use public::{PublicKey, VerifyingKey};
pub use seal::{KeyEncryptionKey, SealedKey, Sealer};
pub use set::{KeySet, Keyring};

impl From<JoseError> for KeyError {
    fn from(e: JoseError) -> Self {
        match e {
            JoseError::UnknownAlgorithm(name) => KeyError::UnknownAlgorithm(name),
            JoseError::InvalidKey(why) => KeyError::InvalidKey(why),
        }
    }
}

/// Where a key is in its life cycle.
///
/// `next` keys are published in the JWK Set before they sign anything, so
/// verifiers that cache the set already know them when they become active;
/// `retired` keys stay published until tokens signed with them have expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// The one key that signs new tokens.
    Active,
    /// No longer signing; still published for verification.
    Retired,
}

impl KeyState {
    /// The manifest name: `"next"`, `"active"` or `"retired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    /// Position in the JWK Set: active first, then next, then retired.
    pub(crate) fn publish_rank(self) -> u8 {
        match self {
            KeyState::Active => 0,
            KeyState::Next => 1,
            KeyState::Retired => 2,
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = KeyError;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        [KeyState::Next, KeyState::Active, KeyState::Retired]
            .into_iter()
            .find(|state| s.eq_ignore_ascii_case(state.as_str()))
            .ok_or_else(|| KeyError::UnknownState(s.to_owned()))
    }
}

/// Everything about a key except its material; one manifest entry minus the
/// file name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    /// Key id: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// Signing algorithm; must match the key material.
    pub alg: Algorithm,
    /// Life-cycle state.
    pub state: KeyState,
    /// When the key was generated (or imported).
    pub created_at: DateTime<Utc>,
    /// When the key became active, if it ever did.
    #[serde(default)]
    pub activated_at: Option<DateTime<Utc>>,
    /// When the key stopped signing, if it did.
    #[serde(default)]
    pub retired_at: Option<DateTime<Utc>>,
    /// Until when a retired key stays published: `retired_at` plus the
    /// grace of the process that retired it, recorded then so that every
    /// later prune honours it. `None` for keys retired by an older sigil.
    #[serde(default)]
    pub grace_until: Option<DateTime<Utc>>,
}

impl KeyMeta {
    /// Metadata for a key that has never been activated or retired.
    pub fn new(
        kid: impl Into<String>,
        alg: Algorithm,
        state: KeyState,
        created_at: DateTime<Utc>,
    ) -> Self {
        KeyMeta {
            kid: kid.into(),
            alg,
            state,
            created_at,
            activated_at: None,
            retired_at: None,
            grace_until: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jose_error_keeps_its_meaning_as_a_key_error() {
        let unknown = KeyError::from("HS256".parse::<Algorithm>().unwrap_err());
        assert!(matches!(unknown, KeyError::UnknownAlgorithm(name) if name == "HS256"));
        let invalid = KeyError::from(JoseError::InvalidKey("JWK \"k\": use is not sig".into()));
        assert!(matches!(invalid, KeyError::InvalidKey(_)));
    }

    #[test]
    fn key_states_round_trip_through_display_from_str_and_serde() {
        for state in [KeyState::Next, KeyState::Active, KeyState::Retired] {
            assert_eq!(state.to_string().parse::<KeyState>().unwrap(), state);
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<KeyState>(&json).unwrap(), state);
        }
        assert_eq!("ACTIVE".parse::<KeyState>().unwrap(), KeyState::Active);
        assert!("current".parse::<KeyState>().is_err());
    }
}
