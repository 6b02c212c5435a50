//! Back-off against guessing and spraying, in four counters:
//!
//! - **account from an address**: after a few consecutive failed logins for
//!   one email from one client address, logins for that email from that
//!   address are refused for a time that doubles with each further
//!   failure, up to a ceiling; a successful login resets it. Keying on the
//!   address too means an attacker cannot lock the real user out: the user,
//!   elsewhere, is not behind the attacker's lock.
//! - **address**: failed logins from one address for any emails; a spray of
//!   one password over many accounts runs into this one.
//! - **registrations from an address**: every registration that reaches the
//!   hasher counts, so one source cannot mint accounts (or burn CPU) without end.
//! - **client authentications from an address**: an unknown client id, a
//!   wrong secret or a disabled client, for any client ids.
//!
//! The counters live in the database, so events spread over several
//! instances add up. Login keys use the lower-cased email whether or not an
//! account has it, so the answer reveals nothing about which emails exist.
//! Every lock has a ceiling, and none is ever shortened. How many failures
//! each counter allows and how its locks grow are settings
//! ([`Throttles`], from `config`).

use std::net::IpAddr;

use chrono::{DateTime, Utc};

pub use crate::config::{ThrottlePolicy, Throttles};
use crate::store::{Store, StoreError};

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

/// The key of failed client authentications from `client`.
pub fn client_address_key(client: Option<IpAddr>) -> String {
    format!("client-auth-from:{}", source(client))
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
