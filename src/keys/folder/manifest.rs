//! The manifest `keyset.json`: which files form the key set and each key's
//! state and dates. Versioned; unknown fields are ignored, so additive
//! fields need no new version.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::{Algorithm, KeyError, KeyMeta, KeyState};

/// File name of the manifest inside the keys folder.
pub const MANIFEST_FILE: &str = "keyset.json";
/// Bump when a change cannot be read by older versions; additive fields
/// (with `#[serde(default)]`) need no bump, as unknown fields are ignored.
const MANIFEST_VERSION: u32 = 1;

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
    /// End of a retired key's grace, recorded when it was retired; absent
    /// from manifests of older versions (and for keys never retired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grace_until: Option<DateTime<Utc>>,
}

impl ManifestEntry {
    fn new(listed: &ListedKey) -> Self {
        let meta = &listed.meta;
        ManifestEntry {
            kid: meta.kid.clone(),
            alg: meta.alg,
            state: meta.state,
            file: listed.file.clone(),
            created_at: meta.created_at,
            activated_at: meta.activated_at,
            retired_at: meta.retired_at,
            grace_until: meta.grace_until,
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
            grace_until: self.grace_until,
        }
    }
}

/// The manifest listing `keys` in this order, as the bytes to write.
pub(super) fn encode(path: &Path, keys: &[ListedKey]) -> Result<Vec<u8>, KeyError> {
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        keys: keys.iter().map(ManifestEntry::new).collect(),
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| KeyError::Manifest {
        path: path.to_owned(),
        reason: format!("cannot serialize: {e}"),
    })?;
    json.push(b'\n');
    Ok(json)
}

/// Reads the manifest at `path` and checks its version and every file name
/// in it.
pub(super) fn read_manifest(path: &Path) -> Result<Vec<ListedKey>, KeyError> {
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
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    manifest
        .keys
        .into_iter()
        .map(|entry| {
            check_file_name(&entry.file)
                .map_err(|reason| bad(format!("key {}: {reason}", entry.kid)))?;
            Ok(ListedKey {
                meta: entry.meta(),
                file: entry.file,
            })
        })
        .collect()
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
