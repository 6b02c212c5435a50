//! Persistence of user accounts, refresh-token families, failed-login
//! counts and confidential OAuth 2.0 clients (`clients`); on PostgreSQL also
//! the sealed key set of the database key store ([`KeyTable`]).
//!
//! Callers talk to the backend-neutral [`Store`] trait only; every piece of SQL
//! and every backend-specific detail lives in a backend module, [`sqlite`] or
//! [`postgres`], which have the same shape and behave identically (the tests
//! in `tests/` run against both). Nothing here knows about HTTP.
//!
//! Refresh tokens are grouped in *families*: logging in starts a family, each
//! successful refresh uses up the presented token and adds its successor to
//! the same family. Presenting a used-up token again is treated as theft and
//! revokes the whole family (see [`RefreshOutcome::Reused`]), unless it comes
//! within the reuse interval and gets the same successor again
//! ([`RefreshOutcome::Repeated`]). That policy is written once, in the
//! `refresh` module, over a few storage steps each backend supplies. A
//! family is what a user sees as one *session* (one device, one login):
//! [`Session`], listed and ended by the methods of the sessions block.
//!
//! Throttle counters are one row per key; a login attempt is counted, and
//! any lock it earns set, by one statement before the password is checked
//! ([`Store::take_throttle_attempt`], [`Attempt`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::ThrottlePolicy;

mod cached;
mod clients;
mod migrate;
mod open;
pub mod postgres;
mod refresh;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod tests;

pub use cached::{CONFIRMATION_WAIT, CachedStore, MAX_CACHED_USERS};
pub use clients::{Client, ClientPatch, ClientWithSecrets, NewClient};
pub use open::{OpenError, open};
pub use postgres::{
    KeyRow, KeyTable, KeyTableListener, LockedKeyTable, PostgresStore, USER_CHANGES_CHANNEL,
    USER_LISTENER_NAME,
};
pub use refresh::{RefreshOutcome, SealedSuccessor, SessionOrigin, Successor};
pub use sqlite::SqliteStore;

/// A user account as stored.
///
/// `Debug` never prints the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier, chosen by the store on creation.
    pub id: Uuid,
    /// The email address as registered, in its original case.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Encoded password hash (e.g. a PHC string); opaque to the store.
    pub password_hash: String,
    /// Scopes granted to the account, in the order they were given.
    pub scopes: Vec<String>,
    /// A disabled account may not log in or refresh.
    pub disabled: bool,
    /// When the account was created (stored with microsecond precision).
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// What is needed to create a user account.
///
/// `Debug` never prints the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Email address; kept as given, matched case-insensitively.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Encoded password hash; opaque to the store.
    pub password_hash: String,
    /// Scopes granted to the account.
    pub scopes: Vec<String>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A partial update of a user account; `None` fields are left unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// Replace the account's scopes.
    pub scopes: Option<Vec<String>>,
    /// Disable (`Some(true)`) or re-enable (`Some(false)`) the account.
    pub disabled: Option<bool>,
}

/// What [`Store::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Refresh families (with their tokens) past every token's expiry.
    pub refresh_families: u64,
    /// Throttle rows with nothing left to decide.
    pub throttle_rows: u64,
    /// Revoked access tokens past their own expiry.
    pub revoked_access_tokens: u64,
    /// Used-up refresh tokens of live families past their own expiry, which
    /// no presentation can tell from unknown ones any more.
    pub spent_refresh_tokens: u64,
}

/// A stored refresh token as introspection sees it: read without being used
/// up (see [`Store::refresh_token_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenState {
    /// The family's owner.
    pub user_id: Uuid,
    /// The family the token belongs to.
    pub family_id: Uuid,
    /// The scope granted when the family was started.
    pub scope: String,
    /// When the token was made.
    pub created_at: DateTime<Utc>,
    /// When the token stops being usable.
    pub expires_at: DateTime<Utc>,
    /// Whether it has been used up.
    pub used: bool,
    /// Whether its family has been revoked.
    pub family_revoked: bool,
    /// Whether the family's owner is disabled.
    pub owner_disabled: bool,
}

/// Errors from a [`Store`].
///
/// The `Display` texts are fixed and never contain SQL or values; the
/// underlying database error is available through `source()` for logging.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// Another account already uses this email address (compared
    /// case-insensitively). Detected by the database's unique index.
    #[error("email already registered")]
    EmailTaken,
    /// The change would leave no enabled account holding the `admin`
    /// scope ([`ADMIN_SCOPE`]); nothing was changed.
    #[error("the change would leave no enabled administrator")]
    LastAdmin,
    /// The database cannot be reached or used right now (pool exhausted or
    /// closed, I/O failure, database busy for too long, disk full).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure.
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

