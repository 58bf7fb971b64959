//! `GET /metrics`: Prometheus text exposition of what operators watch today — triage
//! engines, the job queue and the database pool. (Request metrics come with the
//! operability issue.)

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::hub::Hub;
use crate::state::AppState;

/// The metrics, in Prometheus' text format.
pub async fn metrics(
    state: web::Data<AppState>,
    state_hub: web::Data<Arc<Hub>>,
) -> Result<HttpResponse, ApiError> {
    let mut out = crate::telemetry::metrics_handle()
        .map(|h| h.render())
        .unwrap_or_default();
    let triage = omni_vera::triage_stats();
    let _ = writeln!(
        out,
        "# HELP omni_triage_answers_total Triage results by the engine that answered."
    );
    let _ = writeln!(out, "# TYPE omni_triage_answers_total counter");
    let _ = writeln!(
        out,
        "omni_triage_answers_total{{engine=\"builtin\"}} {}",
        triage.builtin
    );
    let _ = writeln!(
        out,
        "omni_triage_answers_total{{engine=\"vera\"}} {}",
        triage.vera
    );
    let _ = writeln!(
        out,
        "# HELP omni_triage_vera_failures_total Times Vera AI failed and the built-in engine answered."
    );
    let _ = writeln!(out, "# TYPE omni_triage_vera_failures_total counter");
    let _ = writeln!(
        out,
        "omni_triage_vera_failures_total {}",
        triage.vera_failures
    );

    let (size, idle) = state.db.pool_status();
    let _ = writeln!(
        out,
        "# HELP omni_db_pool_connections Database connections by state."
    );
    let _ = writeln!(out, "# TYPE omni_db_pool_connections gauge");
    let _ = writeln!(out, "omni_db_pool_connections{{state=\"idle\"}} {idle}");
    let _ = writeln!(
        out,
        "omni_db_pool_connections{{state=\"in_use\"}} {}",
        size.saturating_sub(idle)
    );

    let hub = &state_hub.stats;
    let _ = writeln!(
        out,
        "# HELP omni_ws_connections WebSocket connections open on this instance."
    );
    let _ = writeln!(out, "# TYPE omni_ws_connections gauge");
    let _ = writeln!(
        out,
        "omni_ws_connections {}",
        hub.connected.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP omni_ws_events_delivered_total Event frames sent to WebSocket clients."
    );
    let _ = writeln!(out, "# TYPE omni_ws_events_delivered_total counter");
    let _ = writeln!(
        out,
        "omni_ws_events_delivered_total {}",
        hub.delivered.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP omni_ws_slow_consumers_closed_total Connections closed for not keeping up."
    );
    let _ = writeln!(out, "# TYPE omni_ws_slow_consumers_closed_total counter");
    let _ = writeln!(
        out,
        "omni_ws_slow_consumers_closed_total {}",
        hub.slow_closed.load(Ordering::Relaxed)
    );

    // The queue's state is shared by every instance; a database outage leaves it out.
    if let Ok(counts) = state.jobs.counts().await {
        let _ = writeln!(
            out,
            "# HELP omni_jobs Jobs in the durable queue by kind and status."
        );
        let _ = writeln!(out, "# TYPE omni_jobs gauge");
        for (kind, status, n) in counts {
            let _ = writeln!(out, "omni_jobs{{kind=\"{kind}\",status=\"{status}\"}} {n}");
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}
