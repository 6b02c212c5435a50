//! Unit tests of [`verdict`](super::verdict): the policy alone, on rows made
//! up in memory, with and without the reuse interval.

use super::*;

const INTERVAL: Duration = Duration::from_secs(10);

fn fresh_token(now: DateTime<Utc>) -> StoredToken {
    StoredToken {
        id: Uuid::new_v4(),
        family_id: Uuid::new_v4(),
        user_id: Uuid::new_v4(),
        scope: "read".to_owned(),
        expires_at: now + TimeDelta::days(1),
        used_at: None,
        successor: None,
        family_revoked: false,
        owner_disabled: false,
    }
}

/// A token used up `ago` before `now` for a sealed, unused successor.
fn used_token(now: DateTime<Utc>, ago: TimeDelta) -> StoredToken {
    StoredToken {
        used_at: Some(now - ago),
        successor: Some(StoredSuccessor {
            sealed: Some(SealedSuccessor(vec![1, 2, 3])),
            used_at: None,
            expires_at: now + TimeDelta::days(1),
        }),
        ..fresh_token(now)
    }
}

#[test]
fn an_unused_live_token_of_a_live_family_rotates() {
    let now = Utc::now();
    assert_eq!(verdict(&fresh_token(now), now, INTERVAL), Verdict::Rotate);
    assert_eq!(
        verdict(&fresh_token(now), now, Duration::ZERO),
        Verdict::Rotate
    );
}

#[test]
fn a_token_is_expired_from_the_instant_of_its_expiry() {
    let now = Utc::now();
    let token = StoredToken {
        expires_at: now,
        ..fresh_token(now)
    };
    assert_eq!(verdict(&token, now, INTERVAL), Verdict::Expired);
    let just_before = now - TimeDelta::microseconds(1);
    assert_eq!(verdict(&token, just_before, INTERVAL), Verdict::Rotate);
}

#[test]
fn a_used_up_token_is_reuse_until_its_own_expiry_and_expired_from_then_on() {
    // Its row goes once it has expired (see `delete_spent`): the answer must
    // not depend on whether it has gone yet.
    let now = Utc::now();
    let token = StoredToken {
        used_at: Some(now - TimeDelta::days(2)),
        expires_at: now,
        ..fresh_token(now)
    };
    assert_eq!(verdict(&token, now, INTERVAL), Verdict::Expired);
    let just_before = now - TimeDelta::microseconds(1);
    assert_eq!(verdict(&token, just_before, INTERVAL), Verdict::Reused);
}

#[test]
fn a_repeat_within_the_interval_still_works_just_past_the_presented_tokens_expiry() {
    let now = Utc::now();
    let token = StoredToken {
        expires_at: now - TimeDelta::seconds(1),
        ..used_token(now, TimeDelta::seconds(2))
    };
    assert_eq!(verdict(&token, now, INTERVAL), Verdict::Repeat);
}

#[test]
fn a_reader_settles_unknown_revoked_and_unused_expired_tokens_and_nothing_else() {
    let now = Utc::now();
    let state = |used: bool, expires_at, family_revoked, owner_disabled| RefreshTokenState {
        user_id: Uuid::new_v4(),
        family_id: Uuid::new_v4(),
        scope: "read".to_owned(),
        created_at: now - TimeDelta::days(1),
        expires_at,
        used,
        family_revoked,
        owner_disabled,
    };
    let live = now + TimeDelta::days(1);
    assert_eq!(settled_by_reading(None, now), Some(RefreshOutcome::Unknown));
    for used in [false, true] {
        for (revoked, disabled) in [(true, false), (false, true)] {
            assert_eq!(
                settled_by_reading(Some(&state(used, live, revoked, disabled)), now),
                Some(RefreshOutcome::Revoked)
            );
        }
    }
    assert_eq!(
        settled_by_reading(Some(&state(false, now, false, false)), now),
        Some(RefreshOutcome::Expired)
    );
    // These take the write transaction: a rotation, a repeat, reuse, or (a
    // used-up token past its expiry) possibly a repeat.
    for (used, expires_at) in [(false, live), (true, live), (true, now)] {
        assert_eq!(
            settled_by_reading(Some(&state(used, expires_at, false, false)), now),
            None
        );
    }
}

#[test]
fn a_revoked_family_or_a_disabled_owner_refuses_every_token_without_reuse() {
    let now = Utc::now();
    for (family_revoked, owner_disabled) in [(true, false), (false, true), (true, true)] {
        for token in [fresh_token(now), used_token(now, TimeDelta::seconds(1))] {
            let token = StoredToken {
                family_revoked,
                owner_disabled,
                ..token
            };
            assert_eq!(
                verdict(&token, now, INTERVAL),
                Verdict::Revoked,
                "{token:?}"
            );
        }
    }
}