/// A store shared between request handlers.
pub type SharedStore = Arc<dyn Store>;

/// Persistence of users and refresh-token families, independent of the
/// database behind it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The table of the database key store (`SIGIL_KEY_STORE=database`):
    /// PostgreSQL only, `None` on other backends.
    fn key_table(&self) -> Option<KeyTable> {
        None
    }

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates an account with a fresh random id and `created_at` = now.
    ///
    /// Fails with [`StoreError::EmailTaken`] if the email is already
    /// registered in any letter case.
    async fn create_user(&self, new: NewUser) -> Result<User, StoreError>;

    /// Finds an account by email, ignoring letter case.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Finds an account by id.
    async fn user_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// Replaces an account's password hash. Does nothing for an unknown id.
    ///
    /// Existing refresh families are left alone; call
    /// [`Store::revoke_user_families`] too if they should end.
    async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<(), StoreError>;

    /// Lists accounts ordered by `created_at`, then `id`.
    async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<User>, StoreError>;

    /// Counts all accounts.
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// Applies `patch` and returns the updated account, or `None` for an
    /// unknown id. Disabling an account revokes all its refresh families in
    /// the same transaction.
    ///
    /// Fails with [`StoreError::LastAdmin`], changing nothing, when the
    /// account was an enabled administrator and no enabled administrator
    /// would be left. The check and the change are one atomic step, also
    /// across instances: two concurrent updates demoting the last two
    /// administrators cannot both succeed.
    async fn update_user(&self, id: Uuid, patch: UserPatch) -> Result<Option<User>, StoreError>;

    /// Starts a new refresh family for `user_id` holding its first token;
    /// returns the family id. `scope` (the scope granted at login, e.g.
    /// space-separated) is kept with the family and handed back on every
    /// rotation; `origin` is kept for the user's list of sessions.
    async fn create_refresh_family(
        &self,
        user_id: Uuid,
        scope: &str,
        token_hash: &[u8],
        expires_at: DateTime<Utc>,
        origin: &SessionOrigin,
    ) -> Result<Uuid, StoreError>;

    /// Presents the token with hash `token_hash` at `now`: uses it up and
    /// stores `successor` in the same family, atomically, or hands back the
    /// sealed successor of a repeat within `reuse_interval` (zero: repeats
    /// are reuse). See [`RefreshOutcome`] for the possible results; two
    /// concurrent calls with the same token never both rotate, so a family
    /// never branches.
    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        successor: Successor<'_>,
        now: DateTime<Utc>,
        reuse_interval: Duration,
    ) -> Result<RefreshOutcome, StoreError>;

    /// Revokes the family of the given token (logout). Returns `false` if the
    /// token is unknown, `true` otherwise (also when it was already revoked).
    async fn revoke_family_of(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Revokes every refresh family of the account.
    async fn revoke_user_families(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Counts one event for the throttle `key` (a failed login for one
    /// account from one address, a registration from one address, …) at
    /// `now` and returns the number of events in the current run, this one
    /// included.
    ///
    /// A run restarts at 1 when the previous event is more than `window`
    /// before `now` (an event exactly `window` old still counts). One atomic
    /// statement on the database: concurrent calls for one key, from any
    /// number of instances, get distinct consecutive counts.
    async fn record_throttle_event(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<u32, StoreError>;

    /// Refuses what `key` throttles until `until`. An existing later lock is
    /// kept: a lock is never shortened, only ended by
    /// [`Store::clear_throttle`].
    async fn throttle_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError>;

    /// When the lock on `key` ends, or `None` if it is not locked at `now`
    /// (never locked, or the lock has passed).
    async fn throttle_locked_until(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Forgets the events and any lock of `key` (after a successful login).
    async fn clear_throttle(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes what can no longer decide an answer: refresh families whose
    /// every token expired before `expired_before` (callers leave a margin
    /// before now, so no refresh in flight loses its family), and throttle
    /// rows whose last event is older than `quiet_since` and whose lock (if
    /// any) ended by `now`, revoked access tokens that expired before
    /// `expired_before`, and used-up refresh tokens of live families that
    /// expired before `expired_before` and whose successor is used up too
    /// (`refresh`'s module docs say why those can go). Without this the tables would grow with every
    /// login and every sprayed email for ever.
    async fn purge_expired(
        &self,
        expired_before: DateTime<Utc>,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> Result<Purged, StoreError>;

    // --- Sessions (`/me/sessions`): a user's refresh families, by id. ---

    /// The live sessions of `user_id` at `now`: families not revoked that
    /// still hold an unused token not expired, most recently used first, at
    /// most [`MAX_SESSIONS`].
    async fn list_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError>;

    /// Revokes the family `family_id` if it is a live session of `user_id`
    /// at `now` (as [`Store::list_sessions`] would list it); `false`, and
    /// nothing changed, for another user's, an unknown, a revoked or an
    /// expired family.
    async fn revoke_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    // --- Revocation and introspection (RFC 7009, RFC 7662): revoked access
    // tokens by `jti`, and a read-only look at a refresh token. SQL in each
    // backend's `revocations` module. Expired revocations are deleted by
    // `purge_expired`.

    /// Records that the access token `jti` is refused until `expires_at` (its
    /// `exp`). Idempotent: revoking it again keeps one row, with the later
    /// expiry.
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether the access token `jti` has been revoked (and not yet purged).
    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// The `jti` of every revoked access token not yet purged, in one
    /// statement: what the cache of bearer checks holds ([`CachedStore`]).
    async fn revoked_access_token_ids(&self) -> Result<Vec<String>, StoreError>;

    /// [`Store::user_by_id`], or `None` as well when the access token `jti`
    /// has been revoked: what a bearer token's check needs, in one round
    /// trip (every `/me` and `/admin/*` request makes it).
    async fn user_unless_revoked(&self, id: Uuid, jti: &str) -> Result<Option<User>, StoreError>;

    /// The refresh token with hash `token_hash`, with its family and owner,
    /// without using it up or changing anything; `None` if unknown.
    async fn refresh_token_state(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenState>, StoreError>;

    // --- Confidential clients (issue 11): clients and their secrets' hashes.

    /// Creates a client with `created_at` = `now` and its first secret.
    /// Fails with [`StoreError::Other`] if the id exists (ids are random and
    /// never collide in practice).
    async fn create_client(&self, new: NewClient, now: DateTime<Utc>)
    -> Result<Client, StoreError>;

    /// Finds a client by id, with the hashes of its secrets that have not
    /// expired at `now`, in one query (an unknown id costs the same round trip).
    async fn client_by_id(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ClientWithSecrets>, StoreError>;

    /// [`Store::client_by_id`] and [`Store::throttle_locked_until`] of
    /// `throttle_key` in one round trip: the client-credentials grant reads
    /// both on every request, and a request to the database costs more than
    /// signing the token.
    async fn client_for_authentication(
        &self,
        id: &str,
        throttle_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Option<ClientWithSecrets>, Option<DateTime<Utc>>), StoreError>;

    /// Lists clients ordered by `created_at`, then `id`.
    async fn list_clients(&self, limit: u32, offset: u32) -> Result<Vec<Client>, StoreError>;

    /// Applies `patch` and returns the updated client, or `None` for an unknown id.
    async fn update_client(
        &self,
        id: &str,
        patch: ClientPatch,
    ) -> Result<Option<Client>, StoreError>;

    /// Adds a new secret (hash `new_hash`, created `now`, no expiry) and
    /// makes every secret still working end at `previous_until` at the
    /// latest, in one transaction; secrets expired by `now` are deleted.
    /// Returns `false` (and changes nothing) for an unknown id.
    async fn rotate_client_secret(
        &self,
        id: &str,
        new_hash: &[u8],
        now: DateTime<Utc>,
        previous_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    // --- Login attempts (issue 12): an attempt is counted before its
    // password is checked, and an account remembers the addresses it logged
    // in from. SQL in each backend's `throttle` module.

    /// Counts one attempt for the throttle `key` at `now`, unless a lock on
    /// `key` is running then: [`Attempt::Refused`], and nothing changes.
    /// Otherwise the attempt is [`Attempt::Taken`]: the run's count grows by
    /// one (restarting at 1 after a quiet `policy.window`, as in
    /// [`Store::record_throttle_event`]), and when `policy` locks after that
    /// count ([`ThrottlePolicy::lock_for`]) the lock is set in the same
    /// statement, so a concurrent attempt, on any instance, is refused by
    /// it. One atomic statement: of many concurrent calls for one key, at
    /// most `policy.free_attempts` are taken while no lock runs.
    async fn take_throttle_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &ThrottlePolicy,
    ) -> Result<Attempt, StoreError>;

    /// Gives back one attempt taken on `key` (one that turned out not to
    /// be a failure): the count drops by one, and the lock the attempt
    /// started, `started_lock`, is lifted if it is still the running one.
    /// Does nothing for an unknown key.
    async fn release_throttle_attempt(
        &self,
        key: &str,
        started_lock: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Whether the account with `email` (any letter case) logged in
    /// successfully from `source` at `since` or later (see
    /// [`Store::remember_login_source`]); `false` for an unknown email.
    async fn is_known_login_source(
        &self,
        email: &str,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Remembers that `user_id` logged in from `source` at `now`, and
    /// forgets the account's sources last used before `forget_before` and
    /// all but its `keep` most recently used: what an account remembers
    /// stays bounded. Only the source is kept (an address or network as
    /// text), nothing of the password.
    async fn remember_login_source(
        &self,
        user_id: Uuid,
        source: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
        keep: u32,
    ) -> Result<(), StoreError>;
}

/// What [`Store::take_throttle_attempt`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the attempt may go on.
    Taken {
        /// The attempts in the current run, this one included.
        count: u32,
        /// The lock this attempt started, if its count is past the free ones.
        locked_until: Option<DateTime<Utc>>,
    },
    /// A lock runs until `until`; the attempt was not counted.
    Refused {
        /// The end of the running lock.
        until: DateTime<Utc>,
    },
}

/// A [`ThrottlePolicy`] as the plain numbers a backend's counting statement
/// binds: the statement locks for `min(base · 2^min(count − free, doublings),
/// max)` microseconds once `count ≥ free`, which is
/// [`ThrottlePolicy::lock_for`]; `store::tests::throttle` checks that both
/// backends agree with it.
struct LockSchedule {
    /// Failures allowed before the first lock.
    free: i64,
    /// The first lock, in microseconds.
    base_us: i64,
    /// The longest lock, in microseconds (at most about ten years, which
    /// keeps every lock's end a storable timestamp).
    max_us: i64,
    /// Doublings of `base_us` past which every lock is `max_us`.
    doublings: i64,
    /// The earliest previous attempt that still continues the run.
    window_start: DateTime<Utc>,
}

impl LockSchedule {
    fn new(policy: &ThrottlePolicy, now: DateTime<Utc>) -> LockSchedule {
        const TEN_YEARS_US: i64 = 10 * 366 * 24 * 3600 * 1_000_000;
        let micros = |d: Duration| {
            i64::try_from(d.as_micros())
                .unwrap_or(i64::MAX)
                .min(TEN_YEARS_US)
        };
        LockSchedule {
            free: i64::from(policy.free_attempts),
            base_us: micros(policy.base),
            max_us: micros(policy.max),
            doublings: i64::from(policy.doublings_to_max()),
            window_start: failure_window_start(now, policy.window),
        }
    }
}

/// Most sessions [`Store::list_sessions`] returns.
pub const MAX_SESSIONS: u32 = 500;

/// The scope that makes an account an administrator, as
/// [`Store::update_user`] counts them (the domain's `scopes::ADMIN`).
pub const ADMIN_SCOPE: &str = "admin";

/// Whether `user` counts as an administrator for [`Store::update_user`]'s
/// guard: enabled and holding [`ADMIN_SCOPE`].
fn is_enabled_admin(user: &User) -> bool {
    !user.disabled && user.scopes.iter().any(|s| s == ADMIN_SCOPE)
}

/// A refresh family as its owner sees it: one login on one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The family's id.
    pub id: Uuid,
    /// When the login happened.
    pub created_at: DateTime<Utc>,
    /// When the family was last logged in or refreshed.
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` of the login, cleaned and shortened.
    pub user_agent: Option<String>,
    /// The client address of the login.
    pub client_addr: Option<String>,
}

/// The earliest time a previous failure may have happened and still extend a
/// run of failures ending at `now`. Windows reaching back before 1970 are cut
/// there, which keeps the value storable on every backend.
fn failure_window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(window)
        .ok()
        .and_then(|window| now.checked_sub_signed(window))
        .map_or(DateTime::UNIX_EPOCH, |start| {
            start.max(DateTime::UNIX_EPOCH)
        })
}
