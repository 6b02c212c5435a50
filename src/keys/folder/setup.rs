//! First start: create the folder (mode 0700) and, under the lock, a first
//! key set of one `active` and one `next` key, unless the folder holds
//! files an operator might own.
//!
//! The folder's mode: a folder that already existed may be looser than 0700
//! (git creates the repository's `keys/`, which holds `README.md`, as 0755).
//! When sigil creates the key set in a folder its user owns, the folder is
//! sigil's: it is tightened to 0700 and that is said once. Any other loose
//! folder (someone else's, or one that already holds a key set) is the
//! operator's to fix, and every start warns about it.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};

use super::super::material::RSA_KEY_SIZES;
use super::super::{Algorithm, KeyError, KeySet, SigningKey};
use super::{FolderLock, KeyFolder};

impl KeyFolder {
    /// Loads the key set, creating it on first start.
    ///
    /// With a manifest: just loads (no lock needed, so a read-only folder
    /// works). Without one: creates the folder (mode 0700), takes the lock,
    /// and, if still no manifest and no files an operator might own, writes
    /// one `active` and one `next` key of `alg`. Either way the set returned
    /// is the one read back from disk, so concurrent first starts end up
    /// with the same single set.
    pub fn load_or_init(&self, alg: Algorithm, rsa_bits: usize) -> Result<KeySet, KeyError> {
        // A bad setting is reported even when keys exist, so it is noticed
        // before the day a rotation would need it.
        if alg == Algorithm::Rs256 && !RSA_KEY_SIZES.contains(&rsa_bits) {
            return Err(KeyError::UnsupportedRsaBits(rsa_bits));
        }
        let mut created = false;
        if !self.manifest_exists()? {
            self.create_dir()?;
            let lock = self.lock()?;
            // Another process may have initialised while we waited.
            if !self.manifest_exists()? {
                self.init(&lock, alg, rsa_bits)?;
                created = true;
            }
        }
        if !created {
            self.warn_if_loose();
        }
        let set = self.load()?;
        if set.active().alg() != alg {
            tracing::warn!(
                folder = %self.path.display(),
                configured = %alg,
                active = %set.active().alg(),
                "the active key's algorithm differs from the configured one; \
                 tokens are signed with the active key"
            );
        }
        Ok(set)
    }

    /// Writes a fresh set: one active and one next key.
    fn init(&self, lock: &FolderLock, alg: Algorithm, rsa_bits: usize) -> Result<(), KeyError> {
        self.claim_empty()?;
        let [active, next] = SigningKey::first_set(alg, rsa_bits)?;
        self.write(lock, &[&active, &next])?;
        tracing::info!(
            folder = %self.path.display(),
            %alg,
            active = active.kid(),
            next = next.kid(),
            "created a new key set"
        );
        Ok(())
    }

    /// Writes `keys`, a whole set from elsewhere (`sigil keys migrate --to
    /// folder`), into this folder, which must hold no key set yet: created
    /// (mode 0700) if missing, refused if it holds files an operator might
    /// own. A folder that already holds exactly these kids is left as it is
    /// (`Ok(false)`: a migration run twice); any other set is refused.
    pub fn adopt(&self, keys: &[SigningKey]) -> Result<bool, KeyError> {
        self.create_dir()?;
        let lock = self.lock()?;
        if self.manifest_exists()? {
            let held: BTreeSet<String> = self.list()?.into_iter().map(|m| m.kid).collect();
            let given: BTreeSet<String> = keys.iter().map(|k| k.kid().to_owned()).collect();
            if held == given {
                return Ok(false);
            }
            return Err(KeyError::DestinationHoldsKeys {
                destination: format!("the keys folder {}/", self.path.display()),
                kids: held.into_iter().collect(),
            });
        }
        self.claim_empty()?;
        self.write(&lock, &keys.iter().collect::<Vec<_>>())?;
        Ok(true)
    }

    /// Before a first key set is written: refuses a folder holding files an
    /// operator might own, and tightens a loose one.
    fn claim_empty(&self) -> Result<(), KeyError> {
        let files = self.unmanaged_files()?;
        if !files.is_empty() {
            return Err(KeyError::UnmanagedFiles {
                path: self.path.clone(),
                files,
            });
        }
        self.tighten();
        Ok(())
    }

    fn manifest_exists(&self) -> Result<bool, KeyError> {
        let path = self.manifest_path();
        path.try_exists()
            .map_err(|e| KeyError::io("look for manifest", &path, e))
    }

    fn create_dir(&self) -> Result<(), KeyError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(|e| KeyError::io("create keys folder", &self.path, e))
    }

    /// Before the first key set is written: a loose folder that this user
    /// owns becomes 0700 (said once, here); any other stays and is warned about.
    fn tighten(&self) {
        let Ok(meta) = fs::metadata(&self.path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        if owned_by_this_user(&meta)
            && fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700)).is_ok()
        {
            tracing::info!(
                folder = %self.path.display(),
                was = format!("{mode:o}"),
                "tightened the keys folder to mode 700 for the new key set"
            );
        } else {
            self.warn_if_loose();
        }
    }

    /// Warns when group or others may enter or read the folder.
    fn warn_if_loose(&self) {
        if let Ok(meta) = fs::metadata(&self.path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                folder = %self.path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the keys folder is accessible to group or others; chmod 700 it"
            );
        }
    }

    /// Names of entries that could be an operator's keys: anything but
    /// hidden entries (ours: `.lock`, temp files; tooling: `.gitkeep`),
    /// directories (e.g. `lost+found` at the root of a mounted volume) and
    /// `README*` notes (the repository ships `keys/README.md`).
    fn unmanaged_files(&self) -> Result<Vec<String>, KeyError> {
        let list_error = |e| KeyError::io("list keys folder", &self.path, e);
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.path).map_err(list_error)? {
            let entry = entry.map_err(list_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                || name.starts_with("README")
                || entry.file_type().map_err(list_error)?.is_dir()
            {
                continue;
            }
            files.push(name);
        }
        files.sort();
        Ok(files)
    }
}

/// Whether the running (effective) user owns the file `meta` describes.
/// Root could change anyone's folder; it changes only its own.
#[cfg(target_os = "linux")]
fn owned_by_this_user(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    meta.uid() == rustix::process::geteuid().as_raw()
}

/// Without a portable way to ask who runs sigil, no folder counts as its own.
#[cfg(not(target_os = "linux"))]
fn owned_by_this_user(_: &fs::Metadata) -> bool {
    false
}
