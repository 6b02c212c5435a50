//! The immutable key set a request works with, and the [`Keyring`] that
//! swaps it atomically when keys rotate.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::jwk;
use super::{KeyError, KeyState, SigningKey};

/// A validated snapshot of all keys (next, active, retired) with exactly one
/// active key, plus the precomputed JWK Set body and its ETag.
///
/// Keys are ordered active first, then next, then retired (manifest order
/// within a state); the JWK Set uses the same order, so the same keys always
/// give the same body and ETag.
pub struct KeySet {
    keys: Vec<SigningKey>,
    jwks_body: Vec<u8>,
    etag: String,
}

impl KeySet {
    /// Validates `keys` (not empty, unique kids, exactly one active) and
    /// precomputes the JWK Set.
    pub fn new(mut keys: Vec<SigningKey>) -> Result<KeySet, KeyError> {
        validate_set(keys.iter())?;
        // Stable sort: manifest order is kept within each state.
        keys.sort_by_key(|k| k.state().publish_rank());
        let jwks_body = jwk::jwks_body(keys.iter().map(SigningKey::jwk))?;
        let etag = jwk::etag(&jwks_body);
        Ok(KeySet {
            keys,
            jwks_body,
            etag,
        })
    }

    /// The one key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        // `new` sorted the single active key first.
        &self.keys[0]
    }

    /// The key with this kid, in any state. A linear scan: sets hold a
    /// handful of keys, and it allocates nothing.
    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// All keys: active, then next, then retired.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// Takes the keys out, e.g. to build the next set during rotation.
    pub fn into_keys(self) -> Vec<SigningKey> {
        self.keys
    }

    /// `{"keys":[...]}` with the public JWK of every key, in [`KeySet::keys`]
    /// order. Ready to serve as `application/json`.
    pub fn jwks_body(&self) -> &[u8] {
        &self.jwks_body
    }

    /// Strong ETag of [`KeySet::jwks_body`], quoted: `"<base64url sha256>"`.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

/// The rules every set obeys, in memory and on disk: not empty, unique
/// kids, exactly one active key.
pub(crate) fn validate_set<'a>(
    keys: impl IntoIterator<Item = &'a SigningKey>,
) -> Result<(), KeyError> {
    let mut kids = HashSet::new();
    let mut active = 0;
    let mut count = 0;
    for key in keys {
        count += 1;
        if !kids.insert(key.kid()) {
            return Err(KeyError::InvalidSet(format!(
                "kid {} is listed more than once",
                key.kid()
            )));
        }
        if key.state() == KeyState::Active {
            active += 1;
        }
    }
    if count == 0 {
        return Err(KeyError::InvalidSet("the set has no keys".into()));
    }
    if active != 1 {
        return Err(KeyError::InvalidSet(format!(
            "{active} keys are active; exactly one must be"
        )));
    }
    Ok(())
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("etag", &self.etag)
            .finish()
    }
}

/// What the server holds: the current [`KeySet`], replaced atomically.
///
/// Readers never block and never see a half-updated set: they get an `Arc`
/// to a complete snapshot that stays valid for as long as they hold it.
#[derive(Debug)]
pub struct Keyring {
    inner: ArcSwap<KeySet>,
}

impl Keyring {
    /// A keyring serving `set`.
    pub fn new(set: KeySet) -> Self {
        Keyring {
            inner: ArcSwap::from_pointee(set),
        }
    }

    /// The current set. Hold the `Arc` for the whole request so signing and
    /// the kid in the token header come from the same set.
    pub fn current(&self) -> Arc<KeySet> {
        self.inner.load_full()
    }

