//! `conversations`: the whole conversation under load, as a deployment lives it. Customers
//! write (signed webhooks at a concurrency, a share of them new, over several companies
//! whose built-in triage answers and auto-replies); agents on WebSockets see every message
//! and answer some through `POST /ticket-messages`; a fake Twilio inside this process takes
//! every send and posts its `sent`, `delivered` and `read` callbacks back. It measures each
//! leg — webhook, triage, auto-reply, agent reply, WebSocket delivery — and the job queue
//! while the load runs and after it stops; then checks that every inbound is stored once,
//! every outbound sent once and read.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::fake_twilio::{self, Sends, micros};
use crate::fanout::{Socket, connect_all};
use crate::fixture::{Fixture, http_client};
use crate::stats::{Latencies, Report};
use crate::webhooks::{Mix, Traffic, worker_loop};

#[derive(Debug, Clone, clap::Args)]
pub struct ConversationArgs {
    #[arg(long, default_value = "target/bench/fixture.json")]
    pub fixture: PathBuf,
    /// The database Omni uses: the job queue is sampled there and the outcome checked.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Concurrent webhook connections (closed loop).
    #[arg(long, default_value_t = 64, value_parser = crate::args::count)]
    pub connections: usize,
    /// Seconds of webhooks.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Companies customers write to: the fixture's first ones (default: all of them).
    #[arg(long, value_parser = crate::args::count)]
    pub companies: Option<usize>,
    /// Continuing customers per company who write.
    #[arg(long, default_value_t = 5_000)]
    pub customers: u32,
    /// Percentage of webhooks from new customers (they open a ticket, triage and an
    /// auto-reply follow).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub new_percent: u8,
    /// Percentage of inbound messages an agent answers.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub agent_percent: u8,
    /// Agents on WebSockets, spread over the companies (at least one per company).
    #[arg(long, default_value_t = 200, value_parser = crate::args::count)]
    pub sockets: usize,
    /// Where the fake Twilio listens: Omni's `OMNI_TWILIO__API_BASE_URL` must point here.
    #[arg(long, default_value = "127.0.0.1:18790")]
    pub twilio_bind: String,
    /// Seconds to wait, after the load, for the queue to empty and callbacks to land.
    #[arg(long, default_value_t = 60)]
    pub drain_timeout: u64,
    /// Prefix of this run's inbound MessageSids; a random part follows it, so that runs
    /// on one database never look like redeliveries of each other.
    #[arg(long, default_value = "SMconv")]
    pub run_id: String,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Marks a message an agent should answer.
const ANSWER_ME: &str = "#agent";
/// Precedes the µs (since the start) at which a message was posted.
const POSTED_AT: &str = "lg:";
/// Precedes the number of an agent's reply.
const AGENT_REPLY: &str = "agent:";

/// Instants (µs since the start) keyed by what they belong to.
#[derive(Default)]
struct Marks<K>(Mutex<HashMap<K, u64>>);

impl<K: std::hash::Hash + Eq> Marks<K> {
    /// Keeps the first instant of each key.
    fn first(&self, key: K, at: u64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(at);
    }

    fn take(&self) -> HashMap<K, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What the scenario's parts learn of each other.
struct Track {
    t0: Instant,
    agent_percent: u8,
    /// New customers' first 200.
    first_accepted: Marks<String>,
    /// Tickets' `ticket.created` and `triage.completed`, as an agent saw them.
    ticket_created: Marks<i64>,
    triage_completed: Marks<i64>,
    /// Agents' replies: when Omni answered 201.
    reply_accepted: Marks<u64>,
    /// Per company index, inbound messages Omni accepted (the frames its agents expect).
    accepted_per_company: Vec<AtomicU64>,
    replies_started: AtomicU64,
    replies_done: AtomicU64,
    reply_errors: AtomicU64,
    first_reply_error: Mutex<Option<String>>,
}

impl Track {
    fn now(&self) -> u64 {
        micros(self.t0.elapsed())
    }
}

struct Conversing {
    track: Arc<Track>,
}

impl Traffic for Conversing {
    fn body(&self, new: bool) -> String {
        let answer = rand::random_range(0..100u8) < self.track.agent_percent;
        let text = if new {
            "Olá, fui cobrado duas vezes no cartão e preciso do reembolso"
        } else {
            "Meu pedido ainda não chegou, podem verificar?"
        };
        format!(
            "{text} {POSTED_AT}{} {}",
            self.track.now(),
            if answer { ANSWER_ME } else { "" }
        )
    }

