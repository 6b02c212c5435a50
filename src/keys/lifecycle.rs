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

use chrono::{DateTime, TimeDelta, Utc};

use super::folder::ListedKey;
use super::{Algorithm, FolderLock, KeyError, KeyFolder, KeyMeta, KeyState, SigningKey};
pub use import::{Import, MAX_IMPORT_FILE_BYTES, read_import_file};
pub use plan::{
    ImportPlan, PrunePlan, RotationPlan, plan_import, plan_prune, plan_rotation, rotation_due,
};

mod import;
mod plan;

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
    /// publishes a fresh `next` key of `opts.alg`; the rules and refusals are
    /// [`plan_rotation`]'s.
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
        if !rotation_due(&keys, interval, now) {
            return Ok(None);
        }
        self.rotate_locked(&lock, keys, &opts, now).map(Some)
    }

    /// Removes `retired` keys whose grace is over at `now` ([`plan_prune`]):
    /// first from the manifest (the commit), then their files, best effort
    /// (a file left behind is unlisted, so it is ignored). Returns the
    /// pruned keys.
    pub fn prune(
        &self,
        fallback_grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyMeta>, KeyError> {
        let lock = self.lock_existing()?;
        let listing = self.read_listing()?;
        let keys = self.read_keys(&listing)?;
        let Some(plan) = plan_prune(keys, fallback_grace, now) else {
            return Ok(Vec::new());
        };
        self.write(&lock, &plan.keys().iter().collect::<Vec<_>>())?;

        // After the commit nothing lists these files; a reader that read the
        // previous manifest retries (see `KeyFolder::load`).
        let gone = plan.pruned().iter().map(|meta| meta.kid.as_str());
        self.remove_unlisted_files(&listing, gone, "pruned key");
        Ok(plan.committed())
    }

    /// Deletes, best effort, the files of the `kids` in `listing`, which the
    /// committed manifest no longer names.
    pub(crate) fn remove_unlisted_files<'a>(
        &self,
        listing: &[ListedKey],
        kids: impl Iterator<Item = &'a str>,
        what: &str,
    ) {
        for kid in kids {
            let Some(listed) = listing.iter().find(|l| l.meta.kid == kid) else {
                continue;
            };
            let path = self.path().join(&listed.file);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "the {what} is no longer published, but its file could not be deleted; delete it by hand"
                ),
            }
        }
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
        keys: Vec<SigningKey>,
        opts: &RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Rotation, KeyError> {
        let plan = plan_rotation(keys, opts, now)?;
        self.write(lock, &plan.keys().iter().collect::<Vec<_>>())?;
        plan.committed()
    }
}

#[cfg(test)]
mod tests;
