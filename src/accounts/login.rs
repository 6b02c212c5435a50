//! Logging in with a password, and the back-off around it: locks are checked
//! first, then the attempt is counted against the email from this address
//! (and, from an address the account does not know, against the email from
//! every such address) and against the address, all before any hashing; a
//! success clears the email's counts and makes the address known.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::throttle::{Charge, Counter, Taken};
use super::{
    AccountError, Accounts, Field, FieldError, TokenPair, client_field, throttle, validate,
};
use crate::password::{HashError, Verdict};
use crate::telemetry::metrics::Metrics;

impl Accounts {
    /// Checks email and password and starts a session, which keeps `client`
    /// and `user_agent` for the user's list of sessions. Unknown email, wrong
    /// password and disabled user cost the same and answer the same.
    /// Every attempt that gets as far as the hasher has been counted first
    /// (see [`throttle`]); a success clears the counts for the email.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        scope: Option<&str>,
        client: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<TokenPair, AccountError> {
        // Lengths only: a login must not reveal the password policy of old accounts,
        // but nothing longer than any valid value is worth hashing or looking up.
        let mut errors = Vec::new();
        if email.len() > validate::MAX_EMAIL_LEN {
            errors.push(FieldError::new(Field::LoginEmail, "is too long"));
        }
        if password.expose_secret().chars().count() > validate::MAX_PASSWORD_CHARS {
            errors.push(FieldError::new(Field::Password, "is too long"));
        }
        if !errors.is_empty() {
            return Err(AccountError::Invalid(errors));
        }
        let now = Utc::now();
        let charges = self.login_charges(email, client, now).await?;
        let known_source = !charges.iter().any(|c| c.counter == Counter::AccountWide);
        // Locks are enforced, and the attempt counted, before any hashing: a
        // lock must cost the attacker time without costing us CPU, and an
        // attempt whose client hangs up during the hash has still been
        // counted. The reads first keep a flood of refused attempts off the
        // database's writer.
        let keys: Vec<&str> = charges.iter().map(|c| c.key.as_str()).collect();
        if let Err(e) = self.refuse_if_locked(&keys, now).await {
            self.count_throttled(&e);
            return Err(e);
        }
        let started_locks = match throttle::take(self.store.as_ref(), &charges, now).await? {
            Taken::Counted(started) => started,
            Taken::Refused(until) => {
                let e = AccountError::Throttled {
                    retry_after: throttle::seconds_until(until, now),
                };
                self.count_throttled(&e);
                return Err(e);
            }
        };
        let user = self.store.user_by_email(email.trim()).await?;
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        let unsettled = Unsettled::new(&self.metrics, client);
        let verdict = self
            .hasher
            .verify(
                password,
                stored_hash,
                user.as_ref().is_some_and(|u| !u.disabled),
            )
            .await;
        unsettled.settle();
        if matches!(verdict, Err(HashError::Busy)) {
            // No verdict was given, so no guess was made: the attempt goes
            // back to every counter, or a real user retrying through a
            // flood's 503s would run into a back-off they did not earn.
            self.give_back(&charges, &started_locks).await?;
        }
        let user = match (verdict?, user) {
            (Verdict::Match { upgraded_hash }, Some(user)) if !user.disabled => {
                if let Some(hash) = upgraded_hash {
                    self.store.set_password_hash(user.id, &hash).await?;
                    tracing::info!(target: "audit", event = "password_hash_upgraded", user_id = %user.id);
                }
                user
            }
            (_, user) => {
                let user_id = user
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), |u| u.id.to_string());
                let disabled = user.as_ref().is_some_and(|u| u.disabled);
                tracing::info!(target: "audit", event = "login_failed", user_id = %user_id, client = %client_field(client), disabled);
                self.metrics.login_failed("bad_credentials");
                for (counter, until) in &started_locks {
                    tracing::warn!(target: "audit", event = "login_locked", lock = counter.as_str(), user_id = %user_id, client = %client_field(client), retry_after = throttle::seconds_until(*until, now), "repeated failed logins; further attempts wait");
                }
                return Err(AccountError::BadCredentials);
            }
        };
        // A success clears the email's counts. The address's count only
        // gives this attempt back: a success does not excuse a spray, but
        // is no failure either (many users may share one address).
        for charge in &charges {
            if charge.counter == Counter::Address {
                self.give_back(std::slice::from_ref(charge), &started_locks)
                    .await?;
            } else {
                self.store.clear_throttle(&charge.key).await?;
            }
        }
        if client.is_some() {
            let t = &self.throttles;
            let forget_before = before(now, t.known_for);
            let source = throttle::source(client);
            self.store
                .remember_login_source(user.id, &source, now, forget_before, t.known_addresses)
                .await?;
        }
        let granted = self
            .scopes
            .grant(&user.scopes, scope)
            .map_err(AccountError::UnknownScope)?;
        tracing::info!(target: "audit", event = "login_succeeded", user_id = %user.id, client = %client_field(client), known_source);
        self.start_session(&user, granted, client, user_agent).await
    }

    /// The counters a login for `email` from `client` is charged to, those
    /// of the source alone first: the email from this source, the source,
    /// and, unless the account knows the source, the email from every
    /// source it does not know. An unknown client address is never known.
    async fn login_charges(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Charge<'_>>, AccountError> {
        let t = &self.throttles;
        let mut charges = vec![
            Charge {
                counter: Counter::Account,
                policy: &t.account,
                key: throttle::account_key(email, client),
            },
            Charge {
                counter: Counter::Address,
                policy: &t.address,
                key: throttle::address_key(client),
            },
        ];
        let known = match client {
            Some(_) => {
                let since = before(now, t.known_for);
                let source = throttle::source(client);
                self.store
                    .is_known_login_source(email.trim(), &source, since)
                    .await?
            }
            None => false,
        };
        if !known {
            charges.push(Charge {
                counter: Counter::AccountWide,
                policy: &t.account_wide,
                key: throttle::account_wide_key(email),
            });
        }
        Ok(charges)
    }

    /// Gives this attempt back to each of `charges`, lifting the locks it
    /// started (`started`) if they still run.
    async fn give_back(
        &self,
        charges: &[Charge<'_>],
        started: &[(Counter, DateTime<Utc>)],
    ) -> Result<(), AccountError> {
        for charge in charges {
            let lock = started
                .iter()
                .find_map(|(counter, until)| (*counter == charge.counter).then_some(*until));
            self.store
                .release_throttle_attempt(&charge.key, lock)
                .await?;
        }
        Ok(())
    }

    /// Counts a refused login in the metrics.
    fn count_throttled(&self, e: &AccountError) {
        if matches!(e, AccountError::Throttled { .. }) {
            self.metrics.login_failed("throttled");
        }
    }

    /// `Throttled` until the latest end among the running locks of `keys`.
    pub(super) async fn refuse_if_locked(
        &self,
        keys: &[&str],
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let mut latest = None;
        for key in keys {
            if let Some(until) = self.store.throttle_locked_until(key, now).await? {
                latest = latest.max(Some(until));
            }
        }
        match latest {
            Some(until) => Err(AccountError::Throttled {
                retry_after: throttle::seconds_until(until, now),
            }),
            None => Ok(()),
        }
    }
}

