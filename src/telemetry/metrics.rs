//! Metrics for Prometheus: one [`Metrics`] per server, no global registry, so
//! every test server counts only its own requests.
//!
//! Counters are bumped where things happen (the request middleware, the
//! account service, the key reloader); gauges that describe a state (the age
//! of the active key, the hashing queue) are read when `/metrics` is scraped.
//! The exposition is OpenMetrics text, which Prometheus scrapes natively.
//!
//! A counter whose labels come from a fixed set ([`ALGORITHMS`],
//! [`LOGIN_FAILURE_REASONS`], [`RELOAD_OUTCOMES`]) has every series at 0
//! from start-up: a series that appears only at its first event leaves
//! `rate()` and alerts on it blind until then.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `alg` labels of `sigil_tokens_issued_total`.
pub const ALGORITHMS: &[&str] = &["RS256", "EdDSA"];

/// The `reason` labels of `sigil_logins_failed_total`.
pub const LOGIN_FAILURE_REASONS: &[&str] =
    &["bad_credentials", "throttled", "abandoned", "bad_client"];

/// The `outcome` labels of `sigil_key_reloads_total`.
pub const RELOAD_OUTCOMES: &[&str] = &["ok", "error"];

/// Content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

/// Labels of a request's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Labels of an issued access token.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgLabels {
    alg: &'static str,
}

