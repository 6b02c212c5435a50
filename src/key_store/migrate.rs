//! `sigil keys migrate --to database|folder`: the same keys, every kid and
//! state and date kept, moved from one store to the other, so a deployment
//! grows from one machine to a fleet (and back) with no token invalidated.
//!
//! The source is read under its own lock and stays as it was; the
//! destination must hold no key set (or already exactly this one: a
//! migration run twice is not an error). After the move the operator
//! switches `SIGIL_KEY_STORE` and restarts; until then nothing changes for
//! the running servers.

use super::{DatabaseKeys, StoreSet, blocking};
use crate::keys::{KeyError, KeyFolder};

/// What a migration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Migration {
    /// The keys were written to the destination.
    Copied {
        /// Their kids, active first.
        kids: Vec<String>,
    },
    /// The destination already held exactly these kids; nothing written.
    AlreadyThere {
        /// Their kids, active first.
        kids: Vec<String>,
    },
}

/// Copies the folder's key set into the database. The folder lock is held
/// from the read to the end of the write, so no rotation of the folder
/// slips in between and is lost.
pub async fn migrate_to_database(
    folder: &KeyFolder,
    database: &DatabaseKeys,
) -> Result<Migration, KeyError> {
    let source = folder.clone();
    let (lock, set) = blocking(move || {
        // `list` first: a folder with no key set is refused before a lock
        // file is made in it.
        source.list()?;
        let lock = source.lock()?;
        let set = source.load()?;
        Ok((lock, set))
    })
    .await?;
    let keys = set.into_keys();
    let kids = keys.iter().map(|k| k.kid().to_owned()).collect();
    let outcome = database.store_set(&keys).await;
    drop(lock);
    match outcome? {
        StoreSet::Stored => Ok(Migration::Copied { kids }),
        StoreSet::AlreadyThere => Ok(Migration::AlreadyThere { kids }),
    }
}

/// Copies the database's key set into the folder, which must hold none.
pub async fn migrate_to_folder(
    database: &DatabaseKeys,
    folder: &KeyFolder,
) -> Result<Migration, KeyError> {
    let keys = database.load().await?.into_keys();
    let kids = keys.iter().map(|k| k.kid().to_owned()).collect();
    let destination = folder.clone();
    let written = blocking(move || destination.adopt(&keys)).await?;
    Ok(if written {
        Migration::Copied { kids }
    } else {
        Migration::AlreadyThere { kids }
    })
}
