//! Building and running the HTTP server.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage as _, HttpServer, web};
use tracing_actix_web::{RequestId, TracingLogger};

use crate::config::Config;
use crate::extract;
use crate::routes;
use crate::state::AppState;
use crate::validate;
use crate::worker;

/// A bound, not yet running, Omni HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    worker: Option<worker::WorkerHandle>,
    grace: std::time::Duration,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and prepares the server; the database
    /// pool is lazy, so this succeeds while PostgreSQL is down.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.http.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http.bind))?;
        let port = listener.local_addr()?.port();
        let workers = config.http.workers;
        let shutdown_timeout = config.http.shutdown_timeout.as_secs();
        let state = web::Data::new(AppState::new(config)?);
        let grace = state.config.http.shutdown_timeout;
        let worker = state.config.worker.enabled.then(|| {
            worker::start(
                state.config.worker.clone(),
                state.config.database.clone(),
                state.jobs.clone(),
                state.messaging.clone(),
                state.triage.clone(),
                grace,
            )
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(extract::json_config())
                .app_data(extract::query_config())
                .app_data(extract::path_config())
                .app_data(validate::payload_config())
                .configure(routes::configure)
                .default_service(web::to(extract::not_found))
                .wrap(from_fn(echo_request_id))
                .wrap(TracingLogger::default())
        })
        // actix-web already stops gracefully on SIGTERM and SIGINT: it stops accepting,
        // lets in-flight requests finish within this timeout, then exits.
        .shutdown_timeout(shutdown_timeout)
        .listen(listener)?;
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            worker,
            grace,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT (or the server handle stops it).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // HTTP has stopped taking requests; now the worker stops taking jobs.
        if let Some(worker) = self.worker {
            worker.shutdown(self.grace).await;
        }
        served
    }
}

/// Returns the request id of the tracing span as `X-Request-Id`, so a client's report of
/// a failure can be matched with the server's log lines; and writes header names in their
/// conventional case (`Content-Type`), since some clients still compare them verbatim.
async fn echo_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    res.response_mut().head_mut().set_camel_case_headers(true);
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}
