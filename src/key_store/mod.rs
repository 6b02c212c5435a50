//! Where the key set is kept: the keys folder (the default, one machine or
//! a shared volume) or the PostgreSQL database (a fleet with no shared
//! filesystem, private keys sealed under `SIGIL_KEY_ENCRYPTION_KEY`).
//!
//! [`KeyStore`] gives the server, the reloader and `sigil keys …` one
//! interface over both: load, list, rotate, prune, import. Both apply the
//! same life-cycle rules (`crate::keys::plan_*`), each committing in its own
//! way: the folder by renaming its manifest under a file lock
//! ([`KeyFolder`]), the database in one transaction under an advisory lock
//! ([`DatabaseKeys`]). `migrate` moves a key set from one to the other with
//! every kid kept.

mod database;
mod migrate;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::keys::{
    Algorithm, Import, KeyError, KeyFolder, KeyMeta, KeySet, RotateOptions, Rotation,
    read_import_file,
};
pub use database::{DatabaseKeys, KeyChanges, StoreSet};
pub use migrate::{Migration, migrate_to_database, migrate_to_folder};

/// The key set's home.
#[derive(Clone, Debug)]
pub enum KeyStore {
    /// `SIGIL_KEYS_DIR`: PEM files and a manifest.
    Folder(KeyFolder),
    /// The `signing_keys` table, sealed.
    Database(DatabaseKeys),
}

impl KeyStore {
    /// For messages: `the keys folder keys/` or `the database`.
    pub fn describe(&self) -> String {
        match self {
            KeyStore::Folder(folder) => folder_name(folder.path()),
            KeyStore::Database(_) => "the database".to_owned(),
        }
    }

    /// The set as it is now; on first start (no set yet) a fresh one: an
    /// `active` and a `next` key of `alg`. Concurrent first starts end with
    /// the same single set.
    pub async fn load_or_init(&self, alg: Algorithm, rsa_bits: usize) -> Result<KeySet, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let folder = folder.clone();
                blocking(move || folder.load_or_init(alg, rsa_bits)).await
            }
            KeyStore::Database(db) => db.load_or_init(alg, rsa_bits).await,
        }
    }

    /// The set as it is now, every key read and checked.
    pub async fn load(&self) -> Result<KeySet, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let folder = folder.clone();
                blocking(move || folder.load()).await
            }
            KeyStore::Database(db) => db.load().await,
        }
    }

    /// Every key's metadata, without reading (or opening) private keys.
    pub async fn list(&self) -> Result<Vec<KeyMeta>, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let folder = folder.clone();
                blocking(move || folder.list()).await
            }
            KeyStore::Database(db) => db.list().await,
        }
    }

    /// `sigil keys rotate`; see [`crate::keys::plan_rotation`].
    pub async fn rotate(&self, opts: RotateOptions) -> Result<Rotation, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let folder = folder.clone();
                blocking(move || folder.rotate(opts)).await
            }
            KeyStore::Database(db) => db.rotate(opts).await,
        }
    }

    /// Automatic rotation: rotates when the active key has signed for
    /// `interval`, checked under the same lock, so several instances make
    /// one rotation per interval. `Ok(None)`: not due.
    pub async fn rotate_if_due(
        &self,
        interval: Duration,
        opts: RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Option<Rotation>, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let folder = folder.clone();
                blocking(move || folder.rotate_if_due(interval, opts, now)).await
            }
            KeyStore::Database(db) => db.rotate_if_due(interval, opts, now).await,
        }
    }

    /// `sigil keys prune`; see [`crate::keys::plan_prune`].
    pub async fn prune(
        &self,
        fallback_grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyMeta>, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let folder = folder.clone();
                blocking(move || folder.prune(fallback_grace, now)).await
            }
            KeyStore::Database(db) => db.prune(fallback_grace, now).await,
        }
    }

    /// `sigil keys import FILE`: the file is read and checked before the
    /// store is touched.
    pub async fn import(&self, file: &Path) -> Result<Import, KeyError> {
        match self {
            KeyStore::Folder(folder) => {
                let (folder, file) = (folder.clone(), file.to_owned());
                blocking(move || folder.import(&file)).await
            }
            KeyStore::Database(db) => {
                let file = file.to_owned();
                let key = blocking(move || read_import_file(&file)).await?;
                db.import(key).await
            }
        }
    }
}

/// `the keys folder keys/`: the path with a trailing slash, so that a short
/// relative name reads as a folder in a sentence.
pub fn folder_name(path: &Path) -> String {
    let shown = path.display().to_string();
    if shown.ends_with('/') {
        format!("the keys folder {shown}")
    } else {
        format!("the keys folder {shown}/")
    }
}

/// Runs blocking key work (file I/O, the folder lock, key generation) off
/// the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, KeyError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KeyError::InvalidSet(format!("key task failed: {e}")))?
}
