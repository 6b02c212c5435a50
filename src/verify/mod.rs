//! Verifying sigil's access tokens in another Rust service, offline, with the
//! public keys sigil publishes at `/.well-known/jwks.json`.
//!
//! [`JwksVerifier`] applies every rule of SPEC §3 with the very checks sigil
//! runs on its own tokens ([`Validation`]), using keys built from the JWK Set
//! alone ([`PublicKey::from_jwk`](crate::jose::PublicKey::from_jwk)): key by
//! `kid`, algorithm from the key and never from the header, `typ` `at+jwt`,
//! no `jku`/`x5u`/`jwk`/`crit`, `iss`, `aud`, and `exp`/`nbf`/`iat` with 60 s
//! leeway. JWKs it cannot use (another algorithm, a secret key) are skipped.
//!
//! The set is cached for as long as its `Cache-Control: max-age` says (held
//! between a floor and a ceiling), then revalidated with `If-None-Match`. A
//! token whose `kid` is unknown makes the verifier refetch at most once per
//! cooldown, so keys published after the last fetch are found, while a flood
//! of forged kids cannot turn the verifier against the issuer. When the issuer
//! cannot be reached, the last good set keeps working for at most the maximum
//! staleness ([`DEFAULT_MAX_STALENESS`], 24 h, see
//! [`JwksVerifier::max_staleness`]); after that verification answers
//! [`VerifyError::KeysUnavailable`] rather than trust keys the issuer may have
//! removed.
//!
//! Redirects are followed only within the origin of the JWK Set URL (same
//! scheme, host and port, at most [`MAX_REDIRECTS`]): a redirect elsewhere,
//! or from https to http, is a failed fetch ([`same_origin_redirects`]).
//!
//! Create one verifier per issuer and share it (it is `Send + Sync`; wrap it
//! in an `Arc`):
//!
//! ```no_run
//! use std::sync::Arc;
//! use sigil::verify::{JwksVerifier, VerifyError};
//!
//! # async fn example(bearer_token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Arc::new(JwksVerifier::new(
//!     "https://auth.example.com/.well-known/jwks.json".parse()?,
//!     "https://auth.example.com",
//!     "https://auth.example.com",
//! ));
//!
//! match verifier.verify(bearer_token).await {
//!     Ok(claims) => println!("user {} may {}", claims.sub, claims.scope),
//!     // 401, `WWW-Authenticate: Bearer error="invalid_token"`.
//!     Err(VerifyError::Invalid(why)) => println!("rejected: {why}"),
//!     // 503: the token may be fine, but no key set could be fetched yet.
//!     Err(VerifyError::KeysUnavailable) => println!("try again later"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! This file is a little over 400 lines on purpose: it is the one public type
//! and its whole life (builder, fetch-or-reuse decision, verification), with
//! the cache, the fetch, the origin rules, the middleware and the tests in
//! files of their own.

#![warn(missing_docs)]

mod cache;
mod fetch;
mod origin;
#[cfg(feature = "verify-poem")]
pub mod poem;
#[cfg(any(feature = "verify-tower", feature = "verify-poem"))]
mod refusal;
#[cfg(feature = "verify-tower")]
pub mod tower;

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use chrono::Utc;
use reqwest::Url;
use tokio::sync::{Mutex, MutexGuard};

use self::cache::Snapshot;
use self::fetch::{Fetched, Limits};
use self::origin::is_loopback;
pub use self::origin::same_origin_redirects;
use crate::jose::{AccessClaims, CLOCK_LEEWAY, JwsError, TokenError, Validation};

/// Default least time between two fetches caused by unknown kids.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Default floor on how long a fetched set is used before revalidating.
pub const DEFAULT_MIN_CACHE_LIFETIME: Duration = Duration::from_secs(1);
/// Default ceiling on how long a fetched set is used before revalidating.
pub const DEFAULT_MAX_CACHE_LIFETIME: Duration = Duration::from_secs(3600);
/// Default bound on the size of a fetched JWK Set (sigil's are about 1 KiB).
pub const DEFAULT_MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Default timeout of one fetch, connecting included.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default maximum staleness: how long after the issuer last confirmed its
/// key set the verifier still trusts that set while the issuer cannot be
/// reached.
///
/// 24 hours rides out an issuer outage of a night or a weekend morning
/// without failing every request downstream, while a key the issuer removed
/// (after a leak, say) is trusted for at most a day by a verifier that cannot
/// learn of the removal. While the issuer answers, removed keys go away
/// within the cache ceiling ([`DEFAULT_MAX_CACHE_LIFETIME`]) instead.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(24 * 3600);
/// Most redirects followed for one fetch, all within the JWK Set URL's origin.
pub const MAX_REDIRECTS: usize = 5;

