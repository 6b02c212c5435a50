//! The keys folder on disk: one `<kid>.pem` (PKCS#8) per key and the
//! manifest `keyset.json`, which says which files form the set and each
//! key's state.
//!
//! Writers hold an exclusive lock on `<folder>/.lock`, write every new key
//! file by temp file + fsync + rename, then replace the manifest the same
//! way. The manifest rename is the single commit point, so readers need no
//! lock and never see half a key set: they see the old manifest (whose files
//! are all still there) or the new one (whose files were durable before it).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::material::RSA_KEY_SIZES;
use super::set::validate_set;
use super::{Algorithm, KeyError, KeyMeta, KeySet, KeyState, SigningKey};

/// File name of the manifest inside the keys folder.
pub const MANIFEST_FILE: &str = "keyset.json";
/// Lock file; hidden so it never counts as an operator's file.
const LOCK_FILE: &str = ".lock";
/// Suffix of in-flight files; hidden (leading dot) as well.
const TEMP_SUFFIX: &str = ".tmp";
/// Bump when a change cannot be read by older versions; additive fields
/// (with `#[serde(default)]`) need no bump, as unknown fields are ignored.
const MANIFEST_VERSION: u32 = 1;

/// How many times [`KeyFolder::load`] reads the manifest when key files
/// vanish under it because writers keep replacing it.
const LOAD_ATTEMPTS: usize = 10;

/// One key as the manifest lists it: its metadata and its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListedKey {
    /// Everything the manifest says about the key.
    pub(crate) meta: KeyMeta,
    /// A plain file name inside the folder, checked by `check_file_name`.
    pub(crate) file: String,
}

/// `keyset.json`.
#[derive(Serialize, Deserialize)]
struct Manifest {
    version: u32,
    keys: Vec<ManifestEntry>,
}

/// One key of the manifest: its [`KeyMeta`] plus the file holding it.
#[derive(Serialize, Deserialize)]
struct ManifestEntry {
    kid: String,
    alg: Algorithm,
    state: KeyState,
    /// A plain file name inside the folder.
    file: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    activated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    retired_at: Option<DateTime<Utc>>,
}

impl ManifestEntry {
    fn new(meta: &KeyMeta, file: String) -> Self {
        ManifestEntry {
            kid: meta.kid.clone(),
            alg: meta.alg,
            state: meta.state,
            file,
            created_at: meta.created_at,
            activated_at: meta.activated_at,
            retired_at: meta.retired_at,
        }
    }

    fn meta(&self) -> KeyMeta {
        KeyMeta {
            kid: self.kid.clone(),
            alg: self.alg,
            state: self.state,
            created_at: self.created_at,
            activated_at: self.activated_at,
            retired_at: self.retired_at,
        }
    }
}

