//! `seed-reports` and `reports`: one company with a long history (a million tickets over a
//! year, with agents, business hours and SLA targets), then managers asking for its
//! reports at a rate — the 90-day overview by day, by week per category, by month per
//! priority, and the agents' report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::fixture::{get_ok, http_client};
use crate::stats::{Latencies, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct SeedReportsArgs {
    /// Omni's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The database Omni uses (for the bulk inserts).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The company's tickets.
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: u32,
    /// Over how many days before today they were opened.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Its agents.
    #[arg(long, default_value_t = 20)]
    pub agents: u32,
    /// Where to write what the `reports` scenario reads.
    #[arg(long, default_value = "target/bench/reports_fixture.json")]
    pub fixture: PathBuf,
}

/// The company the `reports` scenario asks about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportsFixture {
    pub base_url: String,
    pub company_id: i64,
    pub admin_token: String,
    pub tickets: u32,
    pub facts: i64,
}

async fn expect(res: reqwest::Response, status: u16) -> anyhow::Result<Value> {
    let got = res.status().as_u16();
    let body = res.text().await.unwrap_or_default();
    anyhow::ensure!(got == status, "expected {status}, got {got}: {body}");
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The company's tickets: a distinct customer each, opened over `$3` days, most of them
/// resolved or closed by now, assigned round the agents (`$2`), spread over priorities,
/// categories and moods.
const TICKETS: &str = "
INSERT INTO tickets (company_id, customer_phone, customer_name, channel, status, priority,
                     category, sentiment, sentiment_score, assigned_to, first_response_at,
                     resolved_at, last_message_at, last_activity_at, created_at)
SELECT $1::bigint, '+559' || lpad(k::text, 10, '0'), 'Cliente ' || k,
       CASE WHEN k % 10 = 0 THEN 'sms' ELSE 'whatsapp' END,
       CASE WHEN k % 50 = 0 THEN 'open' WHEN k % 7 = 0 THEN 'closed' ELSE 'resolved' END,
       (ARRAY['low','medium','high','urgent'])[1 + k % 4],
       (ARRAY['billing','orders_delivery','technical_support','cancellation','complaint','general'])[1 + k % 6],
       (ARRAY['positive','neutral','negative'])[1 + k % 3],
       (ARRAY[0.6, 0.0, -0.6])[1 + k % 3],
       ($2::bigint[])[1 + k % cardinality($2::bigint[])],
       o + make_interval(mins => 2 + (k * 37) % 240),
       CASE WHEN k % 50 <> 0 THEN o + make_interval(mins => 30 + (k * 53) % 4000) END,
       o + make_interval(mins => 30), o + make_interval(mins => 30), o
FROM generate_series(0, ($4::bigint - 1)::int) AS k,
     LATERAL (SELECT now() - make_interval(days => $3::int) + ($3::int * interval '1 day') * (k::float8 / $4::bigint) AS o) AS t";

/// Their history, as Omni writes it, already settled with the tickets' fields: each was
/// opened and assigned, answered (first response and two replies); the resolved and
/// closed ones were resolved (a twentieth reopened and resolved again), asked the survey,
/// and a third rated it.
const FACTS: &str = "
INSERT INTO ticket_facts (company_id, ticket_id, kind, at, since, agent_id, score, settled,
                          channel, category, priority, sentiment)
SELECT t.company_id, t.id, f.kind, f.at, f.since, f.agent, f.score, true,
       t.channel, t.category, t.priority, t.sentiment
FROM tickets t,
LATERAL (VALUES
    ('opened', t.created_at, NULL::timestamptz, NULL::bigint, NULL::smallint, true),
    ('assigned', t.created_at + interval '1 minute', NULL, t.assigned_to, NULL, true),
    ('first_response', t.first_response_at, t.created_at, t.assigned_to, NULL, true),
    ('replied', t.first_response_at, NULL, t.assigned_to, NULL, true),
    ('replied', t.first_response_at + interval '5 minutes', NULL, t.assigned_to, NULL, true),
    ('resolved', t.resolved_at - interval '3 hours', t.created_at, t.assigned_to, NULL,
        t.resolved_at IS NOT NULL AND t.id % 20 = 0),
    ('reopened', t.resolved_at - interval '2 hours', NULL, t.assigned_to, NULL,
        t.resolved_at IS NOT NULL AND t.id % 20 = 0),
    ('resolved', t.resolved_at,
        CASE WHEN t.id % 20 = 0 THEN t.resolved_at - interval '2 hours' ELSE t.created_at END,
        t.assigned_to, NULL, t.resolved_at IS NOT NULL),
    ('survey_sent', t.resolved_at, NULL, t.assigned_to, NULL, t.resolved_at IS NOT NULL),
    ('rated', t.resolved_at + interval '10 minutes', NULL, t.assigned_to, (1 + t.id % 5)::smallint,
        t.resolved_at IS NOT NULL AND t.id % 3 = 0)
) AS f(kind, at, since, agent, score, happened)
WHERE t.company_id = $1::bigint AND f.happened";

pub async fn seed(args: SeedReportsArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let http = reqwest::Client::new();
    let url = &args.url;
    let run = rand::rng().random::<u32>();
    let auth = expect(
        http.post(format!("{url}/auth/register"))
            .json(&json!({
                "company_name": "Reports Bench",
                "name": "Manager",
                "email": format!("reports-{run}@example.com"),
                "password": "bench password 123",
            }))
            .send()
            .await?,
        201,
    )
    .await
    .context("registering the company (are Omni's registration limits off?)")?;
    let token = auth["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned();
    let company = auth["user"]["company_id"]
        .as_i64()
        .context("no company_id")?;
    let weekdays: serde_json::Map<String, Value> =
        ["monday", "tuesday", "wednesday", "thursday", "friday"]
            .into_iter()
            .map(|d| (d.to_owned(), json!({"start": "09:00", "end": "18:00"})))
            .collect();
    expect(
        http.put(format!("{url}/companies/{company}"))
            .bearer_auth(&token)
            .json(&json!({"settings": {
                "auto_reply": false,
                "business_hours": weekdays,
                "sla": {
                    "urgent": {"first_response_minutes": 15, "resolution_minutes": 240},
                    "high": {"first_response_minutes": 60, "resolution_minutes": 1440}
                }
            }}))
            .send()
            .await?,
        200,
    )
    .await?;
    anyhow::ensure!(args.agents > 0, "--agents: at least one");
    let mut agents = Vec::new();
    for n in 0..args.agents {
        let user = expect(
            http.post(format!("{url}/users"))
                .bearer_auth(&token)
                .json(&json!({
                    "name": format!("Agente {n:02}"),
                    "email": format!("reports-{run}-agent{n}@example.com"),
                    "password": "bench password 123",
                    "role": "agent",
                }))
                .send()
                .await?,
            201,
        )
        .await?;
        agents.push(user["id"].as_i64().context("no user id")?);
    }
    let (db, connection) = tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(connection);
    let days = i32::try_from(args.days)?;
    db.execute(
        TICKETS,
        &[&company, &agents, &days, &i64::from(args.tickets)],
    )
    .await
    .context("inserting tickets")?;
    eprintln!(
        "seed-reports: {} tickets in {:.0} s",
        args.tickets,
        started.elapsed().as_secs_f64()
    );
    let facts = i64::try_from(
        db.execute(FACTS, &[&company])
            .await
            .context("inserting facts")?,
    )?;
    db.batch_execute("ANALYZE tickets; ANALYZE ticket_facts;")
        .await?;
    eprintln!(
        "seed-reports: {facts} facts in {:.0} s (company {company}); count them with \
         `omni-server recount-reports --company {company}`",
        started.elapsed().as_secs_f64()
    );
    let fixture = ReportsFixture {
        base_url: args.url.clone(),
        company_id: company,
        admin_token: token,
        tickets: args.tickets,
        facts,
    };
    if let Some(dir) = args.fixture.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.fixture, serde_json::to_string_pretty(&fixture)?)?;
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[arg(long, default_value = "target/bench/reports_fixture.json")]
    pub fixture: PathBuf,
    /// Reports per second in all.
    #[arg(long, default_value_t = 20.0, value_parser = crate::args::rate)]
    pub rate: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Concurrent connections sharing the rate.
    #[arg(long, default_value_t = 4, value_parser = crate::args::count)]
    pub connections: usize,
    /// Where to write the overview's figures.
    #[arg(long)]
    pub json_overview: Option<PathBuf>,
    /// Where to write the agents' report's figures.
    #[arg(long)]
    pub json_agents: Option<PathBuf>,
}

/// What managers ask for: the last 90 days by day, by week per category, by month per
/// priority; and the agents' report.
fn queries(from: &str, to: &str) -> Vec<(bool, String)> {
    let range = format!("from={from}&to={to}");
    vec![
        (false, format!("/reports/overview?{range}")),
        (
            false,
            format!("/reports/overview?{range}&group_by=week&breakdown=category"),
        ),
        (
            false,
            format!("/reports/overview?{range}&group_by=month&breakdown=priority"),
        ),
        (true, format!("/reports/agents?{range}")),
    ]
}

pub async fn run(args: ReportArgs) -> anyhow::Result<(Report, Report)> {
    let text = std::fs::read_to_string(&args.fixture).with_context(|| {
        format!(
            "{}: run `omni-loadgen seed-reports` first",
            args.fixture.display()
        )
    })?;
    let fixture: Arc<ReportsFixture> = Arc::new(serde_json::from_str(&text)?);
    // The company's zone is São Paulo's (UTC−3): its today, and 89 days before.
    let today = (chrono::Utc::now() - chrono::TimeDelta::hours(3)).date_naive();
    let from = today - chrono::TimeDelta::days(89);
    let queries = Arc::new(queries(&from.to_string(), &today.to_string()));
    let http = http_client(args.connections, Duration::from_secs(10))?;
    let pace = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for worker in 0..args.connections {
        let (fixture, http, queries) = (fixture.clone(), http.clone(), queries.clone());
        let connections = args.connections;
        tasks.push(tokio::spawn(async move {
            let (mut overview, mut agents) = (Latencies::new()?, Latencies::new()?);
            let (mut errors, mut first_error) = (0u64, None::<String>);
            let mut next = Instant::now() + pace.mul_f64(worker as f64 / connections as f64);
            let mut i = worker;
            while next < deadline {
                tokio::time::sleep_until(next.into()).await;
                next += pace;
                let (is_agents, path) = &queries[i % queries.len()];
                i += 1;
                let sent = Instant::now();
                let url = format!("{}{path}", fixture.base_url);
                let ok = get_ok(&http, &url, &fixture.admin_token, b"{\"company_id\":").await;
                match ok {
                    Ok(()) if *is_agents => agents.record(sent.elapsed()),
                    Ok(()) => overview.record(sent.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            anyhow::Ok((overview, agents, errors, first_error))
        }));
    }
    let (mut overview, mut agents) = (Latencies::new()?, Latencies::new()?);
    let (mut errors, mut first_error) = (0, None);
    for task in tasks {
        let (o, a, e, f) = task.await??;
        overview.merge(&o);
        agents.merge(&a);
        errors += e;
        first_error = first_error.or(f);
    }
    let settings = json!({"rate": args.rate, "duration_secs": args.duration,
        "connections": args.connections, "from": from, "to": today,
        "tickets": fixture.tickets, "facts": fixture.facts});
    let elapsed = started.elapsed();
    Ok((
        Report::new(
            "reports_overview",
            settings.clone(),
            &overview,
            errors,
            elapsed,
            json!({"first_error": first_error, "queries": queries.iter().filter(|q| !q.0).map(|q| &q.1).collect::<Vec<_>>()}),
        ),
        Report::new("reports_agents", settings, &agents, 0, elapsed, json!({})),
    ))
}
