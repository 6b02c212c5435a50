//! What the verifier remembers between fetches: one immutable [`Snapshot`] of
//! the issuer's keys, replaced whole after every fetch, how long the issuer's
//! `Cache-Control` lets it be used before revalidating, and how long it may
//! still be trusted when the issuer cannot be reached (the maximum staleness).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap};

use crate::jose::PublicKey;

/// The keys as of the last fetch, with the cache state that decides the next
/// one. Never changed in place: the verifier swaps in a new snapshot, so a
/// verification always sees one consistent set.
pub(super) struct Snapshot {
    /// Keys of the last good JWK Set; `None` until one has been fetched.
    pub keys: Option<Arc<[PublicKey]>>,
    /// `ETag` of that set, sent back as `If-None-Match` to revalidate it.
    pub etag: Option<String>,
    /// When a verification should fetch again: at the end of the set's
    /// lifetime, or when to retry after a failed fetch.
    pub refresh_at: Instant,
    /// When the last request started, whatever its outcome. The cooldown on
    /// refetching for unknown kids counts from here.
    pub last_fetch: Option<Instant>,
    /// When the issuer last confirmed `keys` as current (a 200 that sent
    /// them or a 304 that kept them). The maximum staleness counts from here.
    pub confirmed_at: Option<Instant>,
}

impl Snapshot {
    /// No keys yet, and due for a fetch right away.
    pub fn empty(now: Instant) -> Snapshot {
        Snapshot {
            keys: None,
            etag: None,
            refresh_at: now,
            last_fetch: None,
            confirmed_at: None,
        }
    }

    /// The keys, unless the issuer last confirmed them `max_staleness` ago or
    /// longer: a set nobody could revalidate for that long may hold keys the
    /// issuer has since removed, perhaps because they leaked.
    pub fn trusted_keys(&self, now: Instant, max_staleness: Duration) -> Option<&[PublicKey]> {
        let confirmed_at = self.confirmed_at?;
        if now.saturating_duration_since(confirmed_at) >= max_staleness {
            return None;
        }
        self.keys.as_deref()
    }

    /// Whether the set has outlived its lifetime (or a retry is due).
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.refresh_at
    }

    /// Whether the last request started less than `cooldown` ago.
    pub fn in_cooldown(&self, now: Instant, cooldown: Duration) -> bool {
        self.last_fetch
            .is_some_and(|at| now.saturating_duration_since(at) < cooldown)
    }

    /// The kids held, for `Debug`.
    pub fn kids(&self) -> Vec<&str> {
        self.keys
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(PublicKey::kid)
            .collect()
    }
}

/// How long a response lets the set be used before revalidating it: its
/// `max-age` less its `Age` (time already spent in caches on the way), held
/// within `floor..=ceiling`. `no-store`, `no-cache`, or no usable `max-age`
/// give the floor, so a server cannot make the verifier fetch for every token,
/// and the ceiling bounds how long a removed key can still be trusted.
pub(super) fn lifetime(headers: &HeaderMap, floor: Duration, ceiling: Duration) -> Duration {
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok());
    let age = headers
        .get(AGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let seconds = max_age(directives).map_or(0, |max_age| max_age.saturating_sub(age));
    Duration::from_secs(seconds).clamp(floor, ceiling.max(floor))
}

/// The `max-age` of `Cache-Control` header values in seconds, or `None` when
/// they forbid reuse without revalidation or give no usable `max-age`.
fn max_age<'a>(values: impl Iterator<Item = &'a str>) -> Option<u64> {
    let mut found = None;
    for directive in values.flat_map(|value| value.split(',')) {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return None;
        }
        if name.eq_ignore_ascii_case("max-age") && found.is_none() {
            found = argument.and_then(delta_seconds);
        }
    }
    found
}

/// RFC 9111 §1.2.2: digits only; a value too large to represent counts as
/// "very long" rather than invalid.
fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: Duration = Duration::from_secs(1);
    const CEILING: Duration = Duration::from_secs(3600);

    fn lifetime_of(pairs: &[(&'static str, &'static str)]) -> Duration {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        lifetime(&headers, FLOOR, CEILING)
    }

    #[test]
    fn max_age_sets_the_lifetime() {
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            lifetime_of(&[("cache-control", "public, max-age=300")]),
            secs(300)
        );
        assert_eq!(
            lifetime_of(&[("cache-control", "Max-Age=\"120\"")]),
            secs(120)
        );
        assert_eq!(
            lifetime_of(&[("cache-control", "public"), ("cache-control", "max-age=60")]),
            secs(60)
        );
    }

    #[test]
    fn time_already_spent_in_caches_is_subtracted() {
        let headers = [("cache-control", "max-age=300"), ("age", "100")];
        assert_eq!(lifetime_of(&headers), Duration::from_secs(200));
    }

    #[test]
    fn no_store_no_cache_zero_absent_or_garbage_give_the_floor() {
        for value in [
            "no-store",
            "max-age=300, no-cache",
            "max-age=0",
            "max-age=-5",
            "max-age=",
            "private",
        ] {
            assert_eq!(lifetime_of(&[("cache-control", value)]), FLOOR, "{value}");
        }
        assert_eq!(lifetime_of(&[]), FLOOR);
    }

    #[test]
    fn huge_max_ages_are_held_to_the_ceiling() {
        for value in ["max-age=86400", "max-age=99999999999999999999999"] {
            assert_eq!(lifetime_of(&[("cache-control", value)]), CEILING, "{value}");
        }
    }

    #[test]
    fn keys_are_trusted_until_the_maximum_staleness_since_the_issuer_confirmed_them() {
        let confirmed = Instant::now();
        let staleness = Duration::from_secs(3600);
        let snapshot = Snapshot {
            keys: Some(Vec::new().into()),
            confirmed_at: Some(confirmed),
            ..Snapshot::empty(confirmed)
        };

        let fresh = snapshot.trusted_keys(confirmed, staleness);
        let just_before =
            snapshot.trusted_keys(confirmed + staleness - Duration::from_millis(1), staleness);
        let at_the_limit = snapshot.trusted_keys(confirmed + staleness, staleness);
        let long_after = snapshot.trusted_keys(confirmed + 10 * staleness, staleness);

        assert!(fresh.is_some());
        assert!(just_before.is_some());
        assert!(at_the_limit.is_none());
        assert!(long_after.is_none());
        assert!(
            Snapshot::empty(confirmed)
                .trusted_keys(confirmed, staleness)
                .is_none()
        );
    }

    #[test]
    fn the_cooldown_counts_from_the_last_request() {
        let now = Instant::now();
        let mut snapshot = Snapshot::empty(now);
        assert!(!snapshot.in_cooldown(now, Duration::from_secs(30)));
        snapshot.last_fetch = Some(now);
        assert!(snapshot.in_cooldown(now + Duration::from_secs(29), Duration::from_secs(30)));
        assert!(!snapshot.in_cooldown(now + Duration::from_secs(30), Duration::from_secs(30)));
    }
}
