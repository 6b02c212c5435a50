//! The key life cycle as pure functions on a key set: each takes the keys as
//! read under a store's lock and returns the keys to commit plus what the
//! change was. A store (the keys folder, the database) reads, plans, commits
//! in its own way, and only then calls `committed()`, which writes the audit
//! event: so the rules and the audit trail are the same whatever holds the
//! keys, and nothing is logged for a change that did not commit.

use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};

use super::{Import, RotateOptions, Rotation};
use crate::keys::{KeyError, KeyMeta, KeyState, SigningKey};

/// A rotation ready to commit. `outcome` is `Err(NoNextKey)` when the set
/// had no `next` key: then the keys to commit only add one, and the caller
/// reports the refusal after committing them.
pub struct RotationPlan {
    keys: Vec<SigningKey>,
    outcome: Result<Rotation, KeyError>,
    forced: bool,
}

impl RotationPlan {
    /// The keys to commit, in publish order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// After the commit: logs the audit event and gives the outcome.
    pub fn committed(self) -> Result<Rotation, KeyError> {
        match &self.outcome {
            Ok(rotation) => tracing::info!(
                target: "audit",
                event = "key_rotated",
                active_kid = %rotation.active.kid,
                retired_kid = %rotation.retired.kid,
                next_kid = %rotation.next.kid,
                forced = self.forced
            ),
            Err(KeyError::NoNextKey { published, .. }) => tracing::info!(
                target: "audit",
                event = "next_key_published",
                next_kid = %published,
                reason = "the key set had no next key"
            ),
            Err(_) => {}
        }
        self.outcome
    }
}

/// Keys past their grace, ready to leave the set.
pub struct PrunePlan {
    keys: Vec<SigningKey>,
    pruned: Vec<KeyMeta>,
}

impl PrunePlan {
    /// The keys that stay, in their order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The keys that leave.
    pub fn pruned(&self) -> &[KeyMeta] {
        &self.pruned
    }

    /// After the commit: logs the audit event and gives the pruned keys.
    pub fn committed(self) -> Vec<KeyMeta> {
        let kids: Vec<&str> = self.pruned.iter().map(|p| p.kid.as_str()).collect();
        if !kids.is_empty() {
            tracing::info!(target: "audit", event = "keys_pruned", kids = ?kids);
        }
        self.pruned
    }
}

/// An import ready to commit.
pub struct ImportPlan {
    keys: Vec<SigningKey>,
    import: Import,
}

impl ImportPlan {
    /// The keys to commit, in publish order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The `next` keys the import removes (they never signed).
    pub fn replaced(&self) -> &[KeyMeta] {
        &self.import.replaced
    }

    /// After the commit: logs the audit event and says what changed.
    pub fn committed(self) -> Import {
        let Import { imported, replaced } = &self.import;
        tracing::info!(
            target: "audit",
            event = "key_imported",
            kid = %imported.kid,
            alg = %imported.alg,
            replaced_kids = ?replaced.iter().map(|m| m.kid.as_str()).collect::<Vec<_>>()
        );
        self.import
    }
}

/// Whether the active key of `keys` has signed for `interval` at `now`:
/// automatic rotation's test, made under the same lock as the rotation.
pub fn rotation_due(keys: &[SigningKey], interval: Duration, now: DateTime<Utc>) -> bool {
    let since = keys
        .iter()
        .find(|k| k.state() == KeyState::Active)
        .map_or(now, |active| active.meta().in_service_since());
    elapsed(since, now) >= interval
}