/// Proof that this process holds the folder's exclusive lock; released on
/// drop. Required by [`KeyFolder::write`].
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

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
        if !self.manifest_exists()? {
            self.create_dir()?;
            let lock = self.lock()?;
            // Another process may have initialised while we waited.
            if !self.manifest_exists()? {
                self.init(&lock, alg, rsa_bits)?;
            }
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
        let files = self.unmanaged_files()?;
        if !files.is_empty() {
            return Err(KeyError::UnmanagedFiles {
                path: self.path.clone(),
                files,
            });
        }
        let mut active = SigningKey::generate(alg, rsa_bits)?;
        active.set_state(KeyState::Active, active.meta().created_at);
        let next = SigningKey::generate(alg, rsa_bits)?;
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
        let manifest_path = self.manifest_path();
        let manifest = read_manifest(&manifest_path)?;
        manifest
            .keys
            .into_iter()
            .map(|entry| {
                check_file_name(&entry.file).map_err(|reason| KeyError::Manifest {
                    path: manifest_path.clone(),
                    reason: format!("key {}: {reason}", entry.kid),
                })?;
                Ok(ListedKey {
                    meta: entry.meta(),
                    file: entry.file,
                })
            })
            .collect()
    }

    /// Reads and checks the key file of every listed key, in listing order.
    pub(crate) fn read_keys(&self, listing: &[ListedKey]) -> Result<Vec<SigningKey>, KeyError> {
        listing
            .iter()
            .map(|listed| read_key_file(&self.path.join(&listed.file), listed.meta.clone()))
            .collect()
    }

    /// Takes the folder's exclusive lock, waiting for other holders.
    /// Hold it across read-modify-write of the set (first start, rotation).
    /// The folder must exist.
    pub fn lock(&self) -> Result<FolderLock, KeyError> {
        let path = self.path.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| KeyError::io("open lock file", &path, e))?;
        file.lock().map_err(|e| KeyError::io("lock", &path, e))?;
        Ok(FolderLock { _file: file })
    }

    /// Commits `keys` as the folder's key set, in this order.
    ///
    /// Each key is stored as `<kid>.pem`, mode 0600 from creation. A file
    /// that already exists is never overwritten; it is checked to hold that
    /// very key instead. Then the manifest is replaced: that rename is the
    /// commit. Files of keys left out stay on disk (pruning is separate).
    pub fn write(&self, _lock: &FolderLock, keys: &[&SigningKey]) -> Result<(), KeyError> {
        validate_set(keys.iter().copied()).map_err(|e| KeyError::Manifest {
            path: self.manifest_path(),
            reason: format!("refusing to write: {e}"),
        })?;
        self.remove_stale_temp_files();
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            // A kid is a base64url thumbprint, so this is a safe file name.
            let file = format!("{}.pem", key.kid());
            let path = self.path.join(&file);
            match fs::symlink_metadata(&path) {
                Ok(_) => {
                    read_key_file(&path, key.meta().clone())?;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.write_atomically(&file, key.to_pkcs8_pem().as_bytes())?;
                }
                Err(e) => return Err(KeyError::io("inspect key file", &path, e)),
            }
            entries.push(ManifestEntry::new(key.meta(), file));
        }
        // The new files' directory entries must be durable before the
        // manifest that names them.
        self.sync_dir()?;
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            keys: entries,
        };
        let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| KeyError::Manifest {
            path: self.manifest_path(),
            reason: format!("cannot serialize: {e}"),
        })?;
        json.push(b'\n');
        self.write_atomically(MANIFEST_FILE, &json)?;
        self.sync_dir()
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
            .map_err(|e| KeyError::io("create keys folder", &self.path, e))?;
        if let Ok(meta) = fs::metadata(&self.path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                folder = %self.path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the keys folder is accessible to group or others; chmod 700 it"
            );
        }
        Ok(())
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

    /// Writes `bytes` to `<folder>/<name>` so that the name shows either the
    /// old content or the complete new one, never a partial file.
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), KeyError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let temp = self.path.join(format!(
            ".{name}.{}.{}{TEMP_SUFFIX}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let target = self.path.join(name);
        let result = (|| {
            // 0600 from the start: a chmod after writing would leave a
            // window in which the key is readable by others.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
                .map_err(|e| KeyError::io("create", &temp, e))?;
            file.write_all(bytes)
                .map_err(|e| KeyError::io("write", &temp, e))?;
            file.sync_all()
                .map_err(|e| KeyError::io("sync", &temp, e))?;
            fs::rename(&temp, &target).map_err(|e| KeyError::io("rename into place", &target, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn sync_dir(&self) -> Result<(), KeyError> {
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| KeyError::io("sync keys folder", &self.path, e))
    }

    /// Temp files of a writer that crashed may hold key material; the lock
    /// holder is the only writer, so any it finds are stale.
    fn remove_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
                tracing::warn!(file = %entry.path().display(), "removing a stale temporary file");
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn read_manifest(path: &Path) -> Result<Manifest, KeyError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(KeyError::NoManifest {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(KeyError::io("read manifest", path, e)),
    };
    let bad = |reason: String| KeyError::Manifest {
        path: path.to_owned(),
        reason,
    };
    // Check the version before the shape, so a newer manifest gets "newer
    // version" rather than a confusing field error.
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let versioned: Versioned = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a sigil key set manifest: {e}")))?;
    if versioned.version != MANIFEST_VERSION {
        return Err(bad(format!(
            "unsupported version {} (this sigil reads version {MANIFEST_VERSION})",
            versioned.version
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
}

/// A key file named by the manifest does not exist.
fn is_missing_file(error: &KeyError) -> bool {
    matches!(error, KeyError::Io { source, .. } if source.kind() == ErrorKind::NotFound)
}

/// Manifest file names must stay inside the folder and must not collide
/// with our hidden lock and temp files.
fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        Err(format!(
            "file {name:?} must be a plain, non-hidden file name inside the keys folder"
        ))
    } else {
        Ok(())
    }
}

/// Reads and parses one key file, checking it against `meta`.
fn read_key_file(path: &Path, meta: KeyMeta) -> Result<SigningKey, KeyError> {
    let mut file = File::open(path).map_err(|e| KeyError::io("read key file", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| KeyError::io("inspect key file", path, e))
        .map(|m| {
            let mode = m.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "key file is accessible to group or others; chmod 600 it"
                );
            }
            m.len()
        })?;
    // Pre-sized so reading never reallocates and leaves an unwiped copy.
    let capacity = usize::try_from(size).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.read_to_end(&mut bytes)
        .map_err(|e| KeyError::io("read key file", path, e))?;
    let in_file = |source| KeyError::KeyFile {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| in_file(KeyError::Pem("the file is not text".into())))?;
    SigningKey::from_pkcs8_pem(text, meta).map_err(in_file)
}

#[cfg(test)]
mod tests;