/// `now` minus `age`, but not before 1970 (which every backend can store).
fn before(now: DateTime<Utc>, age: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .map_or(DateTime::UNIX_EPOCH, |t| t.max(DateTime::UNIX_EPOCH))
}

/// A counted attempt whose password check has not answered yet. If the
/// login is dropped before (its client hung up), the attempt is reported
/// as abandoned: in the audit log and as `reason="abandoned"` in
/// `sigil_logins_failed_total`, which is how a flood of logins that hang up
/// before their answer shows.
struct Unsettled<'a> {
    metrics: &'a Metrics,
    client: Option<IpAddr>,
    settled: bool,
}

impl<'a> Unsettled<'a> {
    fn new(metrics: &'a Metrics, client: Option<IpAddr>) -> Self {
        Unsettled {
            metrics,
            client,
            settled: false,
        }
    }

    /// The check answered (a verdict, or an error of its own).
    fn settle(mut self) {
        self.settled = true;
    }
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if !self.settled {
            tracing::info!(target: "audit", event = "login_abandoned", client = %client_field(self.client));
            self.metrics.login_failed("abandoned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::metrics::State;

    #[test]
    fn an_attempt_dropped_before_its_verdict_is_reported_as_abandoned_and_a_settled_one_is_not() {
        let metrics = Metrics::new();

        drop(Unsettled::new(&metrics, None));
        Unsettled::new(&metrics, Some("192.0.2.7".parse().unwrap())).settle();

        let text = metrics.render(State::default());
        assert!(
            text.contains("sigil_logins_failed_total{reason=\"abandoned\"} 1\n"),
            "{text}"
        );
    }
}
