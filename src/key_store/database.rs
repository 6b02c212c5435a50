//! SKELETON (helper `dbkeys` replaces every body): the key set in
//! PostgreSQL, sealed. See /work/wt/CONTRACT-14.md.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::KeyEncryptionKeys;
use crate::keys::{
    Algorithm, Import, KeyError, KeyMeta, KeySet, RotateOptions, Rotation, SigningKey,
};
use crate::store::Store;

/// The key set in the database's `signing_keys` table.
#[derive(Clone, Debug)]
pub struct DatabaseKeys {}

/// What [`DatabaseKeys::store_set`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreSet {
    /// The table was empty; the keys were written.
    Stored,
    /// The table already held exactly these kids; nothing written.
    AlreadyThere,
}

/// Notifications of committed changes (LISTEN).
pub struct KeyChanges {}

impl KeyChanges {
    /// `Ok(Some(version))`: a change was committed. `Ok(None)`: the
    /// connection was lost and has been re-established; notifications may
    /// have been missed, so re-read. `Err`: reconnecting failed.
    pub async fn next(&mut self) -> Result<Option<i64>, KeyError> {
        todo!()
    }
}

#[allow(unused_variables, clippy::unused_async)]
impl DatabaseKeys {
    /// The key table of `store` (PostgreSQL only), sealed under `keys`.
    pub fn connect(store: &dyn Store, keys: &KeyEncryptionKeys) -> Result<DatabaseKeys, KeyError> {
        todo!()
    }
    pub async fn load_or_init(&self, alg: Algorithm, rsa_bits: usize) -> Result<KeySet, KeyError> {
        todo!()
    }
    pub async fn load(&self) -> Result<KeySet, KeyError> {
        todo!()
    }
    pub async fn list(&self) -> Result<Vec<KeyMeta>, KeyError> {
        todo!()
    }
    pub async fn version(&self) -> Result<i64, KeyError> {
        todo!()
    }
    pub async fn rotate(&self, opts: RotateOptions) -> Result<Rotation, KeyError> {
        todo!()
    }
    pub async fn rotate_if_due(
        &self,
        interval: Duration,
        opts: RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Option<Rotation>, KeyError> {
        todo!()
    }
    pub async fn prune(
        &self,
        fallback_grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyMeta>, KeyError> {
        todo!()
    }
    pub async fn import(&self, key: SigningKey) -> Result<Import, KeyError> {
        todo!()
    }
    pub async fn reseal(&self) -> Result<usize, KeyError> {
        todo!()
    }
    pub async fn store_set(&self, keys: &[SigningKey]) -> Result<StoreSet, KeyError> {
        todo!()
    }
    pub async fn listen(&self) -> Result<KeyChanges, KeyError> {
        todo!()
    }
}
