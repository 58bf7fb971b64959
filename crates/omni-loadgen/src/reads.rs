//! `reads`: agents' `GET /tickets` first pages with the filters agent UIs use, at a rate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::{Fixture, get_ok, http_client};
use crate::stats::{Latencies, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    #[arg(long, default_value = "target/bench/fixture.json")]
    pub fixture: PathBuf,
    /// Requests per second in all.
    #[arg(long, default_value_t = 500.0, value_parser = crate::args::rate)]
    pub rate: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Concurrent connections sharing the rate.
    #[arg(long, default_value_t = 16, value_parser = crate::args::count)]
    pub connections: usize,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What an agent UI asks for most: the queue, by status, by priority, their own, unassigned,
/// and the second page.
const QUERIES: &[&str] = &[
    "limit=50",
    "status=open&limit=50",
    "status=new,open,pending&limit=50",
    "priority=urgent,high&limit=50",
    "assigned_to=none&status=new&limit=50",
    "assigned_to=me&limit=50",
    "category=billing&limit=50",
];

pub async fn run(args: ReadArgs) -> anyhow::Result<Report> {
    let fixture = Arc::new(Fixture::load(&args.fixture)?);
    let http = http_client(args.connections, Duration::from_secs(10))?;
    let pace = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    let connections = args.connections;
    for worker in 0..connections {
        let (fixture, http) = (fixture.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::new()?;
            let (mut errors, mut first_error) = (0u64, None::<String>);
            // Workers start spread over one period, not all at once.
            let mut next = Instant::now() + pace.mul_f64(worker as f64 / connections as f64);
            let mut i = worker;
            while next < deadline {
                tokio::time::sleep_until(next.into()).await;
                next += pace;
                let company = &fixture.companies[i % fixture.companies.len()];
                let query = QUERIES[i % QUERIES.len()];
                i += 7;
                let sent = Instant::now();
                let url = format!("{}/tickets?{query}", fixture.base_url);
                let ok = get_ok(&http, &url, &company.admin_token, b"{\"data\":[").await;
                match ok {
                    Ok(()) => latencies.record(sent.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            anyhow::Ok((latencies, errors, first_error))
        }));
    }
    let mut latencies = Latencies::new()?;
    let (mut errors, mut first_error) = (0, None);
    for task in tasks {
        let (l, e, f) = task.await??;
        latencies.merge(&l);
        errors += e;
        first_error = first_error.or(f);
    }
    Ok(Report::new(
        "reads",
        json!({"rate": args.rate, "duration_secs": args.duration, "connections": args.connections,
               "queries": QUERIES}),
        &latencies,
        errors,
        started.elapsed(),
        json!({"first_error": first_error}),
    ))
}
