//! The writers' lock: an exclusive lock on `<folder>/.lock`, held across
//! every read-modify-write of the set (first start, rotation, pruning).
//! Readers never take it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;

use super::super::KeyError;
use super::KeyFolder;

/// Lock file; hidden so it never counts as an operator's file.
pub(super) const LOCK_FILE: &str = ".lock";

/// Proof that this process holds the folder's exclusive lock; released on
/// drop. Required by [`KeyFolder::write`].
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl KeyFolder {
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
}
