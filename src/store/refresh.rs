//! The refresh-family policy, written once for every backend.
//!
//! Refresh tokens are grouped in *families*: logging in starts a family, and
//! each successful refresh uses up the presented token and adds its successor
//! to the same family. What presenting a token does is decided here, by
//! [`verdict`], from the token's row alone:
//!
//! | the presented token …                         | outcome                        |
//! |-----------------------------------------------|--------------------------------|
//! | is not stored                                 | [`RefreshOutcome::Unknown`]    |
//! | has a revoked family, or a disabled owner     | [`RefreshOutcome::Revoked`]    |
//! | was used up less than the reuse interval ago, and its successor is still unused | [`RefreshOutcome::Repeated`]: the same successor, sealed, handed back |
//! | is past its expiry (used up or not)           | [`RefreshOutcome::Expired`]    |
//! | was used up before, otherwise (theft or a replay) | [`RefreshOutcome::Reused`]: the whole family is revoked |
//! | is none of that                               | [`RefreshOutcome::Rotated`]: used up, successor stored |
//!
//! # The reuse interval
//!
//! Several tabs of one browser, or a client retrying after a lost answer,
//! present one refresh token at nearly the same moment. Within the reuse
//! interval after the token was used up, such a repeat gets the **same**
//! successor as the first presentation, so the family never branches and
//! every tab ends on one token. The store cannot hand out a token it does not
//! hold, and it must never hold a usable one: the caller seals the successor
//! under a key derived from the presented token (`token::refresh`), the row
//! of the presented token keeps only those sealed bytes, and only someone
//! presenting that token again can open them. A repeat whose successor has
//! already been used up (the family moved on) is reuse, as is any
//! presentation after the interval; an interval of zero is the strict policy
//! (every second presentation is reuse).
//!
//! Each backend supplies the same few storage steps, [`FamilyWrite`], all
//! inside one write transaction that holds the presented token's row and its
//! family's row from the moment they are read until the transaction ends
//! (SQLite: `BEGIN IMMEDIATE` on the one writer connection; PostgreSQL:
//! `SELECT … FOR UPDATE`). Concurrent presentations of one token, from any
//! number of instances, are therefore decided one after the other, each on
//! what the previous one wrote: exactly one rotates; within the interval the
//! others repeat, after it the next sees a used-up token and revokes the
//! family and the rest find the family revoked.
//!
//! # Unknown tokens never reach the writer
//!
//! Before any of that, the backends read the presented token on a reader
//! (no transaction, no lock; [`Store::refresh_token_state`](super::Store::refresh_token_state),
//! or the first read of a backend's [`OneStep`], which writes only after it),
//! and [`settled_by_reading`] answers what needs no write and cannot be
//! changed by one: a token that is not stored (anyone can make up a
//! well-formed one, and a flood of them must not queue on SQLite's one
//! writer), a revoked family, an unused token past its expiry. Everything
//! else is decided again, from scratch, inside the write transaction.
//!
//! # The common case in one step
//!
//! The `Rotated` row of the table above is what almost every presentation
//! is: the token is stored, unused and unexpired, its family is not revoked
//! and its owner is not disabled ([`is_rotation`], which is exactly the
//! condition under which [`verdict`] answers [`Verdict::Rotate`]). A backend
//! whose every statement is a round trip to a server (PostgreSQL) may take
//! that case in one step of its own ([`OneStep`]): one atomic write that
//! holds the token's and the family's rows as the write transaction would,
//! checks [`is_rotation`] on them as held, and then writes what the
//! `Rotate` arm of [`rotate`] writes (use up, successor, family's last use,
//! sealed copy, spent rows), or writes nothing at all. Whatever it did not
//! rotate goes to [`rotate`] unchanged ([`rotate_after_one_step`]), which
//! decides every other outcome exactly as without the step: the step either
//! gives the answer the policy would give or leaves the decision to it.
//! Concurrent presentations of one token still rotate once: the step holds
//! the row before it checks `used_at`, so a loser sees it used up and falls
//! back, to be answered as a repeat or as reuse.
//!
//! # What is kept of a used-up token, and for how long
//!
//! A used-up token's row is what detects theft: when a thief refreshes a
//! stolen token first, the legitimate client's later presentation of that
//! same token is reuse and ends the thief's family too. So the row is kept
//! for as long as presenting it can still do that: until the token's own
//! expiry. From then on the answer is [`RefreshOutcome::Expired`], the same
//! as for any expired token, so the row can go without changing an answer:
//! each rotation deletes the used-up rows of its family that expired more
//! than [`CLOCK_ALLOWANCE`] ago (so that an instance whose clock lags a
//! little still finds what it would decide on) and whose successor is used
//! up too (so no repeat can need them), and `purge_expired` does the same
//! for every family. A family refreshed `r` times per token lifetime thus
//! keeps about `r` rows, however long it lives; keeping fewer would give up
//! theft detection for tokens that have not expired yet.
//!
//! The sealed successor is only ever opened by a repeat, and a repeat needs
//! the successor unused: once the successor is used up in turn, its sealed
//! copy on the previous row is dropped, so the database keeps one sealed
//! successor per family (on PostgreSQL, rarely one more for a while, when
//! the row was held by another transaction at that moment).
//!
//! The functions here ([`rotate`], [`rotate_after_one_step`],
//! [`revoke_family_of`], [`start_family`]) are what the backends'
//! [`Store`](super::Store) methods of the same purpose call; they never see
//! SQL, and the backends never decide, with two exceptions on PostgreSQL,
//! where each statement is a round trip: logout there is one statement
//! (`sigil_revoke_family_of`) applying [`revoke_family_of`]'s rule (a stored
//! token's family is revoked, keeping an earlier revocation; an unknown token
//! changes nothing), and login one statement writing the family and its first
//! token, the rows [`start_family`] writes.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::{RefreshTokenState, StoreError};

