//! Liveness and readiness for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Readiness answers within this, even when the database hangs instead of refusing.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What the health probes answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` on a 200.
    #[schema(example = "ok")]
    status: &'static str,
    /// On readiness: `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "ok")]
    database: Option<&'static str>,
}

/// `GET /health/live`: the process runs and serves HTTP.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        database: None,
    })
}

/// `GET /health/ready`: 200 while the database answers a query, 503 while it does not.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready: the database answers", body = Health),
        (status = 503, description = "The database does not answer"),
    ))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Health {
            status: "ok",
            database: Some("ok"),
        })),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::Unavailable(format!(
            "database did not answer within {} ms",
            READY_TIMEOUT.as_millis()
        ))),
    }
}
