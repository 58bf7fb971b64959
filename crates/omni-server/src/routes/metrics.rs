//! `GET /metrics`: Prometheus text exposition. Request, webhook and job counters come from
//! the `metrics` recorder; the figures other parts keep themselves (triage engines,
//! WebSocket hub, pool, job queue) are appended here.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::hub::Hub;
use crate::state::AppState;

/// Writes one metric family: its help, its type and its samples (`labels`, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// The metrics, in Prometheus' text format, on the API listener: only when the operator
/// set `OMNI_METRICS__TOKEN`, and only to that bearer token (404 otherwise). The metrics
/// listener (`OMNI_METRICS__BIND`) serves them without a token.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 404, description = "Metrics are not served on this listener (no OMNI_METRICS__TOKEN)"),
    ))]
pub async fn metrics(
    state: web::Data<AppState>,
    hub: web::Data<Arc<Hub>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(expected) = &state.config.metrics.token else {
        return Err(ApiError::NotFound);
    };
    let given = crate::auth::bearer_token(&req)?;
    let matches: bool = given.as_bytes().ct_eq(expected.expose().as_bytes()).into();
    if !matches {
        return Err(ApiError::Unauthorized("the metrics token is wrong".into()));
    }
    scrape(state, hub).await
}

/// `GET /metrics` on the metrics listener.
pub async fn scrape(
    state: web::Data<AppState>,
    hub: web::Data<Arc<Hub>>,
) -> Result<HttpResponse, ApiError> {
    let mut out = crate::telemetry::metrics_handle()
        .map(|h| h.render())
        .unwrap_or_default();
    let triage = omni_vera::triage_stats();
    family(
        &mut out,
        "omni_triage_answers_total",
        "counter",
        "Triage results by the engine that answered.",
        &[
            ("{engine=\"builtin\"}", triage.builtin.to_string()),
            ("{engine=\"vera\"}", triage.vera.to_string()),
        ],
    );
    family(
        &mut out,
        "omni_triage_vera_failures_total",
        "counter",
        "Times Vera AI failed and the built-in engine answered.",
        &[("", triage.vera_failures.to_string())],
    );
    let (size, idle) = state.db.pool_status();
    family(
        &mut out,
        "omni_db_pool_connections",
        "gauge",
        "Database connections by state.",
        &[
            ("{state=\"idle\"}", idle.to_string()),
            ("{state=\"in_use\"}", size.saturating_sub(idle).to_string()),
        ],
    );
    let stats = &hub.stats;
    for (name, kind, help, value) in [
        (
            "omni_ws_connections",
            "gauge",
            "WebSocket connections open on this instance.",
            stats.connected.load(Ordering::Relaxed).to_string(),
        ),
        (
            "omni_ws_events_delivered_total",
            "counter",
            "Event frames sent to WebSocket clients.",
            stats.delivered.load(Ordering::Relaxed).to_string(),
        ),
        (
            "omni_ws_slow_consumers_closed_total",
            "counter",
            "Connections closed for not keeping up.",
            stats.slow_closed.load(Ordering::Relaxed).to_string(),
        ),
    ] {
        family(&mut out, name, kind, help, &[("", value)]);
    }
    // The queue's state is shared by every instance; a database outage leaves it out.
    if let Ok(counts) = state.jobs.counts().await {
        let samples: Vec<(String, String)> = counts
            .into_iter()
            .map(|c| {
                (
                    format!("{{kind=\"{}\",status=\"{}\"}}", c.kind, c.status),
                    c.count.to_string(),
                )
            })
            .collect();
        let borrowed: Vec<(&str, String)> = samples
            .iter()
            .map(|(l, v)| (l.as_str(), v.clone()))
            .collect();
        family(
            &mut out,
            "omni_jobs",
            "gauge",
            "Jobs in the durable queue by kind and status.",
            &borrowed,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}
