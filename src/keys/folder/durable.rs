//! Durable writes: a file appears under its name complete or not at all
//! (temp file, fsync, rename), and the folder's entries are synced before
//! anything that depends on them. Key material is never readable by others,
//! not even for a moment.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::super::KeyError;
use super::KeyFolder;

/// Suffix of in-flight files; hidden (leading dot) as well.
const TEMP_SUFFIX: &str = ".tmp";

impl KeyFolder {
    /// Writes `bytes` to `<folder>/<name>` so that the name shows either the
    /// old content or the complete new one, never a partial file.
    pub(super) fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), KeyError> {
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

    /// Makes the folder's entries (new names, renames) durable.
    pub(super) fn sync_dir(&self) -> Result<(), KeyError> {
        File::open(&self.path)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| KeyError::io("sync keys folder", &self.path, e))
    }

    /// Temp files of a writer that crashed may hold key material; the lock
    /// holder is the only writer, so any it finds are stale.
    pub(super) fn remove_stale_temp_files(&self) {
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
