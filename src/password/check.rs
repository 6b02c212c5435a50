//! One verification as a hashing thread runs it: the verdict, the upgrade
//! of an outdated hash, and the padding that makes every refusal cost what
//! the dummy hash of an unknown email costs.

use argon2::password_hash::PasswordHash;
use secrecy::SecretString;

use super::argon::{Argon2Memory, burn, cost_work, hash_in, is_current, verify_with_work};
use super::{HashError, Verdict};
use crate::config::Argon2Cost;

/// A verdict and the argon2 work spent on it (blocks × passes, see
/// `argon::work_of`): the work is what the answer's timing reveals.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Checked {
    pub verdict: Verdict,
    pub work: u64,
}

/// Checks `password` against `stored` (a user's hash when `is_real`, else
/// the dummy) under the current `cost`, working in `memory`. An upgraded
/// hash is computed only on a match that `may_upgrade`.
pub(super) fn check(
    memory: &mut Argon2Memory,
    cost: Argon2Cost,
    password: &SecretString,
    stored: &str,
    is_real: bool,
    may_upgrade: bool,
) -> Result<Checked, HashError> {
    let (matches, current, work) = match PasswordHash::new(stored) {
        Ok(parsed) => {
            let verification = verify_with_work(memory, password, &parsed);
            (
                verification.matches && is_real,
                is_current(&parsed, cost),
                verification.work,
            )
        }
        Err(_) => {
            tracing::error!("a stored password hash is not a valid PHC string");
            (false, false, 0)
        }
    };
    if matches && may_upgrade {
        if current {
            let verdict = Verdict::Match {
                upgraded_hash: None,
            };
            return Ok(Checked { verdict, work });
        }
        let upgraded_hash = Some(hash_in(memory, cost, password)?);
        let work = work + cost_work(cost);
        let verdict = Verdict::Match { upgraded_hash };
        return Ok(Checked { verdict, work });
    }
    // A refusal (no user, wrong password, a user who may not log in) costs
    // at least a verification under the current cost, as the dummy does:
    // else a stored hash under older, cheaper parameters (or a malformed
    // one) would answer sooner than an unknown email and tell that the
    // account exists. The padding is argon2 work, not a sleep, so that it
    // costs the same under any load. A stored hash costlier than the
    // current cost is not padded down: see the README.
    let work = work + burn(memory, cost, cost_work(cost).saturating_sub(work));
    let verdict = if matches {
        Verdict::Match {
            upgraded_hash: None,
        }
    } else {
        Verdict::Mismatch
    };
    Ok(Checked { verdict, work })
}

#[cfg(test)]
mod tests {
    use super::super::hash_now;
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    /// The current cost in these tests: 256 KiB, 2 passes (512 units of work).
    fn current() -> Argon2Cost {
        Argon2Cost {
            memory_kib: 256,
            iterations: 2,
            parallelism: 1,
        }
    }

    fn cost(memory_kib: u32, iterations: u32) -> Argon2Cost {
        Argon2Cost {
            memory_kib,
            iterations,
            parallelism: 1,
        }
    }

    /// What an unknown email costs: a wrong password against the dummy hash.
    fn dummy_work(memory: &mut Argon2Memory) -> u64 {
        let dummy = hash_now(current(), &secret("the dummy's random password")).unwrap();
        let checked = check(memory, current(), &secret("guess"), &dummy, false, true).unwrap();
        assert_eq!(checked.verdict, Verdict::Mismatch);
        checked.work
    }

    #[test]
    fn a_wrong_password_against_an_older_cheaper_hash_costs_what_an_unknown_email_costs() {
        let mut memory = Argon2Memory::default();
        let old = hash_now(cost(64, 1), &secret("correct horse")).unwrap();

        let checked = check(
            &mut memory,
            current(),
            &secret("wrong horse"),
            &old,
            true,
            true,
        )
        .unwrap();

        assert_eq!(checked.verdict, Verdict::Mismatch);
        assert_eq!(dummy_work(&mut memory), 512);
        assert_eq!(checked.work, 512, "old hash m=64,t=1 vs dummy m=256,t=2");
    }

    #[test]
    fn a_malformed_or_foreign_stored_hash_costs_what_an_unknown_email_costs() {
        let mut memory = Argon2Memory::default();
        for stored in ["not a phc string", "$bcrypt$v=2$whatever", ""] {
            let checked = check(&mut memory, current(), &secret("x"), stored, true, true).unwrap();
            assert_eq!(checked.verdict, Verdict::Mismatch, "{stored:?}");
            assert_eq!(checked.work, 512, "{stored:?}");
        }
    }

    #[test]
    fn a_right_password_that_may_not_be_upgraded_gets_no_new_hash_and_costs_a_refusal() {
        // A disabled user with an old hash: the right password must take
        // the time of a wrong one, and no upgraded hash is computed.
        let mut memory = Argon2Memory::default();
        let old = hash_now(cost(64, 1), &secret("correct horse")).unwrap();

        let checked = check(
            &mut memory,
            current(),
            &secret("correct horse"),
            &old,
            true,
            false,
        )
        .unwrap();

        assert_eq!(
            checked.verdict,
            Verdict::Match {
                upgraded_hash: None
            }
        );
        assert_eq!(checked.work, 512);
    }

    #[test]
    fn a_right_password_that_may_be_upgraded_gets_a_current_hash() {
        let mut memory = Argon2Memory::default();
        let old = hash_now(cost(64, 1), &secret("correct horse")).unwrap();

        let checked = check(
            &mut memory,
            current(),
            &secret("correct horse"),
            &old,
            true,
            true,
        )
        .unwrap();

        let Verdict::Match {
            upgraded_hash: Some(upgraded),
        } = checked.verdict
        else {
            panic!("expected an upgrade, got {:?}", checked.verdict);
        };
        assert!(upgraded.starts_with("$argon2id$v=19$m=256,t=2,p=1$"));
        assert_eq!(checked.work, 64 + 512);
    }

    #[test]
    fn an_older_costlier_hash_is_not_padded() {
        // After an operator lowers the cost, a stored hash can cost more
        // than the dummy; nothing can make the dummy slower for free, so
        // such a refusal takes the old hash's time (see the README).
        let mut memory = Argon2Memory::default();
        let old = hash_now(cost(1024, 1), &secret("correct horse")).unwrap();

        let checked = check(&mut memory, current(), &secret("wrong"), &old, true, true).unwrap();

        assert_eq!(checked.work, 1024);
    }
}