    /// Serves `set` from now on; requests already holding the old set finish
    /// with it.
    pub fn replace(&self, set: KeySet) {
        self.inner.store(Arc::new(set));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{copy_with_state, ed25519_key, rsa_key};
    use super::super::{Algorithm, JwkSet};
    use super::*;

    fn member_names(value: &serde_json::Value) -> Vec<String> {
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    fn mixed_set() -> KeySet {
        KeySet::new(vec![
            ed25519_key(KeyState::Retired),
            ed25519_key(KeyState::Next),
            copy_with_state(rsa_key(), KeyState::Active),
        ])
        .unwrap()
    }

    #[test]
    fn the_jwks_body_contains_only_public_members_of_every_key() {
        let set = mixed_set();
        let body: serde_json::Value = serde_json::from_slice(set.jwks_body()).unwrap();
        assert_eq!(member_names(&body), ["keys"]);
        let keys = body["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        for (jwk, key) in keys.iter().zip(set.keys()) {
            assert_eq!(jwk["kid"], key.kid());
            let expected: &[&str] = match key.alg() {
                Algorithm::Rs256 => &["alg", "e", "kid", "kty", "n", "use"],
                Algorithm::EdDsa => &["alg", "crv", "kid", "kty", "use", "x"],
            };
            assert_eq!(member_names(jwk), expected);
        }
        let parsed: JwkSet = serde_json::from_slice(set.jwks_body()).unwrap();
        assert_eq!(parsed.keys[0], *set.active().jwk());
    }

    #[test]
    fn keys_are_ordered_active_then_next_then_retired() {
        let set = mixed_set();
        let states: Vec<_> = set.keys().iter().map(SigningKey::state).collect();
        assert_eq!(
            states,
            [KeyState::Active, KeyState::Next, KeyState::Retired]
        );
        assert_eq!(set.active().kid(), rsa_key().kid());
        assert_eq!(set.active().state(), KeyState::Active);
    }

    #[test]
    fn by_kid_finds_keys_in_every_state_and_nothing_else() {
        let set = mixed_set();
        for key in set.keys() {
            assert_eq!(set.by_kid(key.kid()).unwrap().kid(), key.kid());
        }
        assert!(set.by_kid("unknown").is_none());
        assert!(set.by_kid("").is_none());
    }

    #[test]
    fn the_etag_is_stable_for_the_same_set_and_changes_with_the_set() {
        let active = ed25519_key(KeyState::Active);
        let next = ed25519_key(KeyState::Next);
        let copy = |k: &SigningKey| copy_with_state(k, k.state());
        let first = KeySet::new(vec![copy(&active), copy(&next)]).unwrap();
        // Same keys in another input order: same body, same ETag.
        let again = KeySet::new(vec![copy(&next), copy(&active)]).unwrap();
        assert_eq!(first.etag(), again.etag());
        assert_eq!(first.jwks_body(), again.jwks_body());

        let grown = KeySet::new(vec![
            copy(&active),
            copy(&next),
            ed25519_key(KeyState::Next),
        ])
        .unwrap();
        assert_ne!(first.etag(), grown.etag());
        let swapped = KeySet::new(vec![
            copy_with_state(&active, KeyState::Retired),
            copy_with_state(&next, KeyState::Active),
        ])
        .unwrap();
        assert_ne!(first.etag(), swapped.etag());
        assert!(first.etag().starts_with('"') && first.etag().ends_with('"'));
    }

    #[test]
    fn a_set_needs_exactly_one_active_key_and_unique_kids() {
        let no_active = KeySet::new(vec![ed25519_key(KeyState::Next)]);
        assert!(matches!(no_active, Err(KeyError::InvalidSet(_))));
        let two_active = KeySet::new(vec![
            ed25519_key(KeyState::Active),
            ed25519_key(KeyState::Active),
        ]);
        assert!(matches!(two_active, Err(KeyError::InvalidSet(_))));
        assert!(KeySet::new(Vec::new()).is_err());
        let key = ed25519_key(KeyState::Active);
        let duplicate = KeySet::new(vec![
            copy_with_state(&key, KeyState::Next),
            copy_with_state(&key, KeyState::Active),
        ]);
        assert!(matches!(duplicate, Err(KeyError::InvalidSet(m)) if m.contains("more than once")));
    }

    #[test]
    fn the_keyring_replaces_the_set_while_old_snapshots_stay_valid() {
        let ring = Keyring::new(mixed_set());
        let before = ring.current();
        let replacement = KeySet::new(vec![ed25519_key(KeyState::Active)]).unwrap();
        let new_kid = replacement.active().kid().to_owned();
        ring.replace(replacement);
        assert_eq!(ring.current().active().kid(), new_kid);
        assert_eq!(before.active().kid(), rsa_key().kid());
        assert_ne!(before.etag(), ring.current().etag());
    }
}