/// Promotes the oldest `next` key to active, retires the active key (its end
/// of grace recorded) and adds a fresh `next` key of `opts.alg`.
///
/// Refuses with [`KeyError::NextKeyTooNew`] when the `next` key has been
/// published for less than `opts.min_next_age`, unless `opts.force`. Without
/// a `next` key: plans to publish one, with [`KeyError::NoNextKey`] as the
/// outcome, unless `opts.force`, which activates a new key (of the active
/// key's algorithm) at once.
///
/// Blocking: key generation.
pub fn plan_rotation(
    mut keys: Vec<SigningKey>,
    opts: &RotateOptions,
    now: DateTime<Utc>,
) -> Result<RotationPlan, KeyError> {
    let now = now.trunc_subsecs(0);
    let active = keys
        .iter()
        .position(|k| k.state() == KeyState::Active)
        .ok_or_else(|| KeyError::InvalidSet("no key is active".into()))?;
    let oldest_next = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.state() == KeyState::Next)
        .min_by_key(|(_, k)| k.meta().created_at)
        .map(|(index, _)| index);

    let promoted = match oldest_next {
        Some(index) => {
            let next = keys[index].meta();
            let published = whole_seconds(elapsed(next.created_at, now));
            if published < opts.min_next_age {
                if !opts.force {
                    return Err(KeyError::NextKeyTooNew {
                        kid: next.kid.clone(),
                        published,
                        required: opts.min_next_age,
                    });
                }
                tracing::warn!(
                    kid = %next.kid,
                    published = %humantime::format_duration(published),
                    required = %humantime::format_duration(opts.min_next_age),
                    "forced rotation: verifiers that cached the JWK Set before this key was \
                     published reject its tokens until they fetch the set again"
                );
            }
            index
        }
        None if opts.force => {
            tracing::warn!(
                "forced rotation without a next key: the new active key was never \
                 published; verifiers reject its tokens until they fetch the JWK Set again"
            );
            keys.push(SigningKey::generate(keys[active].alg(), opts.rsa_bits)?);
            keys.len() - 1
        }
        None => {
            let next = SigningKey::generate(opts.alg, opts.rsa_bits)?;
            let kid = next.kid().to_owned();
            keys.push(next);
            return Ok(RotationPlan {
                keys: in_publish_order(keys),
                outcome: Err(KeyError::NoNextKey {
                    published: kid,
                    required: opts.min_next_age,
                }),
                forced: false,
            });
        }
    };

    // Generated before anything changes, so a failure leaves the set as it was.
    let fresh = SigningKey::generate(opts.alg, opts.rsa_bits)?;
    keys[active].set_state(KeyState::Retired, now);
    keys[active].set_grace_until(grace_end(now, opts.grace));
    keys[promoted].set_state(KeyState::Active, now);
    let rotation = Rotation {
        active: keys[promoted].meta().clone(),
        retired: keys[active].meta().clone(),
        next: fresh.meta().clone(),
    };
    keys.push(fresh);
    Ok(RotationPlan {
        keys: in_publish_order(keys),
        outcome: Ok(rotation),
        forced: opts.force,
    })
}

/// Removes `retired` keys whose grace is over at `now` (see
/// [`KeyMeta::prunable_at`]); `next` and `active` keys are never pruned.
/// `None` when nothing changes.
///
/// Each key's grace is the one recorded when it was retired;
/// `fallback_grace` serves only keys retired by an older sigil, which
/// recorded none, and a warning says so. A retired key without `retired_at`
/// (a hand-written manifest) is stamped `now`, with its grace ending
/// `fallback_grace` from now: a change to commit even if nothing is pruned.
pub fn plan_prune(
    keys: Vec<SigningKey>,
    fallback_grace: Duration,
    now: DateTime<Utc>,
) -> Option<PrunePlan> {
    let now = now.trunc_subsecs(0);
    let mut stamped = false;
    let mut kept = Vec::with_capacity(keys.len());
    let mut pruned = Vec::new();
    for mut key in keys {
        if key.state() == KeyState::Retired && key.meta().retired_at.is_none() {
            tracing::warn!(
                kid = key.kid(),
                "retired key without retired_at; counting its grace from now"
            );
            key.set_state(KeyState::Retired, now);
            key.set_grace_until(grace_end(now, fallback_grace));
            stamped = true;
        } else if key.state() == KeyState::Retired && key.meta().grace_until.is_none() {
            tracing::warn!(
                kid = key.kid(),
                grace = %humantime::format_duration(fallback_grace),
                "retired key without a recorded grace (retired by an older sigil); \
                 using this process's SIGIL_KEY_GRACE"
            );
        }
        match key.meta().prunable_at(fallback_grace) {
            Some(at) if at <= now => pruned.push(key.meta().clone()),
            _ => kept.push(key),
        }
    }
    if pruned.is_empty() && !stamped {
        return None;
    }
    Some(PrunePlan { keys: kept, pruned })
}

/// `key` joins `keys` as the `next` key, replacing the current `next`
/// key(s), which never signed. Refuses a key already in the set.
pub fn plan_import(keys: Vec<SigningKey>, key: SigningKey) -> Result<ImportPlan, KeyError> {
    if let Some(existing) = keys.iter().find(|k| k.kid() == key.kid()) {
        return Err(KeyError::AlreadyInSet {
            kid: key.kid().to_owned(),
            state: existing.state(),
        });
    }
    let (replaced, mut kept): (Vec<_>, Vec<_>) =
        keys.into_iter().partition(|k| k.state() == KeyState::Next);
    let imported = key.meta().clone();
    kept.push(key);
    Ok(ImportPlan {
        keys: in_publish_order(kept),
        import: Import {
            imported,
            replaced: replaced.iter().map(|k| k.meta().clone()).collect(),
        },
    })
}

/// Active, then next, then retired, each in their current order: how the
/// manifest reads best and how the JWK Set orders them anyway.
fn in_publish_order(mut keys: Vec<SigningKey>) -> Vec<SigningKey> {
    keys.sort_by_key(|k| k.state().publish_rank());
    keys
}

/// `at + grace`, or `None` past the calendar (settings keep graces far
/// shorter; prune then falls back to its own grace).
fn grace_end(at: DateTime<Utc>, grace: Duration) -> Option<DateTime<Utc>> {
    at.checked_add_signed(TimeDelta::from_std(grace).ok()?)
}

/// Time from `since` to `now`; zero if `since` is in the future (clock skew).
fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}
