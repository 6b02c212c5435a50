//! The back-off settings: how many failures each counter allows and how long
//! its locks grow, and which addresses an account knows as its own. What the counters count, and when, is `accounts::throttle`.

use std::time::Duration;

/// How the back-off of one counter grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before the first lock.
    pub free_attempts: u32,
    /// The first lock; each further failure doubles it.
    pub base: Duration,
    /// The longest lock.
    pub max: Duration,
    /// Failures further apart than this start a new count.
    pub window: Duration,
}

/// The account counter: 5 guesses, then waits of 1 s, 2 s, 4 s, … up to
/// 15 min between guesses; it forgets only after a success or a day without
/// failures, so an attacker cannot reset it by pausing for one lock.
impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            window: Duration::from_secs(24 * 3600),
        }
    }
}

impl ThrottlePolicy {
    /// The lock after the `failures`-th consecutive failure, if any.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_attempts)?;
        // 2^over, saturating well before it could overflow.
        let factor = 1u32.checked_shl(over.min(30)).unwrap_or(u32::MAX);
        Some(self.base.saturating_mul(factor).min(self.max))
    }

    /// How many doublings of `base` reach `max`: past this many failures
    /// over the free ones every lock is `max` (at most 62, so the doubling
    /// fits a 64-bit count of microseconds). Lets a database compute
    /// [`ThrottlePolicy::lock_for`] in the statement that counts.
    pub fn doublings_to_max(&self) -> u32 {
        let mut lock = self.base;
        let mut doublings = 0;
        while lock < self.max && doublings < 62 && !lock.is_zero() {
            lock = lock.saturating_mul(2);
            doublings += 1;
        }
        doublings
    }
}

/// The back-off policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttles {
    /// Failed logins for one email from one address.
    pub account: ThrottlePolicy,
    /// Failed logins for one email from every address the account does not
    /// know, together: distributed guessing. An address is known to an
    /// account when the account logged in from it successfully (one of its
    /// last [`Throttles::known_addresses`], within [`Throttles::known_for`]);
    /// a known address is charged only [`Throttles::account`].
    pub account_wide: ThrottlePolicy,
    /// The most addresses an account knows; a login from one more forgets
    /// the one logged in from least recently.
    pub known_addresses: u32,
    /// An address not logged in from for this long is no longer known.
    pub known_for: Duration,
    /// Failed logins from one address, for any emails.
    pub address: ThrottlePolicy,
    /// Registrations from one address.
    pub registrations: ThrottlePolicy,
    /// Failed client authentications (unknown client id or wrong secret)
    /// from one address.
    pub clients: ThrottlePolicy,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            account: ThrottlePolicy::default(),
            // Shared by every address the user never logged in from, so one
            // budget for all of them: 20 guesses, then waits of 1 s, 2 s, …
            // up to 15 min (about a hundred guesses a day in all, however
            // many addresses guess).
            account_wide: ThrottlePolicy {
                free_attempts: 20,
                ..ThrottlePolicy::default()
            },
            // The sources of the last 10 successful logins, each for 90
            // days after its latest.
            known_addresses: 10,
            known_for: Duration::from_secs(90 * 24 * 3600),
            // Shared by everyone behind one address (an office, a NAT), so
            // it forgets sooner: after an hour without failures.
            address: ThrottlePolicy {
                free_attempts: 20,
                window: Duration::from_secs(3600),
                ..ThrottlePolicy::default()
            },
            registrations: ThrottlePolicy {
                free_attempts: 10,
                base: Duration::from_secs(60),
                max: Duration::from_secs(3600),
                window: Duration::from_secs(3600),
            },
            // Like failed logins from one address: a service with a wrong
            // secret in its configuration is not locked out for long, a
            // guesser is slowed down early.
            clients: ThrottlePolicy {
                free_attempts: 20,
                window: Duration::from_secs(3600),
                ..ThrottlePolicy::default()
            },
        }
    }
}

impl Throttles {
    /// The longest window: counters quiet for longer decide nothing.
    pub fn longest_window(&self) -> Duration {
        self.account
            .window
            .max(self.account_wide.window)
            .max(self.address.window)
            .max(self.registrations.window)
            .max(self.clients.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_doubles_after_the_free_attempts_and_stops_at_the_ceiling() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.lock_for(4), None);
        assert_eq!(p.lock_for(5), Some(Duration::from_secs(1)));
        assert_eq!(p.lock_for(6), Some(Duration::from_secs(2)));
        assert_eq!(p.lock_for(9), Some(Duration::from_secs(16)));
        assert_eq!(p.lock_for(40), Some(Duration::from_secs(900)));
        assert_eq!(p.lock_for(u32::MAX), Some(Duration::from_secs(900)));
    }

    #[test]
    fn doublings_to_max_is_where_the_lock_reaches_its_ceiling() {
        let p = ThrottlePolicy::default();
        // 1 s · 2^10 = 1024 s is the first past 900 s.
        assert_eq!(p.doublings_to_max(), 10);
        let over = p.free_attempts + p.doublings_to_max();
        assert_eq!(p.lock_for(over), Some(p.max));
        assert!(p.lock_for(over - 1) < Some(p.max));
        let flat = ThrottlePolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(60),
            ..p
        };
        assert_eq!(flat.doublings_to_max(), 0);
        let zero = ThrottlePolicy {
            base: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.doublings_to_max(), 0);
    }
}
