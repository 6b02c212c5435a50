//! The key life cycle on disk: `rotate` (next → active → retired, plus a
//! fresh next key; the retired key's end of grace is recorded in the
//! manifest), `prune` (retired keys past their grace leave the set) and
//! `rotate_if_due` (automatic rotation shared by several instances); `import`
//! (an operator's key becomes the `next` key) is beside it in `import.rs`.
//!
//! Every transition holds the folder lock for its whole read-modify-write and
//! commits through [`KeyFolder::write`]: new key files first, the manifest
//! renamed last. A crash at any point leaves either the old manifest, whose
//! files are all still there, or the new one; at worst an unlisted key file
//! or a hidden temporary file stays behind, which loading ignores and the
//! next writer's clean-up (temporary files) or the operator (key files)
//! removes.

use std::fs;
use std::io::ErrorKind;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};

use super::{Algorithm, FolderLock, KeyError, KeyFolder, KeyMeta, KeyState, SigningKey};
pub use import::{Import, MAX_IMPORT_FILE_BYTES};

mod import;

/// How `rotate` proceeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotateOptions {
    /// Algorithm of the new `next` key; an algorithm switch therefore
    /// completes at the following rotation.
    pub alg: Algorithm,
    /// Modulus size of a new RSA key: 2048, 3072 or 4096.
    pub rsa_bits: usize,
    /// Least time the `next` key must have been published (its
    /// `created_at`) before it may sign: the JWK Set's max-age, so that every
    /// verifier caching the set already knows it.
    pub min_next_age: Duration,
    /// Rotate even when the `next` key is younger than `min_next_age`, or
    /// activate a brand-new key when there is no `next` key at all.
    pub force: bool,
    /// How long the retired key stays published: its end of grace is
    /// recorded with it, so that a later `prune`, in whatever environment
    /// it runs, keeps it that long.
    pub grace: Duration,
}

/// What a rotation changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The key that signs from now on (the former `next` key).
    pub active: KeyMeta,
    /// The former active key, still published until pruned.
    pub retired: KeyMeta,
    /// The freshly generated `next` key.
    pub next: KeyMeta,
}

impl KeyMeta {
    /// When a retired key may be pruned: the end of grace recorded when it
    /// was retired; for a key retired by an older sigil, which recorded
    /// none, `retired_at + fallback_grace`. `None` for keys that are not
    /// retired, or retired without a date (prune stamps one).
    pub fn prunable_at(&self, fallback_grace: Duration) -> Option<DateTime<Utc>> {
        if self.state != KeyState::Retired {
            return None;
        }
        if let Some(until) = self.grace_until {
            return Some(until);
        }
        self.retired_at?
            .checked_add_signed(TimeDelta::from_std(fallback_grace).ok()?)
    }

    /// Since when the key has signed: `activated_at`, or `created_at` for a
    /// key that became active without a stamp (a hand-written manifest).
    pub fn in_service_since(&self) -> DateTime<Utc> {
        self.activated_at.unwrap_or(self.created_at)
    }
}

impl KeyFolder {
    /// Promotes the `next` key to active, retires the active key and
    /// publishes a fresh `next` key of `opts.alg`.
    ///
    /// Refuses with [`KeyError::NextKeyTooNew`] when the `next` key has been
    /// published for less than `opts.min_next_age`, unless `opts.force`.
    /// When the folder has no `next` key, no published key can become active:
    /// it publishes one and refuses with [`KeyError::NoNextKey`], unless
    /// `opts.force`, which activates a new key (of the active key's
    /// algorithm) at once. With several `next` keys the oldest is promoted.
    ///
    /// Blocking: file I/O, key generation, and waiting for the folder lock.
    pub fn rotate(&self, opts: RotateOptions) -> Result<Rotation, KeyError> {
        let lock = self.lock_existing()?;
        let keys = self.load()?.into_keys();
        self.rotate_locked(&lock, keys, &opts, Utc::now())
    }