    fn accepted(&self, company: usize, phone: &str, new: bool) {
        if new {
            self.track
                .first_accepted
                .first(phone.to_owned(), self.track.now());
        }
        if let Some(n) = self.track.accepted_per_company.get(company) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub async fn run(args: ConversationArgs) -> anyhow::Result<(Report, bool)> {
    let fixture = Arc::new(Fixture::load(&args.fixture)?);
    let companies = args
        .companies
        .unwrap_or(fixture.companies.len())
        .min(fixture.companies.len());
    let chosen = &fixture.companies[..companies];
    let (db, connection) =
        tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let t0 = Instant::now();
    let http = http_client(args.connections + 64, Duration::from_secs(30))?;
    let tokens: HashSet<String> = chosen.iter().map(|c| c.auth_token.clone()).collect();
    let twilio = fake_twilio::start(&args.twilio_bind, tokens, t0, http.clone())?;
    set_auto_reply(&http, &fixture, companies, true).await?;
    let outcome = converse(&args, &fixture, companies, &db, &twilio, &http, t0).await;
    // The seeded companies go back to answering nothing by themselves, for later scenarios.
    let restored = set_auto_reply(&http, &fixture, companies, false).await;
    let report = outcome?;
    restored?;
    Ok(report)
}

async fn set_auto_reply(
    http: &reqwest::Client,
    fixture: &Fixture,
    companies: usize,
    on: bool,
) -> anyhow::Result<()> {
    for company in &fixture.companies[..companies] {
        let res = http
            .put(format!("{}/companies/{}", fixture.base_url, company.id))
            .bearer_auth(&company.admin_token)
            .json(&json!({"settings": {"auto_reply": on}}))
            .send()
            .await?;
        anyhow::ensure!(
            res.status() == 200,
            "turning auto-reply {} for company {}: {}",
            if on { "on" } else { "off" },
            company.id,
            res.status()
        );
    }
    Ok(())
}

async fn converse(
    args: &ConversationArgs,
    fixture: &Arc<Fixture>,
    companies: usize,
    db: &tokio_postgres::Client,
    twilio: &Arc<Sends>,
    http: &reqwest::Client,
    t0: Instant,
) -> anyhow::Result<(Report, bool)> {
    let track = Arc::new(Track {
        t0,
        agent_percent: args.agent_percent,
        first_accepted: Marks::default(),
        ticket_created: Marks::default(),
        triage_completed: Marks::default(),
        reply_accepted: Marks::default(),
        accepted_per_company: (0..companies).map(|_| AtomicU64::new(0)).collect(),
        replies_started: AtomicU64::new(0),
        replies_done: AtomicU64::new(0),
        reply_errors: AtomicU64::new(0),
        first_reply_error: Mutex::new(None),
    });
    let run_start: String = db.query_one("SELECT now()::text", &[]).await?.get(0);
    let run_id = format!("{}{:08x}", args.run_id, rand::random::<u32>());

    // Agents: socket i belongs to company i % companies; the first of each company also
    // answers the messages marked for an answer.
    let sockets = args.sockets.max(companies);
    let urls = (0..sockets)
        .map(|i| fixture.ws_url(&fixture.companies[i % companies].admin_token))
        .collect();
    let connected = connect_all(urls).await?;
    eprintln!("conversations: {} agents connected", connected.len());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agents: Vec<_> = connected
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let answers = (i < companies).then(|| Answerer {
                http: http.clone(),
                base_url: fixture.base_url.clone(),
                token: fixture.companies[i].admin_token.clone(),
                track: track.clone(),
            });
            tokio::spawn(agent(ws, answers, track.clone(), stopped.clone()))
        })
        .collect();

    let sampler = tokio::spawn(sample_jobs(args.database_url.clone(), t0, stopped.clone()));

