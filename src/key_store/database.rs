//! The key set in PostgreSQL (`SIGIL_KEY_STORE=database`), private keys
//! sealed under the key-encryption key, for a fleet with no shared
//! filesystem.
//!
//! Every change follows one protocol, the database's version of the keys
//! folder's: take the key set's lock and read the set
//! ([`KeyTable::lock`]), open every key, plan with the same pure functions
//! the folder uses (`crate::keys::plan_*`), seal what is new, write the
//! difference, bump the version and notify ([`LockedKeyTable::commit`]),
//! and only then call the plan's `committed()`, which writes the audit
//! event. Two instances changing the set at once therefore run one after
//! the other, and the second plans on what the first committed: two
//! rotations at the same moment make one rotation and one refusal.
//!
//! Opening, sealing and generating keys is CPU work (RSA generation takes
//! up to seconds), done on blocking threads. Reading the set is one
//! `SELECT`, so a reader always sees one committed set.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;

use super::blocking;
use crate::config::KeyEncryptionKeys;
use crate::keys::{
    Algorithm, Import, KeyEncryptionKey, KeyError, KeyMeta, KeySet, KeyState, RSA_KEY_SIZES,
    RotateOptions, Rotation, Sealer, SigningKey, plan_import, plan_prune, plan_rotation,
    rotation_due,
};
use crate::store::{KeyRow, KeyTable, KeyTableListener, LockedKeyTable, Store};

/// The key set in the database's `signing_keys` table. Cheap to clone:
/// clones share the pool and the sealer.
#[derive(Clone, Debug)]
pub struct DatabaseKeys {
    table: KeyTable,
    sealer: Arc<Sealer>,
}

/// What [`DatabaseKeys::store_set`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreSet {
    /// The table was empty; the keys were written.
    Stored,
    /// The table already held exactly these kids; nothing written.
    AlreadyThere,
}

/// Notifications of committed changes (LISTEN), on a connection of their
/// own named `sigil-key-listener`.
#[derive(Debug)]
pub struct KeyChanges {
    listener: KeyTableListener,
}

impl KeyChanges {
    /// `Ok(Some(version))`: a change was committed. `Ok(None)`: the
    /// connection was lost and has been re-established; notifications may
    /// have been missed, so re-read. `Err`: reconnecting failed.
    pub async fn next(&mut self) -> Result<Option<i64>, KeyError> {
        self.listener.next().await
    }
}

impl DatabaseKeys {
    /// The key set in `table`, sealed and opened by `sealer`.
    pub fn new(table: KeyTable, sealer: Sealer) -> DatabaseKeys {
        DatabaseKeys {
            table,
            sealer: Arc::new(sealer),
        }
    }

    /// The key table of `store` (PostgreSQL only), sealed under `keys`.
    pub fn connect(store: &dyn Store, keys: &KeyEncryptionKeys) -> Result<DatabaseKeys, KeyError> {
        let table = store.key_table().ok_or_else(|| KeyError::Database {
            action: "open",
            reason: "SIGIL_KEY_STORE=database needs a PostgreSQL database \
                     (SIGIL_DATABASE_URL=postgres://…)"
                .to_owned(),
        })?;
        let kek = |bytes: &crate::config::KeyEncryptionKeyBytes| {
            KeyEncryptionKey::from_bytes(*bytes.expose_secret())
        };
        let sealer = Sealer::new(kek(&keys.current), keys.previous.as_ref().map(kek));
        Ok(DatabaseKeys::new(table, sealer))
    }

    /// The set as it is now; on first start (an empty table) a fresh one
    /// of one `active` and one `next` key of `alg`, created under the lock,
    /// so concurrent first starts end with the same single set. A set that
    /// the configured key-encryption keys cannot open is an error, and
    /// nothing is written.
    pub async fn load_or_init(&self, alg: Algorithm, rsa_bits: usize) -> Result<KeySet, KeyError> {
        // A bad setting is reported even when keys exist, so it is noticed
        // before the day a rotation would need it.
        if alg == Algorithm::Rs256 && !RSA_KEY_SIZES.contains(&rsa_bits) {
            return Err(KeyError::UnsupportedRsaBits(rsa_bits));
        }
        let rows = self.table.rows().await?;
        let set = if rows.is_empty() {
            self.init(alg, rsa_bits).await?
        } else {
            self.open_set(rows).await?
        };
        if set.active().alg() != alg {
            tracing::warn!(
                configured = %alg,
                active = %set.active().alg(),
                "the active key's algorithm differs from the configured one; \
                 tokens are signed with the active key"
            );
        }
        Ok(set)
    }

    /// Under the lock: creates the first set unless another instance did
    /// while this one waited, and returns the set either way.
    async fn init(&self, alg: Algorithm, rsa_bits: usize) -> Result<KeySet, KeyError> {
        let locked = self.table.lock().await?;
        if !locked.rows().is_empty() {
            let rows = locked.rows().to_vec();
            drop(locked);
            return self.open_set(rows).await;
        }
        let sealer = self.sealer.clone();
        let (keys, rows) = blocking(move || {
            let keys = Vec::from(SigningKey::first_set(alg, rsa_bits)?);
            let rows = seal_new(&sealer, &keys, &[])?;
            Ok((keys, rows))
        })
        .await?;
        locked.commit(&rows).await?;
        tracing::info!(
            %alg,
            active = keys[0].kid(),
            next = keys[1].kid(),
            "created a new key set in the database"
        );
        KeySet::new(keys)
    }

