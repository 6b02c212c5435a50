//! [`CachedStore`]: the users and the revoked access tokens that bearer
//! checks read, held in memory, over any backend's [`Store`].
//!
//! Every `/me` and `/admin/*` request needs its caller's user row and
//! whether its access token was revoked ([`Store::user_unless_revoked`]);
//! answered from memory, it costs no database round trip. The promise kept
//! (SPEC §2, §7): a user disabled, changed or deleted, or an access token
//! revoked, is refused at once, on every instance. So nothing is answered
//! from memory unless every change since it was read would have been seen:
//!
//! - **This process's writes** ([`Store::update_user`],
//!   [`Store::set_password_hash`], [`Store::revoke_access_token`]) forget
//!   everything before they return.
//! - **Other processes on a SQLite file** append to the database's change
//!   file after they commit (`change_file`); each lookup first compares its
//!   metadata, one `stat`, with what it saw last.
//! - **Other instances on PostgreSQL**: migration 9's triggers notify
//!   [`USER_CHANGES_CHANNEL`] at the commit of every change, whoever wrote
//!   it; a task listens on a connection of its own and forgets everything on
//!   each notification. While that connection is not listening (start-up,
//!   lost, re-opening) the cache is off and every check reads the database;
//!   once it listens again, the cache forgets everything and turns on.
//!   A writer here answers only once every instance has heard its change:
//!   after its write it sends a marker (`written <id>`); each listener, on
//!   hearing it, answers `heard <id>` from its own listening connection;
//!   the writer waits (at most [`CONFIRMATION_WAIT`]) for an answer from
//!   every listening connection `pg_stat_activity` showed when it started.
//!   Notifications arrive in commit order, so a listener that heard the
//!   marker had heard (and forgotten on) the change before it: the next
//!   request on any instance, after the writer's answer, reads the change.
//!   Only a listener that fails to answer in time (its connection silently
//!   gone) leaves its instance a window, until it notices the loss: every
//!   5 s each instance pings its own listener through the pool, and turns
//!   its cache off when the ping is not heard within 2 s (`notifications`).
//! - **In-memory SQLite** has no other process.
//!
//! A read from the database that raced with a change must not refill the
//! cache with what it read: every forgetting bumps a generation, and what a
//! miss read is kept only if the generation is the one it started under.
//!
//! Only hits of [`Store::user_unless_revoked`] and
//! [`Store::is_access_token_revoked`] come from memory; every other method
//! goes to the backend. [`Store::user_unless_revoked`] answers users with an
//! empty `password_hash`, from memory or not: a bearer check has no use for
//! it, and the cache holds no password hash.

mod change_file;
mod notifications;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Attempt, Client, ClientPatch, ClientWithSecrets, KeyTable, NewClient, NewUser, PostgresStore,
    Purged, RefreshOutcome, RefreshTokenState, Session, SessionOrigin, Store, StoreError,
    Successor, User, UserPatch,
};
use crate::config::ThrottlePolicy;
use change_file::{ChangeFile, Signature};
use notifications::{confirm, listen};

pub use notifications::CONFIRMATION_WAIT;

/// Most users held; past it, the cache starts empty again.
pub const MAX_CACHED_USERS: usize = 100_000;

/// A [`Store`] that answers bearer checks from memory when it may.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<Cache>,
    freshness: Freshness,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore").finish_non_exhaustive()
    }
}

/// How this process learns of other processes' changes.
enum Freshness {
    /// In-memory SQLite: there are none.
    Alone,
    /// A SQLite file: its change file.
    ChangeFile(ChangeFile),
    /// PostgreSQL: notifications, heard by the task.
    Listener {
        postgres: PostgresStore,
        _task: AbortOnDrop,
    },
}

/// Aborts the listening task with the store.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What is held, behind one lock (held for a lookup or an insert only).
#[derive(Default)]
struct Cache {
    state: Mutex<State>,
    /// Writers waiting for answers to their marker, by marker id: each
    /// answer's sender (PostgreSQL).
    waiters: Mutex<HashMap<String, mpsc::UnboundedSender<i32>>>,
}

#[derive(Default)]
struct State {
    /// Whether answers may come from memory.
    on: bool,
    /// Bumped by every forgetting.
    generation: u64,
    /// The change file as last seen (SQLite files).
    seen: Option<Signature>,
    /// Users as read by bearer checks, by id, without their password hash
    /// (bearer checks never read it; memory never holds it): shared, so that
    /// a hit copies the user out after the lock is released.
    users: HashMap<Uuid, Arc<User>>,
    /// Every revoked access token's `jti`, once read.
    revoked: Option<HashSet<String>>,
}

impl State {
    fn forget(&mut self) {
        self.generation += 1;
        self.users.clear();
        self.revoked = None;
    }
}

