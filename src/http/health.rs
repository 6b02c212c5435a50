//! `/healthz` (the process answers) and `/readyz` (it can do its job: the
//! database answers and a signing key is loaded), for load balancers; and
//! `/metrics` for Prometheus.

use std::sync::Arc;

use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::problem::ApiError;
use crate::accounts::Accounts;
use crate::keys::Keyring;
use crate::telemetry::metrics::{Metrics, State};

#[derive(Tags)]
enum Tag {
    /// Liveness, readiness and metrics.
    Health,
}

/// A health answer.
#[derive(Object)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[derive(ApiResponse)]
enum HealthResponse {
    /// Healthy.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[derive(ApiResponse)]
enum MetricsResponse {
    /// The metrics, in OpenMetrics text format (see `metrics::CONTENT_TYPE`).
    #[oai(
        status = 200,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )]
    Ok(PlainText<String>, #[oai(header = "Cache-Control")] String),
}

/// The health and metrics routes.
pub struct HealthApi {
    /// For the database check and the hashing queue.
    pub accounts: Accounts,
    /// For the key check and the active key's age.
    pub keyring: Arc<Keyring>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
}

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// The process is alive.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health {
            status: "ok".into(),
        }))
    }

    /// The database answers and an active signing key is loaded.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self) -> Result<HealthResponse, ApiError> {
        // A KeySet cannot exist without an active key, so holding one is the key check.
        let _active = self.keyring.current().active().kid().to_owned();
        if self.accounts.ready().await {
            Ok(HealthResponse::Ok(Json(Health {
                status: "ok".into(),
            })))
        } else {
            Err(ApiError::unavailable())
        }
    }

    /// Prometheus metrics.
    ///
    /// Requests by route and status, latency, tokens issued, failed logins,
    /// refresh reuse, key reloads, active key age, hashing queue, hashes
    /// computed and skipped.
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self) -> MetricsResponse {
        let keys = self.keyring.current();
        let meta = keys.active().meta();
        let since = meta.activated_at.unwrap_or(meta.created_at);
        let age = (chrono::Utc::now() - since).num_milliseconds().max(0) as f64 / 1000.0;
        let hashing = self.accounts.hashing_load();
        let text = self.metrics.render(State {
            active_key_age_seconds: age,
            hashes_running: hashing.running,
            hashes_waiting: hashing.waiting,
            hashes_computed: hashing.computed,
            hashes_skipped: hashing.skipped,
        });
        MetricsResponse::Ok(PlainText(text), "no-store".to_owned())
    }
}
