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
//! | was used up before (theft or a replay)        | [`RefreshOutcome::Reused`]: the whole family is revoked |
//! | is past its expiry                            | [`RefreshOutcome::Expired`]    |
//! | is none of that                               | [`RefreshOutcome::Rotated`]: used up, successor stored |
//!
//! Each backend supplies the same few storage steps, [`FamilyWrite`], all
//! inside one write transaction that holds the presented token's row and its
//! family's row from the moment they are read until the transaction ends
//! (SQLite: `BEGIN IMMEDIATE` on the one writer connection; PostgreSQL:
//! `SELECT … FOR UPDATE`). Concurrent presentations of one token, from any
//! number of instances, are therefore decided one after the other, each on
//! what the previous one wrote: exactly one rotates, the next sees a used-up
//! token and revokes the family, the rest find the family revoked.
//!
//! The functions here ([`rotate`], [`revoke_family_of`], [`start_family`])
//! are what the backends' [`Store`](super::Store) methods of the same purpose
//! call; they never see SQL, and the backends never decide.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

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
    /// Whether the family has been revoked.
    pub(super) family_revoked: bool,
    /// Whether the family's owner is disabled.
    pub(super) owner_disabled: bool,
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
    /// Finds the token stored with hash `token_hash`, with its family and
    /// owner, and holds the token's and the family's rows until the
    /// transaction ends, so no one else changes them meanwhile.
    fn find_token(
        &mut self,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<Option<StoredToken>, StoreError>> + Send;

    /// Creates an empty, unrevoked family.
    fn insert_family(
        &mut self,
        family_id: Uuid,
        user_id: Uuid,
        scope: &str,
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
    /// still unused, and then adds `successor` to the family. Returns whether
    /// the token was unused (and so the successor stored).
    fn use_up(
        &mut self,
        token_id: Uuid,
        family_id: Uuid,
        successor: NewToken<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

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
    /// Refuse: the token is past its expiry.
    Expired,
    /// Use the token up and store its successor.
    Rotate,
}

/// The policy: what presenting `token` at `now` does.
///
/// The order matters: a revoked family stays revoked whatever its token, and
/// a used-up token presented again is reuse even once it has expired (an
/// attacker replaying an old token must still end the family).
pub(super) fn verdict(token: &StoredToken, now: DateTime<Utc>) -> Verdict {
    // A disabled owner counts as revoked even if a family slipped past the
    // revocation done when disabling (e.g. a login racing with it).
    if token.family_revoked || token.owner_disabled {
        Verdict::Revoked
    } else if token.used_at.is_some() {
        Verdict::Reused
    } else if token.expires_at <= now {
        Verdict::Expired
    } else {
        Verdict::Rotate
    }
}

/// Presents the token with hash `presented` at `now` on the open transaction
/// `tx`: applies [`verdict`] and ends the transaction. See
/// [`Store::rotate_refresh`](super::Store::rotate_refresh).
pub(super) async fn rotate<W: FamilyWrite>(
    mut tx: W,
    presented: &[u8],
    successor: NewToken<'_>,
    now: DateTime<Utc>,
) -> Result<RefreshOutcome, StoreError> {
    let Some(token) = tx.find_token(presented).await? else {
        tx.rollback().await?;
        return Ok(RefreshOutcome::Unknown);
    };
    let reused = RefreshOutcome::Reused {
        user_id: token.user_id,
        family_id: token.family_id,
    };
    match verdict(&token, now) {
        Verdict::Revoked => {
            tx.rollback().await?;
            Ok(RefreshOutcome::Revoked)
        }
        Verdict::Expired => {
            tx.rollback().await?;
            Ok(RefreshOutcome::Expired)
        }
        Verdict::Reused => {
            tx.revoke_family(token.family_id, now).await?;
            tx.commit().await?;
            Ok(reused)
        }
        Verdict::Rotate => {
            // The row is held, so it is still unused; should a backend ever
            // fail to hold it, a lost race is still reuse, never a branch.
            if tx.use_up(token.id, token.family_id, successor, now).await? {
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
/// if no such token is stored. See
/// [`Store::revoke_family_of`](super::Store::revoke_family_of).
pub(super) async fn revoke_family_of<W: FamilyWrite>(
    mut tx: W,
    presented: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(token) = tx.find_token(presented).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    tx.revoke_family(token.family_id, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Starts a family for `user_id` holding its first token; returns the new
/// family's id. See
/// [`Store::create_refresh_family`](super::Store::create_refresh_family).
pub(super) async fn start_family<W: FamilyWrite>(
    mut tx: W,
    user_id: Uuid,
    scope: &str,
    first: NewToken<'_>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let family_id = Uuid::new_v4();
    tx.insert_family(family_id, user_id, scope, now).await?;
    tx.insert_token(family_id, first, now).await?;
    tx.commit().await?;
    Ok(family_id)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn fresh_token(now: DateTime<Utc>) -> StoredToken {
        StoredToken {
            id: Uuid::new_v4(),
            family_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            scope: "read".to_owned(),
            expires_at: now + TimeDelta::days(1),
            used_at: None,
            family_revoked: false,
            owner_disabled: false,
        }
    }

    #[test]
    fn an_unused_live_token_of_a_live_family_rotates() {
        let now = Utc::now();
        assert_eq!(verdict(&fresh_token(now), now), Verdict::Rotate);
    }

    #[test]
    fn a_token_is_expired_from_the_instant_of_its_expiry() {
        let now = Utc::now();
        let token = StoredToken {
            expires_at: now,
            ..fresh_token(now)
        };
        assert_eq!(verdict(&token, now), Verdict::Expired);
        let just_before = now - TimeDelta::microseconds(1);
        assert_eq!(verdict(&token, just_before), Verdict::Rotate);
    }

    #[test]
    fn a_used_up_token_is_reuse_even_after_it_expired() {
        let now = Utc::now();
        let token = StoredToken {
            used_at: Some(now - TimeDelta::days(2)),
            expires_at: now - TimeDelta::days(1),
            ..fresh_token(now)
        };
        assert_eq!(verdict(&token, now), Verdict::Reused);
    }

    #[test]
    fn a_revoked_family_or_a_disabled_owner_refuses_every_token_without_reuse() {
        let now = Utc::now();
        let used = Some(now - TimeDelta::seconds(1));
        for (family_revoked, owner_disabled) in [(true, false), (false, true), (true, true)] {
            for used_at in [None, used] {
                let token = StoredToken {
                    family_revoked,
                    owner_disabled,
                    used_at,
                    ..fresh_token(now)
                };
                assert_eq!(verdict(&token, now), Verdict::Revoked, "{token:?}");
            }
        }
    }
}
