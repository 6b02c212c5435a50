//! Back-off against guessing and spraying, in five counters:
//!
//! - **account from an address**: after a few consecutive failed logins for
//!   one email from one client address, logins for that email from that
//!   address are refused for a time that doubles with each further
//!   failure, up to a ceiling; a successful login resets it. Keying on the
//!   address too means an attacker cannot lock the real user out: the user,
//!   elsewhere, is not behind the attacker's lock.
//! - **account from unknown addresses**: one budget per email shared by
//!   every address the account has not logged in from successfully (its
//!   *known* addresses: the sources of its last few successful logins, for
//!   months). Guesses spread over many addresses (a /48 holds 65,536 IPv6
//!   sources) run into this one. A known address is not charged to it, so
//!   the real user logging in from home or the office is not locked out by
//!   an attack from elsewhere; from an address the account never used, the
//!   user waits like the attacker while the budget is spent. A successful
//!   login from an unknown address resets it.
//! - **address**: failed logins from one address for any emails; a spray of
//!   one password over many accounts runs into this one.
//! - **registrations from an address**: every registration that reaches the
//!   hasher counts, so one source cannot mint accounts (or burn CPU) without end.
//! - **client authentications from an address**: an unknown client id, a
//!   wrong secret or a disabled client, for any client ids.
//!
//! A login attempt is counted *before* its password is checked, on each of
//! its counters, by one database statement per counter that refuses it
//! instead while a lock runs, and sets the next lock itself when the count
//! calls for one ([`take`]). So an attempt whose client hangs up during the
//! hash has been counted all the same, and of many simultaneous guesses
//! only the free ones get a verdict. A success clears the email's counts and
//! gives the address its attempt back (many users may share an address);
//! a failure, a hung-up client or a full hashing queue (503) leaves them.
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
use crate::store::{Attempt, Store, StoreError};

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

/// The key of failed logins for `email` from every address the account
/// does not know.
pub fn account_wide_key(email: &str) -> String {
    format!("login-account:{}", email.trim().to_lowercase())
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

/// The login counters (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// One email from one address.
    Account,
    /// One email from every address the account does not know.
    AccountWide,
    /// One address, any emails.
    Address,
}

impl Counter {
    /// The counter's name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Account => "account",
            Counter::AccountWide => "account_wide",
            Counter::Address => "address",
        }
    }
}

/// One counter an attempt is charged to.
pub struct Charge<'a> {
    /// Which counter.
    pub counter: Counter,
    /// How its locks grow.
    pub policy: &'a ThrottlePolicy,
    /// Its key.
    pub key: String,
}

/// What [`take`] decided for an attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Counted on every counter; the locks this attempt started (counter
    /// and end), which refuse the attempts after it.
    Counted(Vec<(Counter, DateTime<Utc>)>),
    /// A counter's lock runs until then.
    Refused(DateTime<Utc>),
}

/// Counts one attempt on each of `charges`, in order, each unless its lock
/// runs. A refusal stops there: the counters before it keep the attempt
/// (only a race with another attempt gets that far, since callers check
/// the locks first), which errs on the side of the counters. Charges
/// private to the source should come first and shared ones last, so that
/// such a race never costs a shared counter an attempt that was not checked.
pub async fn take(
    store: &dyn Store,
    charges: &[Charge<'_>],
    now: DateTime<Utc>,
) -> Result<Taken, StoreError> {
    let mut started = Vec::new();
    for charge in charges {
        match store
            .take_throttle_attempt(&charge.key, now, charge.policy)
            .await?
        {
            Attempt::Taken { locked_until, .. } => {
                started.extend(locked_until.map(|until| (charge.counter, until)));
            }
            Attempt::Refused { until } => return Ok(Taken::Refused(until)),
        }
    }
    Ok(Taken::Counted(started))
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
        assert_eq!(
            account_wide_key(" Ada@Example.com "),
            "login-account:ada@example.com"
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
