//! `/healthz` (the process answers) and `/readyz` (it can do its job: the
//! database answers and a signing key is loaded), for load balancers.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::problem::ApiError;
use crate::accounts::Accounts;
use crate::keys::Keyring;

#[derive(Tags)]
enum Tag {
    /// Liveness and readiness.
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

/// The health routes.
pub struct HealthApi {
    /// For the database check.
    pub accounts: Accounts,
    /// For the key check.
    pub keyring: Arc<Keyring>,
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
}