    /// Rotates when the active key has signed for `interval` or longer
    /// (since its `activated_at`, or `created_at` if never stamped), for
    /// automatic rotation by instances that share the folder: the check and
    /// the rotation happen under one lock, on the manifest as it is then, so
    /// only the first instance to get there rotates in each interval.
    ///
    /// `Ok(None)`: not due yet. Errors as [`KeyFolder::rotate`].
    pub fn rotate_if_due(
        &self,
        interval: Duration,
        opts: RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Option<Rotation>, KeyError> {
        let lock = self.lock_existing()?;
        let keys = self.load()?.into_keys();
        let since = keys
            .iter()
            .find(|k| k.state() == KeyState::Active)
            .map_or(now, |active| active.meta().in_service_since());
        if elapsed(since, now) < interval {
            return Ok(None);
        }
        self.rotate_locked(&lock, keys, &opts, now).map(Some)
    }

    /// Removes `retired` keys whose grace is over at `now` (see
    /// [`KeyMeta::prunable_at`]): first from the manifest (the commit), then
    /// their files, best effort (a file left behind is unlisted, so it is
    /// ignored). `next` and `active` keys are never pruned. Returns the
    /// pruned keys.
    ///
    /// Each key's grace is the one recorded when it was retired;
    /// `fallback_grace` (this process's setting) serves only keys retired by
    /// an older sigil, which recorded none, and a warning says so. A retired
    /// key without `retired_at` (a hand-written manifest) is stamped `now`,
    /// with its grace ending `fallback_grace` from now.
    pub fn prune(
        &self,
        fallback_grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyMeta>, KeyError> {
        let now = now.trunc_subsecs(0);
        let lock = self.lock_existing()?;
        let listing = self.read_listing()?;
        let keys = self.read_keys(&listing)?;
        let mut stamped = false;
        let mut kept = Vec::with_capacity(keys.len());
        let mut pruned = Vec::new();
        for (mut key, listed) in keys.into_iter().zip(listing) {
            if key.state() == KeyState::Retired && key.meta().retired_at.is_none() {
                tracing::warn!(
                    kid = key.kid(),
                    "retired key without retired_at; counting its grace from now"
                );
                key.set_state(KeyState::Retired, now);
                key.set_grace_until(grace_end(now, fallback_grace));
                stamped = true;
            } else if key.state() == KeyState::Retired && key.meta().grace_until.is_none() {
                tracing::warn!(
                    kid = key.kid(),
                    grace = %humantime::format_duration(fallback_grace),
                    "retired key without a recorded grace (retired by an older sigil); \
                     using this process's SIGIL_KEY_GRACE"
                );
            }
            match key.meta().prunable_at(fallback_grace) {
                Some(at) if at <= now => pruned.push(listed),
                _ => kept.push(key),
            }
        }
        if pruned.is_empty() && !stamped {
            return Ok(Vec::new());
        }
        self.write(&lock, &kept.iter().collect::<Vec<_>>())?;

        // After the commit nothing lists these files; a reader that read the
        // previous manifest retries (see `KeyFolder::load`).
        for listed in &pruned {
            let path = self.path().join(&listed.file);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "the pruned key is no longer published, but its file could not be deleted; delete it by hand"
                ),
            }
        }
        let kids: Vec<&str> = pruned.iter().map(|p| p.meta.kid.as_str()).collect();
        if !kids.is_empty() {
            tracing::info!(target: "audit", event = "keys_pruned", kids = ?kids);
        }
        Ok(pruned.into_iter().map(|p| p.meta).collect())
    }

    /// The lock, once the folder is known to hold a key set: transitions
    /// never create one (that is `load_or_init`'s job).
    fn lock_existing(&self) -> Result<FolderLock, KeyError> {
        let manifest = self.manifest_path();
        match manifest.try_exists() {
            Ok(true) => self.lock(),
            Ok(false) => Err(KeyError::NoManifest { path: manifest }),
            Err(e) => Err(KeyError::io("look for manifest", manifest, e)),
        }
    }