/// Why [`JwksVerifier::verify`] did not return claims. The two variants call
/// for different answers, so callers can tell a bad token from a bad moment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token fails a check of SPEC §3: answer 401 with
    /// `WWW-Authenticate: Bearer error="invalid_token"`. The reason is for
    /// logs only.
    #[error("invalid token: {0}")]
    Invalid(#[from] TokenError),
    /// No JWK Set has been obtained from the issuer, or the last one is older
    /// than the maximum staleness, so the token could not be checked: answer
    /// 503. The token may well be valid.
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable,
}

/// Verifies sigil's access tokens with the keys of a JWK Set fetched over
/// HTTP and cached as its `Cache-Control` allows.
///
/// Named for what it verifies with, a JWK Set at a URL, as opposed to sigil's
/// own `AccessTokens`, which verifies with the private key set it holds.
///
/// Verification takes no lock: it reads an immutable snapshot of the keys.
/// Only fetching is serialized, so concurrent callers never fetch at once.
pub struct JwksVerifier {
    jwks_url: Url,
    validation: Validation,
    client: reqwest::Client,
    cooldown: Duration,
    max_staleness: Duration,
    limits: Limits,
    snapshot: ArcSwap<Snapshot>,
    /// Held while fetching; the guard is the permission to fetch.
    fetching: Mutex<()>,
    fetches: AtomicU64,
    not_modified: AtomicU64,
}

/// What one attempt at verification with a snapshot came to.
enum Checked {
    /// Verified, or refused for a reason a refetch cannot change.
    Done(Result<AccessClaims, VerifyError>),
    /// The token names a kid the snapshot does not hold.
    UnknownKid,
}

impl JwksVerifier {
    /// A verifier for tokens issued by `issuer` (their `iss`) for `audience`
    /// (one of their `aud`), with the keys published at `jwks_url`. Nothing
    /// is fetched until the first verification.
    ///
    /// sigil's audience is `SIGIL_AUDIENCE`, which defaults to its issuer URL.
    ///
    /// # Panics
    ///
    /// As [`reqwest::Client::new`] does, if TLS or the resolver cannot be
    /// initialized.
    pub fn new(jwks_url: Url, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        if jwks_url.scheme() != "https" && !is_loopback(&jwks_url) {
            // Keys fetched over plain HTTP are only as trustworthy as the network.
            tracing::warn!(url = %jwks_url, "the JWK Set URL is not https");
        }
        JwksVerifier {
            jwks_url,
            validation: Validation {
                issuer: issuer.into(),
                audience: audience.into(),
                leeway: CLOCK_LEEWAY,
            },
            client: reqwest::Client::builder()
                .redirect(same_origin_redirects())
                .build()
                .expect("the TLS backend and the resolver initialize"),
            cooldown: DEFAULT_COOLDOWN,
            max_staleness: DEFAULT_MAX_STALENESS,
            limits: Limits {
                timeout: DEFAULT_FETCH_TIMEOUT,
                max_bytes: DEFAULT_MAX_JWKS_BYTES,
                min_lifetime: DEFAULT_MIN_CACHE_LIFETIME,
                max_lifetime: DEFAULT_MAX_CACHE_LIFETIME,
            },
            snapshot: ArcSwap::from_pointee(Snapshot::empty(Instant::now())),
            fetching: Mutex::new(()),
            fetches: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
        }
    }

