//! The keys folder on disk: one `<kid>.pem` (PKCS#8) per key and the
//! manifest `keyset.json`, which says which files form the set and each
//! key's state.
//!
//! Writers hold an exclusive lock on `<folder>/.lock`, write every new key
//! file by temp file + fsync + rename, then replace the manifest the same
//! way. The manifest rename is the single commit point, so readers need no
//! lock and never see half a key set: they see the old manifest (whose files
//! are all still there) or the new one (whose files were durable before it).
//!
//! This file holds the protocol itself ([`KeyFolder::load`] and
//! [`KeyFolder::write`]); its parts live beside it: `manifest` (the format),
//! `durable` (temp file, fsync, rename), `lock` (the writers' lock),
//! `key_file` (reading a key back) and `setup` (first start).

mod durable;
mod key_file;
mod lock;
mod manifest;
mod setup;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::set::validate_set;
use super::{KeyError, KeyMeta, KeySet, SigningKey};
use key_file::{is_missing_file, read_key_file};
pub use lock::FolderLock;
pub(crate) use manifest::ListedKey;
pub use manifest::MANIFEST_FILE;

/// How many times [`KeyFolder::load`] reads the manifest when key files
/// vanish under it because writers keep replacing it.
const LOAD_ATTEMPTS: usize = 10;

/// The folder holding the key files and the manifest.
#[derive(Clone, Debug)]
pub struct KeyFolder {
    path: PathBuf,
}

impl KeyFolder {
    /// A handle on the folder at `path`; touches nothing on disk.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeyFolder { path: path.into() }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Path of `keyset.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.path.join(MANIFEST_FILE)
    }

    /// Reads the manifest and every key file it names, checks each key's
    /// algorithm and kid against the manifest and that exactly one key is
    /// active. Errors name the file and the problem, never key material.
    ///
    /// `prune` deletes key files right after committing a manifest that no
    /// longer lists them, so a reader that read the previous manifest may
    /// find a file gone: then, if the manifest has changed, it starts over.
    pub fn load(&self) -> Result<KeySet, KeyError> {
        let mut listing = self.read_listing()?;
        let mut attempt = 1;
        let keys = loop {
            match self.read_keys(&listing) {
                Ok(keys) => break keys,
                Err(e) if attempt < LOAD_ATTEMPTS && is_missing_file(&e) => {
                    let current = self.read_listing()?;
                    if current == listing {
                        return Err(e);
                    }
                    listing = current;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        KeySet::new(keys).map_err(|e| KeyError::Manifest {
            path: self.manifest_path(),
            reason: e.to_string(),
        })
    }

    /// The keys the manifest lists, in manifest order, without reading any
    /// key file: what `sigil keys list` shows even when a key file is broken.
    pub fn list(&self) -> Result<Vec<KeyMeta>, KeyError> {
        Ok(self
            .read_listing()?
            .into_iter()
            .map(|listed| listed.meta)
            .collect())
    }

    /// Reads the manifest and checks every file name in it.
    pub(crate) fn read_listing(&self) -> Result<Vec<ListedKey>, KeyError> {
        manifest::read_manifest(&self.manifest_path())
    }

    /// Reads and checks the key file of every listed key, in listing order.
    pub(crate) fn read_keys(&self, listing: &[ListedKey]) -> Result<Vec<SigningKey>, KeyError> {
        listing
            .iter()
            .map(|listed| read_key_file(&self.path.join(&listed.file), listed.meta.clone()))
            .collect()
    }

    /// Commits `keys` as the folder's key set, in this order.
    ///
    /// Each key is stored as `<kid>.pem`, mode 0600 from creation. A file
    /// that already exists is checked to hold that very key instead, and
    /// only replaced (atomically, same key) when it holds an Ed25519 key in
    /// the PKCS#8 v2 form of older versions, which OpenSSL cannot read. Then the manifest is replaced: that rename is the
    /// commit. Files of keys left out stay on disk (pruning is separate).
    pub fn write(&self, _lock: &FolderLock, keys: &[&SigningKey]) -> Result<(), KeyError> {
        validate_set(keys.iter().copied()).map_err(|e| KeyError::Manifest {
            path: self.manifest_path(),
            reason: format!("refusing to write: {e}"),
        })?;
        self.remove_stale_temp_files();
        let mut listing = Vec::with_capacity(keys.len());
        for key in keys {
            // A kid is a base64url thumbprint, so this is a safe file name.
            let file = format!("{}.pem", key.kid());
            let path = self.path.join(&file);
            match fs::symlink_metadata(&path) {
                Ok(_) => {
                    let on_disk = read_key_file(&path, key.meta().clone())?;
                    if on_disk.file_is_outdated() {
                        // The same key in the encoding OpenSSL reads; a
                        // reader sees one complete file or the other.
                        self.write_atomically(&file, on_disk.to_pkcs8_pem().as_bytes())?;
                        tracing::info!(
                            file = %path.display(),
                            "rewrote an Ed25519 key file of an older sigil as PKCS#8 v1"
                        );
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.write_atomically(&file, key.to_pkcs8_pem().as_bytes())?;
                }
                Err(e) => return Err(KeyError::io("inspect key file", &path, e)),
            }
            listing.push(ListedKey {
                meta: key.meta().clone(),
                file,
            });
        }
        // The new files' directory entries must be durable before the
        // manifest that names them.
        self.sync_dir()?;
        let json = manifest::encode(&self.manifest_path(), &listing)?;
        self.write_atomically(MANIFEST_FILE, &json)?;
        self.sync_dir()
    }
}

#[cfg(test)]
mod tests;
