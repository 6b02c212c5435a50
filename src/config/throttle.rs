//! The back-off settings: how many failures each counter allows and how long
//! its locks grow. What the counters count, and when, is `accounts::throttle`.

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
}

/// The back-off policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttles {
    /// Failed logins for one email from one address.
    pub account: ThrottlePolicy,
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
}
