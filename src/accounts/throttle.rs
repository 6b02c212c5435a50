//! Back-off against guessing and spraying, in three counters:
//!
//! - **account from an address**: after a few consecutive failed logins for
//!   one email from one client address, logins for that email from that
//!   address are refused with 429 for a time that doubles with each further
//!   failure, up to a ceiling; a successful login resets it. Keying on the
//!   address too means an attacker cannot lock the real user out: the user,
//!   elsewhere, is not behind the attacker's lock.
//! - **address**: failed logins from one address for any emails; a spray of
//!   one password over many accounts runs into this one.
//! - **registrations from an address**: every registration that reaches the
//!   hasher counts, so one source cannot mint accounts (or burn CPU) without end.
//!
//! The counters live in the database, so events spread over several
//! instances add up. Login keys use the lower-cased email whether or not an
//! account has it, so the answer reveals nothing about which emails exist.
//! Every lock has a ceiling, and none is ever shortened.

use std::net::IpAddr;
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

/// The three back-off policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttles {
    /// Failed logins for one email from one address.
    pub account: ThrottlePolicy,
    /// Failed logins from one address, for any emails.
    pub address: ThrottlePolicy,
    /// Registrations from one address.
    pub registrations: ThrottlePolicy,
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
    }
}

/// The part of a client address that identifies a source: the whole IPv4
/// address, or the /64 network of an IPv6 address (one subscriber usually
/// holds a whole /64, so single IPv6 addresses would be free to rotate).
/// `None` (no address known) is one source of its own.
pub fn source(client: Option<IpAddr>) -> String {
    match client.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

/// The key of failed logins for `email` from `client`.
pub fn account_key(email: &str, client: Option<IpAddr>) -> String {
    format!("login:{}|{}", email.trim().to_lowercase(), source(client))
}

/// The key of failed logins from `client`.
pub fn address_key(client: Option<IpAddr>) -> String {
    format!("login-from:{}", source(client))
}

/// The key of registrations from `client`.
pub fn registration_key(client: Option<IpAddr>) -> String {
    format!("register-from:{}", source(client))
}

/// Seconds until `until`, rounded up, at least 1 (for `Retry-After`).
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (until - now).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}

/// Counts an event and locks the key when the policy says so; returns the lock's end.
pub async fn record(
    store: &dyn Store,
    policy: &ThrottlePolicy,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let events = store.record_throttle_event(key, now, policy.window).await?;
    let Some(lock) = policy.lock_for(events) else {
        return Ok(None);
    };
    let until = now + lock;
    store.throttle_lock(key, until).await?;
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
    fn login_keys_ignore_case_and_surrounding_space() {
        let ip = Some("192.0.2.7".parse().unwrap());
        assert_eq!(
            account_key(" Ada@Example.com ", ip),
            "login:ada@example.com|192.0.2.7"
        );
    }

    #[test]
    fn an_ipv6_source_is_its_64_network_and_a_mapped_ipv4_is_the_ipv4() {
        let a = Some("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Some("2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(source(a), "2001:db8:1:2::/64");
        assert_eq!(source(a), source(b));
        assert_ne!(source(a), source(Some("2001:db8:1:3::1".parse().unwrap())));
        assert_eq!(
            source(Some("::ffff:192.0.2.7".parse().unwrap())),
            "192.0.2.7"
        );
        assert_eq!(source(None), "unknown");
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