#[test]
fn a_token_presented_again_within_the_interval_is_a_repeat_up_to_its_last_instant() {
    let now = Utc::now();
    let within = TimeDelta::from_std(INTERVAL).unwrap() - TimeDelta::microseconds(1);
    for ago in [TimeDelta::zero(), TimeDelta::seconds(1), within] {
        assert_eq!(
            verdict(&used_token(now, ago), now, INTERVAL),
            Verdict::Repeat,
            "{ago}"
        );
    }
    // Another instance's clock a little behind the one that used it up.
    let ahead = used_token(now, TimeDelta::milliseconds(-300));
    assert_eq!(verdict(&ahead, now, INTERVAL), Verdict::Repeat);
}

#[test]
fn a_token_presented_again_at_or_after_the_end_of_the_interval_is_reuse() {
    let now = Utc::now();
    let interval = TimeDelta::from_std(INTERVAL).unwrap();
    for ago in [
        interval,
        interval + TimeDelta::seconds(1),
        TimeDelta::days(3),
    ] {
        assert_eq!(
            verdict(&used_token(now, ago), now, INTERVAL),
            Verdict::Reused,
            "{ago}"
        );
    }
}

#[test]
fn with_an_interval_of_zero_every_second_presentation_is_reuse() {
    let now = Utc::now();
    for ago in [TimeDelta::zero(), TimeDelta::milliseconds(-300)] {
        assert_eq!(
            verdict(&used_token(now, ago), now, Duration::ZERO),
            Verdict::Reused
        );
    }
}

#[test]
fn a_repeat_after_the_family_moved_on_is_reuse() {
    let now = Utc::now();
    let mut token = used_token(now, TimeDelta::seconds(1));
    if let Some(successor) = &mut token.successor {
        successor.used_at = Some(now);
    }
    assert_eq!(verdict(&token, now, INTERVAL), Verdict::Reused);
}

#[test]
fn a_repeat_needs_a_sealed_live_successor() {
    let now = Utc::now();
    let ago = TimeDelta::seconds(1);
    let unlinked = StoredToken {
        successor: None,
        ..used_token(now, ago)
    };
    let mut unsealed = used_token(now, ago);
    let mut expired = used_token(now, ago);
    if let (Some(a), Some(b)) = (&mut unsealed.successor, &mut expired.successor) {
        a.sealed = None;
        b.expires_at = now;
    }
    for token in [unlinked, unsealed, expired] {
        assert_eq!(verdict(&token, now, INTERVAL), Verdict::Reused, "{token:?}");
    }
}

#[test]
fn a_used_up_token_past_its_own_expiry_still_repeats_while_its_successor_lives() {
    let now = Utc::now();
    let token = StoredToken {
        expires_at: now - TimeDelta::milliseconds(1),
        ..used_token(now, TimeDelta::seconds(1))
    };
    assert_eq!(verdict(&token, now, INTERVAL), Verdict::Repeat);
}

#[test]
fn the_sealed_successor_is_never_printed() {
    let sealed = SealedSuccessor(b"secret bytes".to_vec());
    assert_eq!(format!("{sealed:?}"), "SealedSuccessor(<redacted>)");
}

#[test]
fn the_one_step_condition_is_exactly_the_rotate_row_of_the_policy() {
    // Every combination of what `verdict` looks at: the family, the owner,
    // whether and when the token was used up, its successor, its expiry,
    // and the interval.
    let now = Utc::now();
    let successors = [
        None,
        Some(StoredSuccessor {
            sealed: Some(SealedSuccessor(vec![1])),
            used_at: None,
            expires_at: now + TimeDelta::days(1),
        }),
        Some(StoredSuccessor {
            sealed: None,
            used_at: Some(now),
            expires_at: now,
        }),
    ];
    let used_ats = [
        None,
        Some(now - TimeDelta::seconds(1)),
        Some(now - TimeDelta::days(2)),
        Some(now + TimeDelta::seconds(1)),
    ];
    let expiries = [
        now - TimeDelta::seconds(1),
        now,
        now + TimeDelta::microseconds(1),
        now + TimeDelta::days(1),
    ];
    let mut rotations = 0;
    for family_revoked in [false, true] {
        for owner_disabled in [false, true] {
            for used_at in used_ats {
                for successor in &successors {
                    for expires_at in expiries {
                        for interval in [Duration::ZERO, INTERVAL] {
                            let token = StoredToken {
                                family_revoked,
                                owner_disabled,
                                used_at,
                                successor: successor.clone(),
                                expires_at,
                                ..fresh_token(now)
                            };
                            // The row as the module docs' table states it.
                            let the_row = !family_revoked
                                && !owner_disabled
                                && used_at.is_none()
                                && expires_at > now;
                            let rotates = verdict(&token, now, interval) == Verdict::Rotate;
                            assert_eq!(rotates, the_row, "{token:?} {interval:?}");
                            assert_eq!(is_rotation(&token, now), the_row, "{token:?}");
                            rotations += usize::from(rotates);
                        }
                    }
                }
            }
        }
    }
    assert!(rotations > 0);
}