/// How far apart the clocks of instances sharing one database may be. A
/// used-up token's row is kept this long past the token's expiry, so that an
/// instance whose clock lags by as much still finds the row it would decide
/// on (see the module docs).
pub(super) const CLOCK_ALLOWANCE: TimeDelta = TimeDelta::seconds(2);

/// A successor refresh token sealed under a key that only the token it
/// replaced yields. Opaque bytes to the store; `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSuccessor(pub Vec<u8>);

impl fmt::Debug for SealedSuccessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSuccessor(<redacted>)")
    }
}

/// The token that replaces a presented one in
/// [`Store::rotate_refresh`](super::Store::rotate_refresh). No `Debug`: the
/// hash is never printed.
#[derive(Clone, Copy)]
pub struct Successor<'a> {
    /// Hash of the new token, as stored.
    pub hash: &'a [u8],
    /// When the new token stops being usable.
    pub expires_at: DateTime<Utc>,
    /// The new token sealed for the presented one, kept on the presented
    /// token's row so that a repeat within the reuse interval can be handed
    /// the same successor; `None` when repeats are off.
    pub sealed: Option<&'a [u8]>,
}

/// Where a session (a refresh family) was started, as the user will see it
/// in their list of sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    /// The client's `User-Agent`, already cleaned and shortened.
    pub user_agent: Option<String>,
    /// The client address.
    pub client_addr: Option<String>,
}

/// Outcome of presenting a refresh token to
/// [`Store::rotate_refresh`](super::Store::rotate_refresh).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The presented token is now used up and its successor is stored in the
    /// same family.
    Rotated {
        /// Owner of the family.
        user_id: Uuid,
        /// The family the new token joined.
        family_id: Uuid,
        /// The scope granted when the family was started (as given to
        /// [`Store::create_refresh_family`](super::Store::create_refresh_family)).
        scope: String,
    },
    /// The token was used up less than the reuse interval ago and its
    /// successor is still unused: nothing new was stored, and the caller
    /// opens `sealed_successor` with the presented token to hand out that
    /// same successor again.
    Repeated {
        /// Owner of the family.
        user_id: Uuid,
        /// The family of both tokens.
        family_id: Uuid,
        /// The scope granted when the family was started.
        scope: String,
        /// The successor, as sealed when the token was used up.
        sealed_successor: SealedSuccessor,
    },
    /// No token with that hash is known.
    Unknown,
    /// The token is past its expiry time; nothing was changed.
    Expired,
    /// The token's family has been revoked (logout, reuse, or the account was
    /// disabled); nothing was changed.
    Revoked,
    /// The token had already been used up: the whole family has now been
    /// revoked.
    Reused {
        /// Owner of the family.
        user_id: Uuid,
        /// The family that has just been revoked.
        family_id: Uuid,
    },
}

