//! Building and running the HTTP server.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage as _, HttpServer, web};
use std::sync::Arc;

use actix_cors::Cors;
use omni_store_postgres::{PgEventLog, PgUserRepository};
use tokio::sync::watch;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::hub::Hub;

use crate::config::Config;
use crate::extract;
use crate::routes;
use crate::state::AppState;
use crate::validate;
use crate::worker;

/// A bound, not yet running, Omni HTTP server.
pub struct Application {
    port: u16,
    metrics_port: u16,
    server: Server,
    metrics_server: Server,
    worker: Option<worker::WorkerHandle>,
    grace: std::time::Duration,
    stop_hub: watch::Sender<bool>,
    hub: Arc<Hub>,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and prepares the server; the database
    /// pool is lazy, so this succeeds while PostgreSQL is down.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        crate::telemetry::metrics_handle();
        let listener = TcpListener::bind(config.http.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http.bind))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = TcpListener::bind(config.metrics.bind).map_err(|e| {
            anyhow::anyhow!("cannot listen for metrics on {}: {e}", config.metrics.bind)
        })?;
        let metrics_port = metrics_listener.local_addr()?.port();
        let workers = config.http.workers;
        let shutdown_timeout = config.http.shutdown_timeout.as_secs();
        let state = web::Data::new(AppState::new(config)?);
        let grace = state.config.http.shutdown_timeout;
        let worker = state.config.worker.enabled.then(|| {
            worker::start(
                state.config.worker.clone(),
                state.config.database.clone(),
                state.jobs.clone(),
                state.job_handler.clone(),
                grace,
            )
        });
        let log: Arc<dyn omni_core::EventLog> = Arc::new(PgEventLog::new(state.db.clone()));
        let hub = Arc::new(Hub::new(log.clone(), state.config.ws.queue_size));
        let (stop_hub, hub_stopped) = watch::channel(false);
        tokio::spawn(
            hub.clone()
                .run(state.config.database.clone(), hub_stopped.clone()),
        );
        if state.config.worker.enabled {
            tokio::spawn(upkeep(
                Upkeep {
                    log,
                    users: PgUserRepository::new(state.db.clone()),
                    jobs: state.jobs.clone(),
                    retention: state.config.ws.retention,
                    job_retention: state.config.worker.finished_job_retention,
                    messaging: state.messaging.clone(),
                    upload_retention: state.config.worker.upload_retention,
                },
                hub_stopped,
            ));
        }
        if state.config.worker.enabled {
            tokio::spawn(keep_reports_up(state.reports.clone(), stop_hub.subscribe()));
        }
        let hub_data = web::Data::new(hub.clone());
        // Prometheus scrapes its own listener, kept off the public network by default: the
        // API listener serves /metrics only to the operator's token.
        let metrics_server = {
            let state = state.clone();
            let hub_data = hub_data.clone();
            HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .app_data(hub_data.clone())
                    .route("/metrics", web::get().to(routes::metrics::scrape))
                    .default_service(web::to(extract::not_found))
            })
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .listen(metrics_listener)?
            .run()
        };
        let origins = state.config.cors_allowed_origins.clone();
        let hsts = state.config.http.public_base_url.starts_with("https://");
        {
            // Forget limiter keys that have recovered, so memory follows active attackers.
            let state = state.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    every.tick().await;
                    state.limits.shrink();
                }
            });
        }
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(hub_data.clone())
                .app_data(extract::json_config())
                .app_data(extract::query_config())
                .app_data(extract::path_config())
                .app_data(validate::payload_config())
                .configure(routes::configure)
                .configure(routes::console::configure)
                .service(routes::docs::swagger_ui())
                .route("/docs", web::get().to(routes::docs::to_ui))
                .default_service(web::to(extract::not_found))
                .wrap(from_fn(move |req, next| response_headers(req, next, hsts)))
                .wrap(cors(&origins))
                .wrap(TracingLogger::<crate::span::OmniRootSpan>::new())
        })
        // actix-web already stops gracefully on SIGTERM and SIGINT: it stops accepting,
        // lets in-flight requests finish within this timeout, then exits.
        .shutdown_timeout(shutdown_timeout)
        // Signals are ours (see `run_until_stopped`): WebSockets must be told to go away
        // before the server waits for its connections to end.
        .disable_signals()
        // A client that does not finish sending its request head in time is dropped; idle
        // keep-alive connections are closed; the number of connections per worker is capped.
        .client_request_timeout(std::time::Duration::from_secs(10))
        .keep_alive(std::time::Duration::from_secs(75))
        .max_connections(10_000)
        .listen(listener)?;
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            metrics_port,
            metrics_server,
            server: server.run(),
            worker,
            grace,
            stop_hub,
            hub,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port the metrics listener listens on.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// Serves until SIGTERM/SIGINT (or the server handle stops it).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let metrics_handle = self.metrics_server.handle();
        let metrics_stop = metrics_handle.clone();
        tokio::spawn(self.metrics_server);
        let hub = self.hub.clone();
        let stop_hub = self.stop_hub.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing WebSockets, finishing requests and jobs");
            // WebSockets would otherwise hold the graceful stop for its whole timeout.
            let _ = stop_hub.send(true);
            hub.close_all();
            handle.stop(true).await;
            metrics_handle.stop(false).await;
        });
        let served = self.server.await;
        metrics_stop.stop(false).await;
        // HTTP has stopped taking requests; now the worker stops taking jobs.
        if let Some(worker) = self.worker {
            worker.shutdown(self.grace).await;
        }
        let _ = self.stop_hub.send(true);
        served
    }
}

