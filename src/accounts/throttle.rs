//! Login back-off: after a few consecutive failures for one account, logins
//! for it are refused with 429 for a time that doubles with each further
//! failure, up to a ceiling; a successful login resets it.
//!
//! The counters live in the database, so failures spread over several
//! instances add up. The key is the lower-cased email whether or not an
//! account has it, so the answer reveals nothing about which emails exist.
//! The ceiling bounds how long an attacker can keep a real user out.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{Store, StoreError};

/// How the back-off grows.
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

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
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

/// The throttle key of an email.
pub fn key_for(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

/// Seconds until `until`, rounded up, at least 1 (for `Retry-After`).
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (until - now).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}

/// Counts a failure and locks the key when the policy says so; returns the lock's end.
pub async fn record_failure(
    store: &dyn Store,
    policy: &ThrottlePolicy,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let failures = store.record_login_failure(key, now, policy.window).await?;
    let Some(lock) = policy.lock_for(failures) else {
        return Ok(None);
    };
    let until = now + lock;
    store.lock_login(key, until).await?;
    Ok(Some(until))
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
    fn keys_ignore_case_and_surrounding_space() {
        assert_eq!(key_for(" Ada@Example.com "), "email:ada@example.com");
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = Utc::now();
        assert_eq!(
            seconds_until(now + chrono::Duration::milliseconds(1200), now),
            2
        );
        assert_eq!(seconds_until(now, now), 1);
    }
}