    // Customers.
    let traffic = Arc::new(Conversing {
        track: track.clone(),
    });
    let mix = Arc::new(Mix {
        companies,
        customers: args.customers,
        new_percent: args.new_percent,
        run_id: run_id.clone(),
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let posters: Vec<_> = (0..args.connections)
        .map(|worker| {
            let (fixture, http, mix, traffic) =
                (fixture.clone(), http.clone(), mix.clone(), traffic.clone());
            tokio::spawn(async move {
                worker_loop(worker, &fixture, &http, &mix, &*traffic, deadline, None).await
            })
        })
        .collect();
    let mut webhooks = Latencies::new()?;
    let (mut accepted, mut errors, mut first_error) = (0u64, 0u64, None);
    for poster in posters {
        let outcome = poster.await??;
        webhooks.merge(&outcome.latencies);
        accepted += outcome.accepted;
        errors += outcome.errors;
        first_error = first_error.or(outcome.first_error);
    }
    let load_secs = started.elapsed().as_secs_f64();
    let load_ended = Instant::now();

    // Drain: the queue empty, every callback posted, every agent's reply sent.
    let drain_deadline = load_ended + Duration::from_secs(args.drain_timeout);
    let mut queue_empty_after = None;
    // Twice in a row: a send can finish between two of the reads below.
    let mut quiet_polls = 0;
    let drained_after = loop {
        let replies_open = track.replies_started.load(Ordering::Relaxed)
            > track.replies_done.load(Ordering::Relaxed);
        let callbacks_open = twilio.callbacks_pending.load(Ordering::Relaxed) > 0;
        let queued: i64 = db
            .query_one(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
                &[],
            )
            .await?
            .get(0);
        if queued == 0 && queue_empty_after.is_none() {
            queue_empty_after = Some(load_ended.elapsed().as_secs_f64());
        }
        if queued == 0 && !replies_open && !callbacks_open {
            quiet_polls += 1;
            if quiet_polls == 2 {
                break Some(load_ended.elapsed().as_secs_f64());
            }
        } else {
            quiet_polls = 0;
        }
        if Instant::now() > drain_deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The last frames (the final `read`s) a moment to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let mut ws = Latencies::new()?;
    let mut frames = 0u64;
    let (mut sockets_lost, mut first_lost) = (0u64, None);
    let mut received_per_company = vec![0u64; companies];
    for (i, agent) in agents.into_iter().enumerate() {
        let seen = agent.await??;
        ws.merge(&seen.latencies);
        if let Some(why) = seen.lost {
            sockets_lost += 1;
            first_lost.get_or_insert(why);
        }
        frames += seen.latencies.count();
        received_per_company[i % companies] += seen.latencies.count();
    }
    let sockets_per_company = |c: usize| ((sockets - c).div_ceil(companies)) as u64;
    let frames_expected: u64 = (0..companies)
        .map(|c| track.accepted_per_company[c].load(Ordering::Relaxed) * sockets_per_company(c))
        .sum();
    let jobs = sampler.await??;

    // The lags, from the instants each part saw.
    let sent = twilio.all();
    let first_accepted = track.first_accepted.take();
    let created = track.ticket_created.take();
    let triaged = track.triage_completed.take();
    let replies = track.reply_accepted.take();
    let mut triage_lag = Latencies::new()?;
    for (ticket, at) in &created {
        if let Some(done) = triaged.get(ticket) {
            triage_lag.record(Duration::from_micros(done.saturating_sub(*at)));
        }
    }
    let mut auto_reply_lag = Latencies::new()?;
    let mut agent_reply_lag = Latencies::new()?;
    let mut auto_replied = HashSet::new();
    let mut agent_replies_sent = HashSet::new();
    for m in &sent {
        if let Some(n) = reply_number(&m.body) {
            if let Some(at) = replies.get(&n) {
                agent_reply_lag.record(Duration::from_micros(m.at_us.saturating_sub(*at)));
            }
            agent_replies_sent.insert(n);
        } else {
            let phone = m.to.trim_start_matches("whatsapp:");
            if let Some(at) = first_accepted.get(phone)
                && auto_replied.insert(phone.to_owned())
            {
                auto_reply_lag.record(Duration::from_micros(m.at_us.saturating_sub(*at)));
            }
        }
    }

    let checks = check(
        db,
        &run_id,
        accepted,
        &fixture.companies[..companies],
        &run_start,
        &sent,
        replies.len() as u64,
        agent_replies_sent.len() as u64,
    )
    .await?;
    let ok = checks["ok"].as_bool().unwrap_or(false)
        && drained_after.is_some()
        && sockets_lost == 0
        && frames >= frames_expected;
    let arrivals_per_sec = accepted as f64 / load_secs.max(1e-9);
    let lag = |l: &Latencies| l.summary();
    let report = Report::new(
        "conversations",
        json!({"connections": args.connections, "duration_secs": args.duration,
               "companies": companies, "customers_per_company": args.customers,
               "new_percent": args.new_percent, "agent_percent": args.agent_percent,
               "sockets": sockets}),
        &webhooks,
        errors,
        Duration::from_secs_f64(load_secs),
        json!({
            "accepted": accepted, "run_id": run_id, "first_error": first_error,
            "new_tickets": created.len(),
            "triage_lag": lag(&triage_lag),
            "auto_reply_lag": lag(&auto_reply_lag),
            "agent_reply_lag": lag(&agent_reply_lag),
            "ws_delivery": lag(&ws),
            "frames_expected": frames_expected, "frames_received": frames,
            "sockets_lost": sockets_lost, "first_socket_lost": first_lost,
            "agent_replies": replies.len(),
            "agent_reply_errors": track.reply_errors.load(Ordering::Relaxed),
            "first_agent_reply_error": track.first_reply_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            "auto_replies": auto_replied.len(),
            "twilio_sends": sent.len(),
            "callbacks_ok": twilio.callbacks_ok.load(Ordering::Relaxed),
            "callbacks_failed": twilio.callbacks_failed.load(Ordering::Relaxed),
            "twilio_refused": twilio.refused.load(Ordering::Relaxed),
            "jobs_queued_max": jobs.max,
            "jobs_queued_max_secs_of_arrivals": round2(jobs.max as f64 / arrivals_per_sec.max(1e-9)),
            "jobs_queued_at_stop": jobs.at(load_secs),
            "jobs_queued_series": jobs.series,
            "queue_empty_after_secs": queue_empty_after.map(round2),
            "drained_after_secs": drained_after.map(round2),
            "checks": checks,
            "ok": ok,
        }),
    );
    Ok((report, ok))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The number in an agent reply's text (`agent:<n>: …`).
fn reply_number(body: &str) -> Option<u64> {
    let rest = body.strip_prefix(AGENT_REPLY)?;
    rest.split(':').next()?.parse().ok()
}

/// The µs a customer's message was posted at, from its text.
fn posted_at(text: &str) -> Option<u64> {
    let at = text.find(POSTED_AT)? + POSTED_AT.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What a company's answering agent needs to reply.
struct Answerer {
    http: reqwest::Client,
    base_url: String,
    token: String,
    track: Arc<Track>,
}

impl Answerer {
    fn reply(&self, ticket_id: i64) {
        let track = self.track.clone();
        let n = track.replies_started.fetch_add(1, Ordering::Relaxed);
        let request = self
            .http
            .post(format!("{}/ticket-messages", self.base_url))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", format!("conv-{}-{n}", track.t0.elapsed().as_nanos() % 1_000_000_007))
            .json(&json!({"ticket_id": ticket_id,
                          "content": format!("{AGENT_REPLY}{n}: Olá! Já estou verificando para você.")}));
        tokio::spawn(async move {
            let outcome = match request.send().await {
                Ok(res) if res.status() == 201 => Ok(()),
                Ok(res) => {
                    let status = res.status();
                    Err(format!(
                        "{status}: {}",
                        res.text().await.unwrap_or_default()
                    ))
                }
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => track.reply_accepted.first(n, track.now()),
                Err(e) => {
                    track.reply_errors.fetch_add(1, Ordering::Relaxed);
                    track
                        .first_reply_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(e);
                }
            }
            track.replies_done.fetch_add(1, Ordering::Relaxed);
        });
    }
}

struct Seen {
    latencies: Latencies,
    /// Why the socket ended before the scenario did (the server closed it, an error).
    lost: Option<String>,
}

/// One agent's socket: the delivery time of every customer message; the answering agent
/// also notes tickets' creation and triage, and replies to the messages marked for it.
async fn agent(
    mut ws: Socket,
    answers: Option<Answerer>,
    track: Arc<Track>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Seen> {
    let mut latencies = Latencies::new()?;
    let mut lost = None;
    loop {
        let frame = tokio::select! {
            _ = stopped.changed() => break,
            frame = ws.next() => frame,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                lost = Some(format!("closed by the server: {close:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                lost = Some(e.to_string());
                break;
            }
            None => {
                lost = Some("ended".into());
                break;
            }
        };
        let is_message = text.contains("\"message.created\"");
        if is_message && let Some(sent) = posted_at(&text) {
            latencies.record(Duration::from_micros(track.now().saturating_sub(sent)));
        }
        let Some(answerer) = &answers else { continue };
        let wanted = (is_message && text.contains(ANSWER_ME))
            || text.contains("\"ticket.created\"")
            || text.contains("\"triage.completed\"");
        if !wanted {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(ticket) = event["ticket_id"].as_i64() else {
            continue;
        };
        match event["type"].as_str() {
            Some("ticket.created") => track.ticket_created.first(ticket, track.now()),
            Some("triage.completed") => track.triage_completed.first(ticket, track.now()),
            Some("message.created") if event["data"]["message"]["from_customer"] == true => {
                answerer.reply(ticket);
            }
            _ => {}
        }
    }
    Ok(Seen { latencies, lost })
}

/// The job queue's depth (queued or running) every 250 ms.
struct JobSamples {
    max: i64,
    /// (seconds since the start, depth), one per second.
    series: Vec<(f64, i64)>,
    all: Vec<(f64, i64)>,
}

impl JobSamples {
    /// The depth sampled closest after `secs`.
    fn at(&self, secs: f64) -> Option<i64> {
        self.all.iter().find(|(t, _)| *t >= secs).map(|(_, n)| *n)
    }
}

async fn sample_jobs(
    database_url: String,
    t0: Instant,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<JobSamples> {
    let (db, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let query = db
        .prepare("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
        .await?;
    let mut samples = JobSamples {
        max: 0,
        series: Vec::new(),
        all: Vec::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = tick.tick() => {}
        }
        let depth: i64 = db.query_one(&query, &[]).await?.get(0);
        let at = t0.elapsed().as_secs_f64();
        samples.max = samples.max.max(depth);
        if samples.series.last().is_none_or(|(t, _)| at - t >= 1.0) {
            samples.series.push((round2(at), depth));
        }
        samples.all.push((at, depth));
    }
    Ok(samples)
}

/// The outcome, from the database and the fake Twilio: every accepted inbound stored once;
/// every outbound of the run sent once, under the sid Omni keeps, and read.
#[allow(clippy::too_many_arguments)]
async fn check(
    db: &tokio_postgres::Client,
    run_id: &str,
    accepted: u64,
    companies: &[crate::fixture::Company],
    run_start: &str,
    sent: &[fake_twilio::Sent],
    agent_replies: u64,
    agent_replies_sent: u64,
) -> anyhow::Result<Value> {
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT (company_id, whatsapp_message_id)) \
             FROM ticket_messages WHERE whatsapp_message_id LIKE $1 || '%'",
            &[&run_id],
        )
        .await?;
    let (rows, distinct): (i64, i64) = (row.get(0), row.get(1));
    let inbound_lost = accepted.saturating_sub(u64::try_from(distinct)?);
    let inbound_doubled = u64::try_from(rows - distinct)?;

    let ids: Vec<i64> = companies.iter().map(|c| c.id).collect();
    let outbound = db
        .query(
            "SELECT whatsapp_message_id, delivery_status FROM ticket_messages \
             WHERE NOT from_customer AND company_id = ANY($1) AND created_at >= $2::text::timestamptz",
            &[&ids, &run_start],
        )
        .await?;
    let fake_sids: HashSet<&str> = sent.iter().map(|m| m.sid.as_str()).collect();
    let mut kept_sids = HashSet::new();
    let (mut not_sent, mut not_read) = (0u64, 0u64);
    let mut statuses: HashMap<String, u64> = HashMap::new();
    for row in &outbound {
        let sid: Option<String> = row.get(0);
        let status: String = row.get(1);
        *statuses.entry(status.clone()).or_default() += 1;
        if status != "read" {
            not_read += 1;
        }
        match sid {
            Some(sid) if fake_sids.contains(sid.as_str()) => {
                kept_sids.insert(sid);
            }
            _ => not_sent += 1,
        }
    }
    // A send Twilio took whose sid Omni does not keep went out beside another: doubled.
    let outbound_doubled = (fake_sids.len() - kept_sids.len()) as u64 + fake_twilio::doubled(sent);
    let agent_replies_unsent = agent_replies.saturating_sub(agent_replies_sent);
    let ok = inbound_lost == 0
        && inbound_doubled == 0
        && not_sent == 0
        && not_read == 0
        && outbound_doubled == 0
        && agent_replies_unsent == 0;
    Ok(json!({
        "inbound_accepted": accepted, "inbound_lost": inbound_lost,
        "inbound_doubled": inbound_doubled,
        "outbound": outbound.len(), "outbound_not_sent": not_sent,
        "outbound_doubled": outbound_doubled, "outbound_not_read": not_read,
        "outbound_statuses": statuses,
        "agent_replies_unsent": agent_replies_unsent,
        "ok": ok,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_read_back_from_texts() {
        assert_eq!(reply_number("agent:42: Olá"), Some(42));
        assert_eq!(reply_number("Olá agent:42:"), None);
        assert_eq!(posted_at("Meu pedido lg:123456 #agent"), Some(123_456));
        assert_eq!(posted_at("sem marca"), None);
    }
}
