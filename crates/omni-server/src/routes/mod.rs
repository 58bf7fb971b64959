//! HTTP routes, one module per resource.

pub mod health;

use actix_web::web;

/// Mounts every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/health")
            .route("/live", web::get().to(health::live))
            .route("/ready", web::get().to(health::ready)),
    );
}