/// Labels of a key reload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Labels of a failed login.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Buckets from 0.5 ms to about 16 s, doubling: token checks live at the
/// bottom, argon2 logins in the middle, a stalled database at the top.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric sigil exposes.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens_issued: Family<AlgLabels, Counter>,
    logins_failed: Family<ReasonLabels, Counter>,
    refresh_reuse: Counter,
    key_reloads: Family<OutcomeLabels, Counter>,
    active_key_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    hashes_running: Gauge,
    hashes_waiting: Gauge,
    hashes_computed: Counter,
    hashes_skipped: Counter,
    key_notifications: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sigil");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer, by route",
            Unit::Seconds,
            latency.clone(),
        );
        let tokens_issued = Family::<AlgLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Access tokens signed, by algorithm",
            tokens_issued.clone(),
        );
        let logins_failed = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "logins_failed",
            "Logins refused: bad_credentials (unknown email, wrong password, disabled user), throttled, abandoned (the client left while its password was checked), or bad_client (a confidential client failed to authenticate)",
            logins_failed.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "refresh_reuse_detected",
            "Used-up refresh tokens presented again (each revoked its family)",
            refresh_reuse.clone(),
        );
        let key_reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "key_reloads",
            "Reloads of the key set (keys folder or database) that swapped in a new set (ok) or failed (error)",
            key_reloads.clone(),
        );
        let active_key_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "active_key_age",
            "Time since the active signing key was activated",
            Unit::Seconds,
            active_key_age.clone(),
        );
        let hashes_running = Gauge::default();
        registry.register(
            "password_hashes_running",
            "Password hashes being computed now",
            hashes_running.clone(),
        );
        let hashes_waiting = Gauge::default();
        registry.register(
            "password_hashes_waiting",
            "Password hashes queued for a worker (the queue that overflows into 503)",
            hashes_waiting.clone(),
        );
        let hashes_computed = Counter::default();
        registry.register(
            "password_hashes",
            "Password hashes computed (logins, registrations, upgrades)",
            hashes_computed.clone(),
        );
        let hashes_skipped = Counter::default();
        registry.register(
            "password_hashes_skipped",
            "Password hashes not computed because the client had gone before a worker took them",
            hashes_skipped.clone(),
        );
        let key_notifications = Gauge::default();
        registry.register(
            "key_notifications_connected",
            "1 while the database key store's change notifications (LISTEN) are connected; \
             0 otherwise (polling then finds changes within a second), and always 0 with the keys folder",
            key_notifications.clone(),
        );
        // Every known series exists from the start, at 0 (see the module docs).
        for &alg in ALGORITHMS {
            drop(tokens_issued.get_or_create(&AlgLabels { alg }));
        }
        for &reason in LOGIN_FAILURE_REASONS {
            drop(logins_failed.get_or_create(&ReasonLabels { reason }));
        }
        for &outcome in RELOAD_OUTCOMES {
            drop(key_reloads.get_or_create(&OutcomeLabels { outcome }));
        }
        Metrics {
            registry,
            requests,
            latency,
            tokens_issued,
            logins_failed,
            refresh_reuse,
            key_reloads,
            active_key_age,
            hashes_running,
            hashes_waiting,
            hashes_computed,
            hashes_skipped,
            key_notifications,
        }
    }

    /// Whether the key store's change notifications are connected.
    pub fn key_notifications_connected(&self, connected: bool) {
        self.key_notifications.set(i64::from(connected));
    }

    /// Counts a request answered with `status` after `seconds`. `route` is
    /// the template of the route it matched, or one label for every unknown
    /// path: the HTTP layer, which knows its routes, chooses it from a
    /// bounded set.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts an access token signed with `alg`, one of [`ALGORITHMS`].
    pub fn token_issued(&self, alg: &'static str) {
        debug_assert!(ALGORITHMS.contains(&alg), "unlisted alg {alg}");
        self.tokens_issued.get_or_create(&AlgLabels { alg }).inc();
    }

    /// Counts a refused login; `reason` is one of [`LOGIN_FAILURE_REASONS`].
    pub fn login_failed(&self, reason: &'static str) {
        debug_assert!(
            LOGIN_FAILURE_REASONS.contains(&reason),
            "unlisted reason {reason}"
        );
        self.logins_failed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a detected refresh-token reuse.
    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse.inc();
    }

    /// Counts a key reload that swapped a set in (`ok`) or failed (`error`).
    pub fn key_reload(&self, outcome: &'static str) {
        debug_assert!(
            RELOAD_OUTCOMES.contains(&outcome),
            "unlisted outcome {outcome}"
        );
        self.key_reloads
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The exposition, with the state gauges set from the given readings.
    pub fn render(&self, state: State) -> String {
        self.active_key_age.set(state.active_key_age_seconds);
        self.hashes_running
            .set(i64::try_from(state.hashes_running).unwrap_or(i64::MAX));
        self.hashes_waiting
            .set(i64::try_from(state.hashes_waiting).unwrap_or(i64::MAX));
        // The hasher counts; the counters take its totals. `fetch_max`: two
        // scrapes at once never move a counter backwards.
        self.hashes_computed
            .inner()
            .fetch_max(state.hashes_computed, Ordering::Relaxed);
        self.hashes_skipped
            .inner()
            .fetch_max(state.hashes_skipped, Ordering::Relaxed);
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// What the gauges show, read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct State {
    /// Seconds since the active key was activated.
    pub active_key_age_seconds: f64,
    /// Hashes being computed.
    pub hashes_running: usize,
    /// Hashes waiting for a worker.
    pub hashes_waiting: usize,
    /// Hashes computed since start.
    pub hashes_computed: u64,
    /// Hashes skipped since start because their client had gone.
    pub hashes_skipped: u64,
}

/// The method label: the standard methods by name, anything else `other`,
/// since a client may send any token as a method and each new label value
/// would be a new series kept for ever.
fn method_label(method: &str) -> &'static str {
    const METHODS: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_series() {
        let metrics = Metrics::new();
        for method in ["BREW", "PROPFIND", "X-ANYTHING"] {
            metrics.request("other", method, 405, 0.001);
        }

        let text = metrics.render(State::default());

        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("sigil_http_requests_total"))
            .collect();
        assert_eq!(
            series,
            [r#"sigil_http_requests_total{route="other",method="other",status="405"} 3"#]
        );
    }

    #[test]
    fn every_series_of_a_fixed_label_set_is_there_at_zero_before_any_event() {
        let text = Metrics::new().render(State::default());

        let zero = |metric: &str, label: &str, values: &[&str]| {
            for value in values {
                let line = format!(r#"{metric}{{{label}="{value}"}} 0"#);
                assert!(
                    text.lines().any(|l| l == line),
                    "missing {line:?} in\n{text}"
                );
            }
        };
        zero("sigil_tokens_issued_total", "alg", ALGORITHMS);
        zero("sigil_logins_failed_total", "reason", LOGIN_FAILURE_REASONS);
        zero("sigil_key_reloads_total", "outcome", RELOAD_OUTCOMES);
    }

    #[test]
    fn the_exposition_names_every_metric_and_ends_with_eof() {
        let metrics = Metrics::new();
        metrics.request("/me", "GET", 200, 0.002);
        metrics.token_issued("EdDSA");
        metrics.login_failed("bad_credentials");
        metrics.refresh_reuse_detected();
        metrics.key_reload("ok");

        let text = metrics.render(State {
            active_key_age_seconds: 12.5,
            hashes_running: 1,
            hashes_waiting: 3,
            hashes_computed: 7,
            hashes_skipped: 2,
        });

        for line in [
            r#"sigil_http_requests_total{route="/me",method="GET",status="200"} 1"#,
            r#"sigil_http_request_duration_seconds_count{route="/me"} 1"#,
            r#"sigil_tokens_issued_total{alg="EdDSA"} 1"#,
            r#"sigil_logins_failed_total{reason="bad_credentials"} 1"#,
            "sigil_refresh_reuse_detected_total 1",
            r#"sigil_key_reloads_total{outcome="ok"} 1"#,
            "sigil_active_key_age_seconds 12.5",
            "sigil_password_hashes_running 1",
            "sigil_password_hashes_waiting 3",
            "sigil_password_hashes_total 7",
            "sigil_password_hashes_skipped_total 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