/// A stored refresh token as [`FamilyWrite::find_token`] reads it, with what
/// the policy needs to know about its family and the family's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredToken {
    /// The token row's id.
    pub(super) id: Uuid,
    /// The family the token belongs to.
    pub(super) family_id: Uuid,
    /// The family's owner.
    pub(super) user_id: Uuid,
    /// The scope granted when the family was started.
    pub(super) scope: String,
    /// When the token stops being usable.
    pub(super) expires_at: DateTime<Utc>,
    /// When the token was used up, if it was.
    pub(super) used_at: Option<DateTime<Utc>>,
    /// The token it was used up for, if it was.
    pub(super) successor: Option<StoredSuccessor>,
    /// Whether the family has been revoked.
    pub(super) family_revoked: bool,
    /// Whether the family's owner is disabled.
    pub(super) owner_disabled: bool,
}

/// The successor of a used-up token, as [`FamilyWrite::find_token`] reads it
/// (after the presented token's row is held, so as the last writer left it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredSuccessor {
    /// The successor sealed for the presented token, if it was sealed.
    pub(super) sealed: Option<SealedSuccessor>,
    /// When the successor was used up in turn, if it was.
    pub(super) used_at: Option<DateTime<Utc>>,
    /// When the successor stops being usable.
    pub(super) expires_at: DateTime<Utc>,
}

/// A token to add to a family: the first one of a new family, or the
/// successor of a used-up one. No `Debug`: the hash is never printed.
#[derive(Clone, Copy)]
pub(super) struct NewToken<'a> {
    /// Hash of the new token, as stored.
    pub(super) hash: &'a [u8],
    /// When the new token stops being usable.
    pub(super) expires_at: DateTime<Utc>,
}