    /// The set as it is now: one consistent read, every key opened and
    /// checked.
    pub async fn load(&self) -> Result<KeySet, KeyError> {
        let rows = self.table.rows().await?;
        if rows.is_empty() {
            return Err(no_key_set());
        }
        self.open_set(rows).await
    }

    /// Every key's metadata, in publish order, without opening any key.
    pub async fn list(&self) -> Result<Vec<KeyMeta>, KeyError> {
        let mut rows = self.table.rows().await?;
        in_publish_order(&mut rows);
        Ok(rows.into_iter().map(|row| row.meta).collect())
    }

    /// The set's version, bumped by every committed change.
    pub async fn version(&self) -> Result<i64, KeyError> {
        self.table.version().await
    }

    /// `sigil keys rotate`; see [`crate::keys::plan_rotation`]. A refusal
    /// for want of a `next` key ([`KeyError::NoNextKey`]) commits the
    /// published key first.
    pub async fn rotate(&self, opts: RotateOptions) -> Result<Rotation, KeyError> {
        // Without a due check a plan always comes back.
        self.rotate_locked(None, opts, Utc::now())
            .await?
            .ok_or_else(|| KeyError::InvalidSet("the rotation was not planned".to_owned()))
    }

    /// Automatic rotation: rotates when the active key has signed for
    /// `interval`, checked under the lock on the set as it is then, so
    /// several instances make one rotation per interval. `Ok(None)`: not
    /// due.
    pub async fn rotate_if_due(
        &self,
        interval: Duration,
        opts: RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Option<Rotation>, KeyError> {
        self.rotate_locked(Some(interval), opts, now).await
    }

    /// Rotates under the lock; with `due_after`, only when the active key
    /// has signed that long.
    async fn rotate_locked(
        &self,
        due_after: Option<Duration>,
        opts: RotateOptions,
        now: DateTime<Utc>,
    ) -> Result<Option<Rotation>, KeyError> {
        let locked = self.lock_existing().await?;
        let (sealer, read) = (self.sealer.clone(), locked.rows().to_vec());
        let planned = blocking(move || {
            let keys = open_rows(&sealer, &read)?;
            if due_after.is_some_and(|interval| !rotation_due(&keys, interval, now)) {
                return Ok(None);
            }
            let plan = plan_rotation(keys, &opts, now)?;
            let rows = seal_new(&sealer, plan.keys(), &read)?;
            Ok(Some((plan, rows)))
        })
        .await?;
        let Some((plan, rows)) = planned else {
            return Ok(None);
        };
        locked.commit(&rows).await?;
        plan.committed().map(Some)
    }

    /// `sigil keys prune`; see [`crate::keys::plan_prune`]. Returns the
    /// pruned keys; nothing is written when nothing changes.
    pub async fn prune(
        &self,
        fallback_grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyMeta>, KeyError> {
        let locked = self.lock_existing().await?;
        let (sealer, read) = (self.sealer.clone(), locked.rows().to_vec());
        let planned = blocking(move || {
            let keys = open_rows(&sealer, &read)?;
            let Some(plan) = plan_prune(keys, fallback_grace, now) else {
                return Ok(None);
            };
            let rows = seal_new(&sealer, plan.keys(), &read)?;
            Ok(Some((plan, rows)))
        })
        .await?;
        let Some((plan, rows)) = planned else {
            return Ok(Vec::new());
        };
        locked.commit(&rows).await?;
        Ok(plan.committed())
    }

    /// `sigil keys import`: `key` becomes the `next` key; see
    /// [`crate::keys::plan_import`].
    pub async fn import(&self, key: SigningKey) -> Result<Import, KeyError> {
        let locked = self.lock_existing().await?;
        let (sealer, read) = (self.sealer.clone(), locked.rows().to_vec());
        let (plan, rows) = blocking(move || {
            let keys = open_rows(&sealer, &read)?;
            let plan = plan_import(keys, key)?;
            let rows = seal_new(&sealer, plan.keys(), &read)?;
            Ok((plan, rows))
        })
        .await?;
        locked.commit(&rows).await?;
        Ok(plan.committed())
    }

    /// `sigil keys reseal`: under the lock, every row sealed under another
    /// key than the current key-encryption key is opened and sealed again
    /// under the current one; kids, states and dates stay. The version is
    /// bumped (so other instances re-read) only if a row changed. Returns
    /// how many rows were resealed.
    pub async fn reseal(&self) -> Result<usize, KeyError> {
        let locked = self.table.lock().await?;
        let current = self.sealer.current_id().to_owned();
        let stale: Vec<KeyRow> = locked
            .rows()
            .iter()
            .filter(|row| row.sealed.kek_id != current)
            .cloned()
            .collect();
        if stale.is_empty() {
            return Ok(0);
        }
        let sealer = self.sealer.clone();
        let resealed = blocking(move || {
            stale
                .into_iter()
                .map(|row| {
                    let key = sealer.open(row.meta.clone(), &row.sealed)?;
                    Ok(KeyRow {
                        sealed: sealer.seal(&key)?,
                        meta: row.meta,
                    })
                })
                .collect::<Result<Vec<_>, KeyError>>()
        })
        .await?;
        let rows: Vec<KeyRow> = locked
            .rows()
            .iter()
            .map(|row| {
                resealed
                    .iter()
                    .find(|new| new.meta.kid == row.meta.kid)
                    .unwrap_or(row)
                    .clone()
            })
            .collect();
        locked.commit(&rows).await?;
        tracing::info!(
            target: "audit",
            event = "keys_resealed",
            count = resealed.len(),
            kek_id = %current,
            kids = ?resealed.iter().map(|r| r.meta.kid.as_str()).collect::<Vec<_>>()
        );
        Ok(resealed.len())
    }

    /// `sigil keys migrate --to database`: an empty table receives `keys`
    /// as they are (kids, states, dates); a table that already holds
    /// exactly these kids is left alone ([`StoreSet::AlreadyThere`]); any
    /// other set is refused with [`KeyError::DestinationHoldsKeys`].
    pub async fn store_set(&self, keys: &[SigningKey]) -> Result<StoreSet, KeyError> {
        let locked = self.table.lock().await?;
        if !locked.rows().is_empty() {
            let held: BTreeSet<String> = locked.rows().iter().map(|r| r.meta.kid.clone()).collect();
            let given: BTreeSet<String> = keys.iter().map(|k| k.kid().to_owned()).collect();
            if held == given {
                return Ok(StoreSet::AlreadyThere);
            }
            return Err(KeyError::DestinationHoldsKeys {
                destination: "the database".to_owned(),
                kids: held.into_iter().collect(),
            });
        }
        // Sealing is a few AES-GCM operations on keys already parsed: no
        // need for a blocking thread (and `keys` is borrowed).
        let rows = seal_new(&self.sealer, keys, &[])?;
        locked.commit(&rows).await?;
        Ok(StoreSet::Stored)
    }

    /// Starts listening for committed changes.
    pub async fn listen(&self) -> Result<KeyChanges, KeyError> {
        Ok(KeyChanges {
            listener: self.table.listen().await?,
        })
    }

    /// The lock, once the table is known to hold a key set: changes never
    /// create one (that is `load_or_init`'s or `migrate`'s job).
    async fn lock_existing(&self) -> Result<LockedKeyTable, KeyError> {
        let locked = self.table.lock().await?;
        if locked.rows().is_empty() {
            return Err(no_key_set());
        }
        Ok(locked)
    }

    /// Opens `rows` on a blocking thread into a checked set.
    async fn open_set(&self, mut rows: Vec<KeyRow>) -> Result<KeySet, KeyError> {
        in_publish_order(&mut rows);
        let sealer = self.sealer.clone();
        blocking(move || KeySet::new(open_rows(&sealer, &rows)?)).await
    }
}

/// Every row opened, in the order given. Blocking: parsing RSA keys.
fn open_rows(sealer: &Sealer, rows: &[KeyRow]) -> Result<Vec<SigningKey>, KeyError> {
    rows.iter()
        .map(|row| sealer.open(row.meta.clone(), &row.sealed))
        .collect()
}

/// The rows for `keys`: a key read in `read` keeps its sealed bytes (only
/// its metadata may have changed), any other key is sealed now.
fn seal_new(
    sealer: &Sealer,
    keys: &[SigningKey],
    read: &[KeyRow],
) -> Result<Vec<KeyRow>, KeyError> {
    keys.iter()
        .map(|key| {
            let sealed = match read.iter().find(|row| row.meta.kid == key.kid()) {
                Some(row) => row.sealed.clone(),
                None => sealer.seal(key)?,
            };
            Ok(KeyRow {
                meta: key.meta().clone(),
                sealed,
            })
        })
        .collect()
}

/// The order the keys folder's manifest has after its own rotations, so
/// that a set migrated either way gives the same JWK Set bytes and ETag:
/// active, then next (oldest first: the one a rotation promotes), then
/// retired (most recently retired first); the kid breaks ties.
fn in_publish_order(rows: &mut [KeyRow]) {
    rows.sort_by(|a, b| {
        let (a, b) = (&a.meta, &b.meta);
        a.state
            .publish_rank()
            .cmp(&b.state.publish_rank())
            .then_with(|| match a.state {
                KeyState::Retired => b.retired_at.cmp(&a.retired_at),
                _ => a.created_at.cmp(&b.created_at),
            })
            .then_with(|| a.kid.cmp(&b.kid))
    });
}

fn no_key_set() -> KeyError {
    KeyError::InvalidSet(
        "the database holds no key set yet: start sigil once with SIGIL_KEY_STORE=database \
         to create one, or move a keys folder's set there with `sigil keys migrate --to database`"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests;