    /// Least time between the last fetch and a refetch caused by a token with
    /// an unknown kid (default 30 s). Shorter finds new keys sooner; longer
    /// spares the issuer when tokens with forged kids arrive.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Clock leeway on `exp`, `nbf` and `iat` (default 60 s, as sigil uses).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway;
        self
    }

    /// The HTTP client to fetch with, e.g. one with a proxy or extra root
    /// certificates. Each fetch still applies [`JwksVerifier::fetch_timeout`].
    ///
    /// The client's redirect policy applies: build it with
    /// `.redirect(sigil::verify::same_origin_redirects())` to keep the
    /// verifier's guarantee that keys only come from the JWK Set URL's origin.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// Bounds on how long a fetched set is used before it is revalidated,
    /// whatever `Cache-Control` says (defaults 1 s and 1 h). The floor keeps a
    /// server that sends `max-age=0` or `no-store` from causing a fetch per
    /// token; the ceiling bounds how long a key removed from the set is still
    /// trusted. A ceiling below the floor counts as the floor.
    pub fn cache_lifetime(mut self, min: Duration, max: Duration) -> Self {
        self.limits.min_lifetime = min;
        self.limits.max_lifetime = max.max(min);
        self
    }

    /// How long after the issuer last confirmed its key set (a 200 or a 304)
    /// the verifier still trusts that set when it cannot be revalidated
    /// (default [`DEFAULT_MAX_STALENESS`], 24 h). Past it, verification
    /// answers [`VerifyError::KeysUnavailable`] until a fetch succeeds again.
    /// A value below the cache ceiling of [`JwksVerifier::cache_lifetime`]
    /// also shortens how long a set is used before revalidating.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// Largest JWK Set body accepted, in bytes (default 1 MiB); a larger one
    /// is a failed fetch.
    pub fn max_jwks_bytes(mut self, max: usize) -> Self {
        self.limits.max_bytes = max;
        self
    }

    /// Timeout of one fetch, connecting included (default 10 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// Checks `token` against every rule of SPEC §3 and returns its claims.
    ///
    /// Fetches the JWK Set first if there is none yet or it has outlived its
    /// lifetime, and once more (cooldown permitting) if the token names a kid
    /// the set does not hold.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let snapshot = self.current().await;
        match self.check(&snapshot, token) {
            Checked::Done(result) => result,
            Checked::UnknownKid => {
                let Some(newer) = self.refetch_for_unknown_kid(&snapshot).await else {
                    return Err(self.unknown_kid(&snapshot));
                };
                match self.check(&newer, token) {
                    Checked::Done(result) => result,
                    // One retry only: asking again would just fetch again.
                    Checked::UnknownKid => Err(self.unknown_kid(&newer)),
                }
            }
        }
    }

    /// HTTP requests made for the JWK Set so far, whatever their outcome.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Requests the issuer answered with 304 Not Modified.
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    /// The snapshot to verify with, fetching first when it is due.
    async fn current(&self) -> Arc<Snapshot> {
        let snapshot = self.snapshot.load_full();
        if !snapshot.is_due(Instant::now()) {
            return snapshot;
        }
        let trusted = snapshot
            .trusted_keys(Instant::now(), self.max_staleness)
            .is_some();
        let lock = if trusted {
            match self.fetching.try_lock() {
                Ok(lock) => lock,
                // Someone is already revalidating: the keys just went stale,
                // so use them rather than wait on a fetch that may be slow.
                Err(_) => return snapshot,
            }
        } else {
            // Nothing (still) trusted to verify with: waiting is the only
            // way to an answer.
            self.fetching.lock().await
        };
        // Whoever held the lock before may have fetched already.
        let snapshot = self.snapshot.load_full();
        if !snapshot.is_due(Instant::now()) {
            return snapshot;
        }
        self.fetch(&snapshot, &lock).await
    }

    /// A snapshot that may know the kid `seen` did not: one fetched by
    /// someone else since, or a new fetch if the cooldown has passed.
    async fn refetch_for_unknown_kid(&self, seen: &Arc<Snapshot>) -> Option<Arc<Snapshot>> {
        // Checked before taking the lock, so that forged kids in the cooldown
        // cost nothing but this comparison.
        if seen.in_cooldown(Instant::now(), self.cooldown) {
            tracing::debug!("unknown kid within the refetch cooldown");
            return None;
        }
        let lock = self.fetching.lock().await;
        let current = self.snapshot.load_full();
        if !Arc::ptr_eq(&current, seen) {
            // A fetch completed while we waited; its keys are the newest.
            return Some(current);
        }
        Some(self.fetch(&current, &lock).await)
    }

    /// Fetches (or revalidates) the set, stores the resulting snapshot and
    /// returns it. The guard proves the caller holds the fetching lock.
    async fn fetch(&self, current: &Snapshot, _lock: &MutexGuard<'_, ()>) -> Arc<Snapshot> {
        let started = Instant::now();
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // Revalidate only what we hold: a 304 without cached keys is useless.
        let etag = current.keys.as_ref().and(current.etag.as_deref());
        let outcome = fetch::fetch_jwks(&self.client, &self.jwks_url, etag, &self.limits).await;
        let next = match outcome {
            Ok(Fetched::Modified {
                keys,
                etag,
                lifetime,
            }) => {
                tracing::debug!(keys = keys.len(), ?lifetime, "JWK Set fetched");
                Snapshot {
                    keys: Some(keys.into()),
                    etag,
                    refresh_at: started + lifetime.min(self.max_staleness),
                    last_fetch: Some(started),
                    confirmed_at: Some(started),
                }
            }
            Ok(Fetched::NotModified { etag, lifetime }) => {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?lifetime, "JWK Set not modified");
                Snapshot {
                    keys: current.keys.clone(),
                    etag: etag.or_else(|| current.etag.clone()),
                    refresh_at: started + lifetime.min(self.max_staleness),
                    last_fetch: Some(started),
                    confirmed_at: Some(started),
                }
            }
            Err(error) => {
                // With trusted keys in hand there is no hurry: keep them and
                // retry after the cooldown. Without any, retry soon, but
                // never for every token.
                let retry_after = if current.trusted_keys(started, self.max_staleness).is_some() {
                    tracing::warn!(url = %self.jwks_url, %error, "cannot fetch the JWK Set; using the cached one");
                    self.cooldown.max(self.limits.min_lifetime)
                } else {
                    tracing::warn!(url = %self.jwks_url, %error, "cannot fetch the JWK Set; no trusted keys to verify with");
                    self.limits.min_lifetime
                };
                Snapshot {
                    keys: current.keys.clone(),
                    etag: current.etag.clone(),
                    refresh_at: started + retry_after,
                    last_fetch: Some(started),
                    confirmed_at: current.confirmed_at,
                }
            }
        };
        let next = Arc::new(next);
        self.snapshot.store(Arc::clone(&next));
        next
    }

    /// The answer for a kid that is still unknown: invalid if there are
    /// trusted keys it is not among, unavailable if there are none.
    fn unknown_kid(&self, snapshot: &Snapshot) -> VerifyError {
        if snapshot
            .trusted_keys(Instant::now(), self.max_staleness)
            .is_some()
        {
            VerifyError::Invalid(TokenError::Jws(JwsError::UnknownKey))
        } else {
            VerifyError::KeysUnavailable
        }
    }

    /// Verifies with the keys of `snapshot`, noting whether the token named
    /// a kid it does not hold (as opposed to failing before the key lookup,
    /// e.g. a forbidden header or no kid at all, which no refetch can mend).
    fn check(&self, snapshot: &Snapshot, token: &str) -> Checked {
        let asked_unknown = Cell::new(false);
        let keys = snapshot
            .trusted_keys(Instant::now(), self.max_staleness)
            .unwrap_or_default();
        let find_key = |kid: &str| {
            // A linear scan: issuers publish a handful of keys.
            let key = keys.iter().find(|key| key.kid() == kid);
            asked_unknown.set(key.is_none());
            key
        };
        let result = self.validation.verify(token, find_key, Utc::now());
        match result {
            Err(TokenError::Jws(JwsError::UnknownKey)) if asked_unknown.get() => {
                Checked::UnknownKid
            }
            other => Checked::Done(other.map_err(VerifyError::Invalid)),
        }
    }
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are never stored, so none can appear here; keys show as kids.
        let snapshot = self.snapshot.load();
        f.debug_struct("JwksVerifier")
            .field("jwks_url", &self.jwks_url.as_str())
            .field("issuer", &self.validation.issuer)
            .field("audience", &self.validation.audience)
            .field("leeway", &self.validation.leeway)
            .field("cooldown", &self.cooldown)
            .field("max_staleness", &self.max_staleness)
            .field("cached_kids", &snapshot.kids())
            .field("fetches", &self.fetches())
            .field("not_modified", &self.not_modified())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