/// `user` with an empty password hash: what [`Store::user_unless_revoked`]
/// answers here, from memory or not, so that both answers are alike.
fn without_password_hash(user: User) -> User {
    User {
        password_hash: String::new(),
        ..user
    }
}

/// What a lookup found.
enum Lookup<T> {
    /// The answer.
    Hit(T),
    /// Not held: read the database, and keep what was read if the generation
    /// is still this one.
    Miss { generation: u64, load_revoked: bool },
    /// The cache is off: read the database, keep nothing.
    Off,
}

impl Cache {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self) {
        self.lock().forget();
    }

    fn is_on(&self) -> bool {
        self.lock().on
    }

    fn switch(&self, on: bool) {
        let mut state = self.lock();
        state.forget();
        state.on = on;
    }
}

impl CachedStore {
    /// Holds bearer checks of an in-memory SQLite `inner` (no other process).
    pub fn alone(inner: Arc<dyn Store>) -> CachedStore {
        CachedStore::with(inner, Freshness::Alone, true)
    }

    /// Holds bearer checks of the SQLite database file at `database`.
    pub fn sqlite_file(inner: Arc<dyn Store>, database: &std::path::Path) -> CachedStore {
        CachedStore::with(
            inner,
            Freshness::ChangeFile(ChangeFile::beside(database)),
            true,
        )
    }

    /// Holds bearer checks of `postgres`, while a task of the current Tokio
    /// runtime listens for changes.
    pub fn postgres(postgres: PostgresStore) -> CachedStore {
        let cache = Arc::new(Cache::default());
        let task = tokio::spawn(listen(postgres.clone(), Arc::clone(&cache)));
        CachedStore {
            inner: Arc::new(postgres.clone()),
            cache,
            freshness: Freshness::Listener {
                postgres,
                _task: AbortOnDrop(task),
            },
        }
    }

    fn with(inner: Arc<dyn Store>, freshness: Freshness, on: bool) -> CachedStore {
        let cache = Arc::new(Cache::default());
        cache.lock().on = on;
        CachedStore {
            inner,
            cache,
            freshness,
        }
    }