    /// `rotate` on `keys`, the set as loaded under `lock`.
    fn rotate_locked(
        &self,
        lock: &FolderLock,
        mut keys: Vec<SigningKey>,
        opts: &RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Rotation, KeyError> {
        let now = now.trunc_subsecs(0);
        let active = keys
            .iter()
            .position(|k| k.state() == KeyState::Active)
            .ok_or_else(|| KeyError::InvalidSet("no key is active".into()))?;
        let oldest_next = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.state() == KeyState::Next)
            .min_by_key(|(_, k)| k.meta().created_at)
            .map(|(index, _)| index);

        let promoted = match oldest_next {
            Some(index) => {
                let next = keys[index].meta();
                let published = whole_seconds(elapsed(next.created_at, now));
                if published < opts.min_next_age {
                    if !opts.force {
                        return Err(KeyError::NextKeyTooNew {
                            kid: next.kid.clone(),
                            published,
                            required: opts.min_next_age,
                        });
                    }
                    tracing::warn!(
                        kid = %next.kid,
                        published = %humantime::format_duration(published),
                        required = %humantime::format_duration(opts.min_next_age),
                        "forced rotation: verifiers that cached the JWK Set before this key was \
                         published reject its tokens until they fetch the set again"
                    );
                }
                index
            }
            None if opts.force => {
                tracing::warn!(
                    "forced rotation without a next key: the new active key was never \
                     published; verifiers reject its tokens until they fetch the JWK Set again"
                );
                keys.push(SigningKey::generate(keys[active].alg(), opts.rsa_bits)?);
                keys.len() - 1
            }
            None => {
                let next = SigningKey::generate(opts.alg, opts.rsa_bits)?;
                let kid = next.kid().to_owned();
                keys.push(next);
                self.write(lock, &in_publish_order(&keys))?;
                tracing::info!(
                    target: "audit",
                    event = "next_key_published",
                    next_kid = %kid,
                    reason = "the keys folder had no next key"
                );
                return Err(KeyError::NoNextKey {
                    published: kid,
                    required: opts.min_next_age,
                });
            }
        };

        // Generated before anything changes, so a failure leaves the set as it was.
        let fresh = SigningKey::generate(opts.alg, opts.rsa_bits)?;
        keys[active].set_state(KeyState::Retired, now);
        keys[active].set_grace_until(grace_end(now, opts.grace));
        keys[promoted].set_state(KeyState::Active, now);
        let rotation = Rotation {
            active: keys[promoted].meta().clone(),
            retired: keys[active].meta().clone(),
            next: fresh.meta().clone(),
        };
        keys.push(fresh);
        self.write(lock, &in_publish_order(&keys))?;
        tracing::info!(
            target: "audit",
            event = "key_rotated",
            active_kid = %rotation.active.kid,
            retired_kid = %rotation.retired.kid,
            next_kid = %rotation.next.kid,
            forced = opts.force
        );
        Ok(rotation)
    }
}

/// Active, then next, then retired, each in their current order: how the
/// manifest reads best and how the JWK Set orders them anyway.
fn in_publish_order(keys: &[SigningKey]) -> Vec<&SigningKey> {
    let mut ordered: Vec<&SigningKey> = keys.iter().collect();
    ordered.sort_by_key(|k| k.state().publish_rank());
    ordered
}

/// `at + grace`, or `None` past the calendar (settings keep graces far
/// shorter; prune then falls back to its own grace).
fn grace_end(at: DateTime<Utc>, grace: Duration) -> Option<DateTime<Utc>> {
    at.checked_add_signed(TimeDelta::from_std(grace).ok()?)
}

/// Time from `since` to `now`; zero if `since` is in the future (clock skew).
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

#[cfg(test)]
mod tests;