/// The storage steps of the policy, on one open write transaction of a
/// backend. Dropping it without [`FamilyWrite::commit`] rolls back.
///
/// Every method runs inside the transaction; none decides anything.
pub(super) trait FamilyWrite: Send + Sized {
    /// Finds the token stored with hash `token_hash`, with its family, owner
    /// and successor, and holds the token's and the family's rows until the
    /// transaction ends, so no one else changes them meanwhile. The successor
    /// is read once those rows are held.
    fn find_token(
        &mut self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send;

    /// Creates an empty, unrevoked family started and last used at `now`.
    fn insert_family(
        &mut self,
        family_id: Uuid,
        user_id: Uuid,
        scope: &str,
        origin: &SessionOrigin,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds an unused token to a family.
    fn insert_token(
        &mut self,
        family_id: Uuid,
        token: NewToken<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks the token `token_id` of `family_id` used up at `now`, if it is
    /// still unused, links it to `successor` (keeping `sealed` on its row)
    /// and adds `successor` to the family. Returns whether the token was
    /// unused (and so the successor stored).
    fn use_up(
        &mut self,
        token_id: Uuid,
        family_id: Uuid,
        successor: NewToken<'_>,
        sealed: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Drops the sealed copy of the token `token_id` from the row of the
    /// token it replaced, now that `token_id` is used up: a repeat of that
    /// older token can no longer succeed. A row that another transaction
    /// holds may be skipped (no waiting on it); its copy then stays, unused.
    fn drop_sealed_copy_of(
        &mut self,
        token_id: Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the used-up tokens of `family_id` that expired before
    /// `expired_before` and whose successor is not unused (used up in turn,
    /// or gone); returns how many. Rows another transaction holds may be
    /// skipped (no waiting on them) and are deleted another time.
    fn delete_spent(
        &mut self,
        family_id: Uuid,
        expired_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records that the family was used (refreshed) at `now`.
    fn touch_family(
        &mut self,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a family revoked at `now`, keeping an earlier revocation time.
    fn revoke_family(
        &mut self,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Makes every change of the transaction durable.
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends the transaction without changing anything.
    fn rollback(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What presenting a stored token does, decided from its row alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Refuse: the family is revoked or its owner disabled.
    Revoked,
    /// Refuse and revoke the family: the token was used up before.
    Reused,
    /// Hand out the successor the token was used up for, again.
    Repeat,
    /// Refuse: the token is past its expiry.
    Expired,
    /// Use the token up and store its successor.
    Rotate,
}

/// The policy: what presenting `token` at `now` does, repeats being allowed
/// for `reuse_interval` after a token was used up (zero: never).
///
/// The order matters: a revoked family stays revoked whatever its token; a
/// repeat depends on the successor, not on the presented token's own expiry;
/// past its expiry a token is expired whether it was used up or not, which
/// is what lets its row go then (see the module docs); before it, a used-up
/// token presented again is reuse.
pub(super) fn verdict(
    token: &StoredToken,
    now: DateTime<Utc>,
    reuse_interval: Duration,
) -> Verdict {
    if is_rotation(token, now) {
        Verdict::Rotate
    } else if token.family_revoked || token.owner_disabled {
        // A disabled owner counts as revoked even if a family slipped past
        // the revocation done when disabling (e.g. a login racing with it).
        Verdict::Revoked
    } else if let Some(used_at) = token.used_at {
        if is_repeat(token, used_at, now, reuse_interval) {
            Verdict::Repeat
        } else if token.expires_at <= now {
            Verdict::Expired
        } else {
            Verdict::Reused
        }
    } else {
        // Unused, of a live family and owner, and still no rotation: it is
        // past its expiry.
        Verdict::Expired
    }
}

/// Whether presenting `token` at `now` rotates it: the `Rotated` row of the
/// table in the module docs, and exactly the tokens for which [`verdict`]
/// answers [`Verdict::Rotate`], whatever the reuse interval. A backend's
/// [`OneStep`] rotates when, and only when, this holds of the rows it holds.
pub(super) fn is_rotation(token: &StoredToken, now: DateTime<Utc>) -> bool {
    !token.family_revoked
        && !token.owner_disabled
        && token.used_at.is_none()
        && token.expires_at > now
}

/// What a backend's one-step rotation did (see "The common case in one step"
/// in the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OneStep {
    /// [`is_rotation`] held of the token's row and its family's, as held by
    /// the step, and the step has durably written what the `Rotate` arm of
    /// [`rotate`] writes.
    Rotated {
        /// Owner of the family.
        user_id: Uuid,
        /// The family the new token joined.
        family_id: Uuid,
        /// The scope granted when the family was started.
        scope: String,
    },
    /// Nothing was written: the token as a reader saw it at the start of the
    /// step (`None`: not stored), for [`rotate`] to decide on.
    Declined(Option<RefreshTokenState>),
}

/// Presents the token with hash `presented` at `now` after a backend's
/// [`OneStep`]: its rotation is the answer; anything it declined is decided
/// by [`rotate`], from the look at the token the step took, exactly as
/// without the step.
pub(super) async fn rotate_after_one_step<W: FamilyWrite>(
    step: OneStep,
    begin: impl Future<Output = Result<W, StoreError>> + Send,
    presented: &[u8],
    successor: Successor<'_>,
    now: DateTime<Utc>,
    reuse_interval: Duration,
) -> Result<RefreshOutcome, StoreError> {
    match step {
        OneStep::Rotated {
            user_id,
            family_id,
            scope,
        } => Ok(RefreshOutcome::Rotated {
            user_id,
            family_id,
            scope,
        }),
        OneStep::Declined(seen) => {
            rotate(seen, begin, presented, successor, now, reuse_interval).await
        }
    }
}

/// What presenting a token does, if a read of it on a reader (`seen`,
/// `None` when no token has that hash) already settles it: unknown, revoked,
/// or unused and expired. None of these writes anything, and no write can
/// undo them (a family is never unrevoked, an expiry never moves), so the
/// answer holds at the moment of the read. `None`: it takes the write
/// transaction, which decides again from what it reads.
pub(super) fn settled_by_reading(
    seen: Option<&RefreshTokenState>,
    now: DateTime<Utc>,
) -> Option<RefreshOutcome> {
    let Some(seen) = seen else {
        return Some(RefreshOutcome::Unknown);
    };
    if seen.family_revoked || seen.owner_disabled {
        Some(RefreshOutcome::Revoked)
    } else if !seen.used && seen.expires_at <= now {
        Some(RefreshOutcome::Expired)
    } else {
        None
    }
}

/// Whether presenting `token`, used up at `used_at`, again at `now` is a
/// repeat: within the interval, with a sealed successor that is still
/// unused and unexpired. A `now` before `used_at` (another instance's clock
/// a little ahead) is within the interval.
fn is_repeat(
    token: &StoredToken,
    used_at: DateTime<Utc>,
    now: DateTime<Utc>,
    reuse_interval: Duration,
) -> bool {
    let Ok(interval) = TimeDelta::from_std(reuse_interval) else {
        return false;
    };
    let Some(successor) = &token.successor else {
        return false;
    };
    !interval.is_zero()
        && now.signed_duration_since(used_at) < interval
        && successor.sealed.is_some()
        && successor.used_at.is_none()
        && successor.expires_at > now
}

/// Presents the token with hash `presented` at `now`: answers from `seen`
/// (the token as a reader saw it) when [`settled_by_reading`] can, otherwise
/// awaits `begin` for a write transaction, applies [`verdict`] and ends the
/// transaction. See [`Store::rotate_refresh`](super::Store::rotate_refresh).
pub(super) async fn rotate<W: FamilyWrite>(
    seen: Option<RefreshTokenState>,
    begin: impl Future<Output = Result<W, StoreError>> + Send,
    presented: &[u8],
    successor: Successor<'_>,
    now: DateTime<Utc>,
    reuse_interval: Duration,
) -> Result<RefreshOutcome, StoreError> {
    if let Some(outcome) = settled_by_reading(seen.as_ref(), now) {
        return Ok(outcome);
    }
    let mut tx = begin.await?;
    let Some(token) = tx.find_token(presented).await? else {
        tx.rollback().await?;
        return Ok(RefreshOutcome::Unknown);
    };
    let reused = RefreshOutcome::Reused {
        user_id: token.user_id,
        family_id: token.family_id,
    };
    let sealed_successor = token.successor.as_ref().and_then(|s| s.sealed.clone());
    match (verdict(&token, now, reuse_interval), sealed_successor) {
        (Verdict::Revoked, _) => {
            tx.rollback().await?;
            Ok(RefreshOutcome::Revoked)
        }
        (Verdict::Expired, _) => {
            tx.rollback().await?;
            Ok(RefreshOutcome::Expired)
        }
        (Verdict::Repeat, Some(sealed_successor)) => {
            tx.touch_family(token.family_id, now).await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Repeated {
                user_id: token.user_id,
                family_id: token.family_id,
                scope: token.scope,
                sealed_successor,
            })
        }
        // A repeat always has a sealed successor ([`is_repeat`]); without
        // one it could only be reuse.
        (Verdict::Reused | Verdict::Repeat, _) => {
            tx.revoke_family(token.family_id, now).await?;
            tx.commit().await?;
            Ok(reused)
        }
        (Verdict::Rotate, _) => {
            let next = NewToken {
                hash: successor.hash,
                expires_at: successor.expires_at,
            };
            // The row is held, so it is still unused; should a backend ever
            // fail to hold it, a lost race is still reuse, never a branch.
            if tx
                .use_up(token.id, token.family_id, next, successor.sealed, now)
                .await?
            {
                tx.touch_family(token.family_id, now).await?;
                tx.drop_sealed_copy_of(token.id).await?;
                tx.delete_spent(token.family_id, now - CLOCK_ALLOWANCE)
                    .await?;
                tx.commit().await?;
                Ok(RefreshOutcome::Rotated {
                    user_id: token.user_id,
                    family_id: token.family_id,
                    scope: token.scope,
                })
            } else {
                tx.revoke_family(token.family_id, now).await?;
                tx.commit().await?;
                Ok(reused)
            }
        }
    }
}

/// Revokes the family of the token with hash `presented` (logout); `false`
/// if no such token is stored. `seen` is the token as a reader saw it: an
/// unknown token, or one whose family is already revoked, is answered from
/// it without awaiting `begin` (the write transaction). See
/// [`Store::revoke_family_of`](super::Store::revoke_family_of).
pub(super) async fn revoke_family_of<W: FamilyWrite>(
    seen: Option<RefreshTokenState>,
    begin: impl Future<Output = Result<W, StoreError>> + Send,
    presented: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if let Some(found) = logout_settled_by_reading(seen.as_ref()) {
        return Ok(found);
    }
    let mut tx = begin.await?;
    let Some(token) = tx.find_token(presented).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    tx.revoke_family(token.family_id, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// What [`revoke_family_of`] answers from a reader's look at the presented
/// token, with no write: `false` for a token that is not stored, `true` for
/// one whose family is already revoked (nothing undoes either). `None`: it
/// takes the write transaction.
pub(super) fn logout_settled_by_reading(seen: Option<&RefreshTokenState>) -> Option<bool> {
    match seen {
        None => Some(false),
        Some(seen) if seen.family_revoked => Some(true),
        Some(_) => None,
    }
}

/// Starts a family for `user_id` holding its first token; returns the new
/// family's id. See
/// [`Store::create_refresh_family`](super::Store::create_refresh_family).
pub(super) async fn start_family<W: FamilyWrite>(
    mut tx: W,
    user_id: Uuid,
    scope: &str,
    origin: &SessionOrigin,
    first: NewToken<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let family_id = Uuid::new_v4();
    tx.insert_family(family_id, user_id, scope, origin, now)
        .await?;
    tx.insert_token(family_id, first, now).await?;
    tx.commit().await?;
    Ok(family_id)
}

#[cfg(test)]
mod tests;
