//! Liveness and readiness for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// Readiness answers within this, even when the database hangs instead of refusing.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health/live`: the process runs and serves HTTP.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /health/ready`: 200 while the database answers a query, 503 while it does not.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"}))),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::Unavailable(format!(
            "database did not answer within {} ms",
            READY_TIMEOUT.as_millis()
        ))),
    }
}