    /// The backend underneath, uncached.
    pub fn backend(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Whether answers may come from memory right now (on PostgreSQL: while
    /// the listener listens).
    pub fn is_on(&self) -> bool {
        self.cache.is_on()
    }

    /// Looks `find` up in the state, after checking the change file.
    fn lookup<T>(&self, find: impl FnOnce(&State) -> Option<T>) -> Lookup<T> {
        let signature = match &self.freshness {
            Freshness::ChangeFile(file) => match file.signature() {
                Some(signature) => Some(signature),
                None => return Lookup::Off,
            },
            _ => None,
        };
        let mut state = self.cache.lock();
        if !state.on {
            return Lookup::Off;
        }
        if signature.is_some() && state.seen != signature {
            state.forget();
            state.seen = signature;
        }
        match find(&state) {
            Some(found) => Lookup::Hit(found),
            None => Lookup::Miss {
                generation: state.generation,
                load_revoked: state.revoked.is_none(),
            },
        }
    }

    /// Keeps what a miss read, unless something was forgotten meanwhile.
    fn keep(&self, generation: u64, keep: impl FnOnce(&mut State)) {
        let mut state = self.cache.lock();
        if state.on && state.generation == generation {
            keep(&mut state);
        }
    }

    /// After a write of users or revocations has committed: forget here and
    /// tell the other processes (or wait until they were told).
    async fn changed(&self) {
        self.cache.forget();
        match &self.freshness {
            Freshness::Alone => {}
            Freshness::ChangeFile(file) => file.bump(),
            Freshness::Listener { postgres, .. } => confirm(postgres, &self.cache).await,
        }
    }

    /// Reads the revoked tokens into memory if a miss found them missing.
    async fn load_revoked(&self, generation: u64) -> Result<(), StoreError> {
        let ids = self.inner.revoked_access_token_ids().await?;
        self.keep(generation, |state| {
            state.revoked = Some(ids.into_iter().collect());
        });
        Ok(())
    }
}

#[async_trait]
impl Store for CachedStore {
    fn key_table(&self) -> Option<KeyTable> {
        self.inner.key_table()
    }

    async fn user_unless_revoked(&self, id: Uuid, jti: &str) -> Result<Option<User>, StoreError> {
        let found = self.lookup(|state| {
            let revoked = state.revoked.as_ref()?;
            if revoked.contains(jti) {
                return Some(None);
            }
            state.users.get(&id).map(|user| Some(Arc::clone(user)))
        });
        let (generation, load_revoked) = match found {
            Lookup::Hit(answer) => return Ok(answer.map(|user| User::clone(&user))),
            Lookup::Off => {
                let user = self.inner.user_unless_revoked(id, jti).await?;
                return Ok(user.map(without_password_hash));
            }
            Lookup::Miss {
                generation,
                load_revoked,
            } => (generation, load_revoked),
        };
        if load_revoked {
            self.load_revoked(generation).await?;
        }
        let user = self
            .inner
            .user_unless_revoked(id, jti)
            .await?
            .map(without_password_hash);
        if let Some(user) = &user {
            let held = Arc::new(user.clone());
            self.keep(generation, |state| {
                if state.users.len() >= MAX_CACHED_USERS {
                    state.users.clear();
                }
                state.users.insert(held.id, held);
            });
        }
        Ok(user)
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        match self.lookup(|state| state.revoked.as_ref().map(|revoked| revoked.contains(jti))) {
            Lookup::Hit(revoked) => Ok(revoked),
            _ => self.inner.is_access_token_revoked(jti).await,
        }
    }

    async fn update_user(&self, id: Uuid, patch: UserPatch) -> Result<Option<User>, StoreError> {
        let result = self.inner.update_user(id, patch).await;
        self.changed().await;
        result
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), StoreError> {
        let result = self.inner.set_password_hash(id, hash).await;
        self.changed().await;
        result
    }

    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self.inner.revoke_access_token(jti, expires_at).await;
        self.changed().await;
        result
    }

    // --- Everything else goes to the backend. ---

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        self.inner.create_user(new).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email).await
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.inner.user_by_id(id).await
    }

    async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<User>, StoreError> {
        self.inner.list_users(limit, offset).await
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        self.inner.count_users().await
    }

    async fn create_refresh_family(
        &self,
        user_id: Uuid,
        scope: &str,
        token_hash: &[u8],
        expires_at: DateTime<Utc>,
        origin: &SessionOrigin,
    ) -> Result<Uuid, StoreError> {
        self.inner
            .create_refresh_family(user_id, scope, token_hash, expires_at, origin)
            .await
    }

    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        successor: Successor<'_>,
        now: DateTime<Utc>,
        reuse_interval: Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        self.inner
            .rotate_refresh(token_hash, successor, now, reuse_interval)
            .await
    }

    async fn revoke_family_of(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.revoke_family_of(token_hash, now).await
    }

    async fn revoke_user_families(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.revoke_user_families(user_id, now).await
    }

    async fn record_throttle_event(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u32, StoreError> {
        self.inner.record_throttle_event(key, now, window).await
    }

    async fn throttle_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.throttle_lock(key, until).await
    }

    async fn throttle_locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.throttle_locked_until(key, now).await
    }

    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear_throttle(key).await
    }

    async fn purge_expired(
        &self,
        expired_before: DateTime<Utc>,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> Result<Purged, StoreError> {
        self.inner
            .purge_expired(expired_before, now, quiet_since)
            .await
    }

    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(user_id, now).await
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.revoke_session(user_id, family_id, now).await
    }

    async fn revoked_access_token_ids(&self) -> Result<Vec<String>, StoreError> {
        self.inner.revoked_access_token_ids().await
    }

    async fn refresh_token_state(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        self.inner.refresh_token_state(token_hash).await
    }

    async fn create_client(
        &self,
        new: NewClient,
        now: DateTime<Utc>,
    ) -> Result<Client, StoreError> {
        self.inner.create_client(new, now).await
    }

    async fn client_by_id(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ClientWithSecrets>, StoreError> {
        self.inner.client_by_id(id, now).await
    }

    async fn client_for_authentication(
        &self,
        id: &str,
        throttle_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<ClientWithSecrets>, Option<DateTime<Utc>>), StoreError> {
        self.inner
            .client_for_authentication(id, throttle_key, now)
            .await
    }

    async fn list_clients(&self, limit: u32, offset: u32) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients(limit, offset).await
    }

    async fn update_client(
        &self,
        id: &str,
        patch: ClientPatch,
    ) -> Result<Option<Client>, StoreError> {
        self.inner.update_client(id, patch).await
    }

    async fn rotate_client_secret(
        &self,
        id: &str,
        new_hash: &[u8],
        now: DateTime<Utc>,
        previous_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .rotate_client_secret(id, new_hash, now, previous_until)
            .await
    }

    async fn take_throttle_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Attempt, StoreError> {
        self.inner.take_throttle_attempt(key, now, policy).await
    }

    async fn release_throttle_attempt(
        &self,
        key: &str,
        started_lock: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.inner.release_throttle_attempt(key, started_lock).await
    }

    async fn is_known_login_source(
        &self,
        email: &str,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.is_known_login_source(email, source, since).await
    }

    async fn remember_login_source(
        &self,
        user_id: Uuid,
        source: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
        keep: u32,
    ) -> Result<(), StoreError> {
        self.inner
            .remember_login_source(user_id, source, now, forget_before, keep)
            .await
    }
}
