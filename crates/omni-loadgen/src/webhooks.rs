//! `webhooks`: Twilio-signed inbound messages from many customers of many companies, at a
//! concurrency (closed loop) or a rate (open loop), each answer checked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use serde_json::json;

use crate::fixture::{Fixture, customer_phone, http_client, inbound_form, post_inbound};
use crate::stats::{Latencies, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    #[arg(long, default_value = "target/bench/fixture.json")]
    pub fixture: PathBuf,
    /// Concurrent connections, each sending its next webhook when the last is answered.
    #[arg(long, default_value_t = 64, value_parser = crate::args::count)]
    pub connections: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Webhooks per second in all (open loop); unset: as fast as answers come.
    #[arg(long, value_parser = crate::args::rate)]
    pub rate: Option<f64>,
    /// Continuing customers per company who write: the first ones whose seeded ticket is
    /// `new` or `open`.
    #[arg(long, default_value_t = 5_000)]
    pub customers: u32,
    /// Percentage of webhooks from new customers, who open a ticket (and its triage);
    /// the others continue an open conversation.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub new_percent: u8,
    /// Only continuing conversations (no ticket opened, no triage): the path `pgbench`
    /// replays. The same as `--new-percent 0`.
    #[arg(long)]
    pub continuing_only: bool,
    /// Prefix of this run's MessageSids, to verify them afterwards.
    #[arg(long, default_value = "SMbench")]
    pub run_id: String,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What one connection's loop saw.
pub struct Outcome {
    pub latencies: Latencies,
    pub accepted: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

pub async fn run(args: WebhookArgs) -> anyhow::Result<Report> {
    let fixture = Arc::new(Fixture::load(&args.fixture)?);
    let http = http_client(args.connections, Duration::from_secs(30))?;
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let per_worker = args
        .rate
        .map(|r| Duration::from_secs_f64(args.connections as f64 / r));
    let mut tasks = Vec::with_capacity(args.connections);
    for worker in 0..args.connections {
        let fixture = fixture.clone();
        let http = http.clone();
        let mix = Mix {
            companies: fixture.companies.len(),
            customers: args.customers,
            new_percent: args.new_share(),
            run_id: args.run_id.clone(),
        };
        tasks.push(tokio::spawn(async move {
            worker_loop(worker, &fixture, &http, &mix, &Plain, deadline, per_worker).await
        }));
    }
    let mut latencies = Latencies::new()?;
    let (mut accepted, mut errors, mut first_error) = (0, 0, None);
    for task in tasks {
        let outcome = task.await??;
        latencies.merge(&outcome.latencies);
        accepted += outcome.accepted;
        errors += outcome.errors;
        first_error = first_error.or(outcome.first_error);
    }
    let elapsed = started.elapsed();
    Ok(Report::new(
        "webhooks",
        json!({"connections": args.connections, "duration_secs": args.duration,
               "rate": args.rate, "customers_per_company": args.customers,
               "new_percent": args.new_share(), "companies": fixture.companies.len()}),
        &latencies,
        errors,
        elapsed,
        json!({"accepted": accepted, "run_id": args.run_id, "first_error": first_error}),
    ))
}

/// What a run's messages say and who learns of each answer: the plain scenario sends one
/// text; `conversations` marks its messages and follows them up.
pub trait Traffic: Send + Sync {
    /// The text of the next message (`new`: from a customer with no ticket).
    fn body(&self, new: bool) -> String;
    /// Omni answered 200 to a message from `phone` to the fixture's company `company`.
    fn accepted(&self, _company: usize, _phone: &str, _new: bool) {}
}

struct Plain;

impl Traffic for Plain {
    fn body(&self, _new: bool) -> String {
        "Olá, meu pedido ainda não chegou. Podem verificar?".into()
    }
}

/// Who writes: which companies, how many continuing customers each, the share of new ones.
#[derive(Debug, Clone)]
pub struct Mix {
    pub companies: usize,
    pub customers: u32,
    pub new_percent: u8,
    pub run_id: String,
}

/// One connection's closed (or, with `pace`, open) loop of signed webhooks until `deadline`.
pub async fn worker_loop(
    worker: usize,
    fixture: &Fixture,
    http: &reqwest::Client,
    mix: &Mix,
    traffic: &dyn Traffic,
    deadline: Instant,
    pace: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome {
        latencies: Latencies::new()?,
        accepted: 0,
        errors: 0,
        first_error: None,
    };
    let url = fixture.webhook_url();
    let customers = mix
        .customers
        .clamp(1, (fixture.tickets_per_company / 5 * 2).max(1));
    let companies = mix.companies.clamp(1, fixture.companies.len());
    let mut next = Instant::now();
    let mut seq: u64 = 0;
    while Instant::now() < deadline {
        if let Some(pace) = pace {
            tokio::time::sleep_until(next.into()).await;
            next += pace;
        }
        let (c, phone, new) = {
            let mut rng = rand::rng();
            let c = rng.random_range(0..companies);
            let new = rng.random_range(0..100u8) < mix.new_percent;
            let phone = if new {
                new_customer_phone(&mut rng)
            } else {
                customer_phone(c, continuing_customer(rng.random_range(0..customers)))
            };
            (c, phone, new)
        };
        let company = &fixture.companies[c];
        let sid = format!("{}{worker:04}x{seq:010}", mix.run_id);
        seq += 1;
        let signed = inbound_form(fixture, company, &phone, &sid, &traffic.body(new));
        let sent = Instant::now();
        let result = post_inbound(http, &url, signed).await;
        let ok = match result {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.text().await {
                    Ok(body) if status == 200 && body.contains("<Response/>") => Ok(()),
                    Ok(body) => Err(format!("{status}: {body}")),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match ok {
            Ok(()) => {
                out.latencies.record(sent.elapsed());
                out.accepted += 1;
                traffic.accepted(c, &phone, new);
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(e);
            }
        }
    }
    Ok(out)
}

/// The `j`-th customer whose seeded ticket is `new` or `open` (the seeder gives customer
/// `k` status `k % 5`: new, open, pending, resolved, closed).
pub fn continuing_customer(j: u32) -> u32 {
    5 * (j / 2) + j % 2
}

impl WebhookArgs {
    /// The percentage of webhooks from new customers this run sends.
    fn new_share(&self) -> u8 {
        if self.continuing_only {
            0
        } else {
            self.new_percent
        }
    }
}

/// A customer no seeded ticket has: a Brazilian mobile number in a range the seeder never
/// uses (`+5599…`), random so that runs on one database rarely meet (a repeat only
/// continues that customer's conversation).
fn new_customer_phone(rng: &mut impl rand::Rng) -> String {
    format!("+5599{:09}", rng.random_range(0..1_000_000_000u32))
}