/// The method as a metric label: the standard ones by name, anything else as `OTHER`, so
/// that a client inventing methods cannot grow the series without bound.
fn method_label(method: &actix_web::http::Method) -> String {
    use actix_web::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if known.contains(method) {
        method.as_str().to_owned()
    } else {
        "OTHER".to_owned()
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// What the hourly upkeep prunes.
struct Upkeep {
    log: Arc<dyn omni_core::EventLog>,
    users: PgUserRepository,
    jobs: Arc<dyn omni_messaging::JobQueue>,
    retention: std::time::Duration,
    job_retention: std::time::Duration,
    messaging: omni_messaging::MessagingService,
    upload_retention: std::time::Duration,
}

/// Prunes events older than the retention, finished jobs, expired token revocations and
/// WebSocket tickets, and uploads past theirs, hourly (the first run a minute after start).
async fn upkeep(upkeep: Upkeep, mut stopped: watch::Receiver<bool>) {
    let Upkeep {
        log,
        users,
        jobs,
        retention,
        job_retention,
        messaging,
        upload_retention,
    } = upkeep;
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(3600),
    );
    loop {
        tokio::select! {
            _ = every.tick() => {
                match log.prune(retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned old events"),
                    Err(e) => tracing::warn!(error = %e, "could not prune events"),
                }
                if let Err(e) = users.prune_expired_sessions().await {
                    tracing::warn!(error = %e, "could not prune expired sessions");
                }
                match jobs.prune_finished(job_retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned finished jobs"),
                    Err(e) => tracing::warn!(error = %e, "could not prune finished jobs"),
                }
                match messaging.prune_uploads(upload_retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned old uploads"),
                    Err(e) => tracing::warn!(error = %e, "could not prune old uploads"),
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

/// How often the reports' tallies catch up with tickets' history.
const REPORTS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Facts settled per transaction.
const REPORTS_BATCH: usize = 5_000;

/// Counts tickets' facts into the reports' tallies every few seconds, and recounts the
/// companies whose settings changed what reports count by. Several instances may run it
/// at once: facts are claimed with `SKIP LOCKED`, a company's tallies under its lock.
async fn keep_reports_up(
    reports: Arc<omni_reports::ReportService>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(REPORTS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => match reports.keep_up(REPORTS_BATCH).await {
                Ok((0, 0)) => {}
                Ok((settled, recounted)) => {
                    tracing::debug!(settled, recounted, "reports' tallies caught up");
                }
                Err(e) => tracing::warn!(error = %e, "could not update the reports' tallies"),
            },
            _ = stopped.changed() => return,
        }
    }
}

/// CORS for the configured agent-UI origins only (none: no cross-origin calls). Bearer
/// tokens, not cookies, so no credentials are allowed.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            actix_web::http::header::RETRY_AFTER,
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Returns the request id of the tracing span as `X-Request-Id`, so a client's report of
/// a failure can be matched with the server's log lines; adds the security headers an API
/// should send; and writes header names in their conventional case (`Content-Type`), since
/// some clients still compare them verbatim.
async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
    hsts: bool,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    // The Swagger UI is the one HTML page: it needs its own scripts, styles and images.
    let csp = if req.path().starts_with("/docs") {
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    let method = method_label(req.method());
    let started = std::time::Instant::now();
    let mut res = next.call(req).await?;
    // By route pattern, not path: `/tickets/{id}` is one series, whatever the ids.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16().to_string();
    metrics::histogram!("omni_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone(), "status" => status.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("omni_http_requests_total", "method" => method, "route" => route, "status" => status).increment(1);
    res.response_mut().head_mut().set_camel_case_headers(true);
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    let headers = res.headers_mut();
    // A route with a stricter policy of its own (a customer's file, sandboxed) keeps it.
    if !headers.contains_key(actix_web::http::header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            actix_web::http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if hsts {
        headers.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}
