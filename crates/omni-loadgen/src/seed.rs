//! Fills a database fast: the companies, their admins and their Twilio integrations through
//! Omni's API (passwords are hashed and secrets sealed by Omni, as in production), then the
//! bulk — tickets and their messages — with set-based SQL, one statement per company.

use std::time::Instant;

use anyhow::Context as _;
use rand::Rng as _;
use serde_json::{Value, json};

use crate::fixture::{Company, Fixture, company_phone};

/// How much to seed.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Omni's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Omni's `http.public_base_url` (what webhook signatures cover).
    #[arg(long)]
    pub public_base_url: Option<String>,
    /// The database Omni uses (for the bulk inserts).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    #[arg(long, default_value_t = 100, value_parser = crate::args::count)]
    pub companies: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: u32,
    #[arg(long, default_value_t = 5_000_000)]
    pub messages: u64,
    /// Where to write the fixture the scenarios read.
    #[arg(long, default_value = "target/bench/fixture.json")]
    pub fixture: std::path::PathBuf,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let http = reqwest::Client::new();
    let run = rand::rng().random::<u32>();
    let mut companies = Vec::with_capacity(args.companies);
    for c in 0..args.companies {
        companies.push(company(&http, &args.url, run, c).await.with_context(|| {
            format!("seeding company {c} through the API (are Omni's registration limits off?)")
        })?);
    }
    eprintln!(
        "seed: {} companies with admins and integrations in {:.1} s",
        companies.len(),
        started.elapsed().as_secs_f64()
    );

    let (db, connection) = tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(connection);
    // The bench's numbers are made up and its Twilio does not exist, so Omni cannot
    // confirm that the accounts own them: the seed enables the integrations itself, as an
    // operator who checked by hand would.
    let ids: Vec<i64> = companies.iter().map(|c| c.id).collect();
    db.execute(
        "UPDATE integrations SET enabled = true WHERE company_id = ANY($1)",
        &[&ids],
    )
    .await
    .context("enabling the integrations")?;
    let per_company = args.tickets / u32::try_from(args.companies.max(1))?;
    let per_ticket = i64::try_from(args.messages / u64::from(args.tickets.max(1)))?;
    let bulk = Instant::now();
    for (c, company) in companies.iter().enumerate() {
        db.execute(
            TICKETS,
            &[&company.id, &i64::try_from(c)?, &i64::from(per_company)],
        )
        .await
        .context("inserting tickets")?;
        db.execute(MESSAGES, &[&company.id, &per_ticket])
            .await
            .context("inserting messages")?;
        if (c + 1) % 10 == 0 {
            eprintln!(
                "seed: {}/{} companies' tickets and messages ({:.0} s)",
                c + 1,
                companies.len(),
                bulk.elapsed().as_secs_f64()
            );
        }
    }
    db.batch_execute("ANALYZE tickets; ANALYZE ticket_messages;")
        .await?;
    let fixture = Fixture {
        base_url: args.url.clone(),
        public_base_url: args.public_base_url.unwrap_or(args.url),
        tickets_per_company: per_company,
        companies,
    };
    fixture.save(&args.fixture)?;
    eprintln!(
        "seed: {} tickets and {} messages in {:.0} s; fixture at {}",
        u64::from(per_company) * fixture.companies.len() as u64,
        u64::from(per_company) * fixture.companies.len() as u64 * per_ticket as u64,
        started.elapsed().as_secs_f64(),
        args.fixture.display()
    );
    Ok(())
}

async fn company(http: &reqwest::Client, url: &str, run: u32, c: usize) -> anyhow::Result<Company> {
    let auth: Value = expect(
        http.post(format!("{url}/auth/register"))
            .json(&json!({
                "company_name": format!("Bench {c:03}"),
                "name": "Bench Admin",
                "email": format!("bench-{run}-{c}@example.com"),
                "password": "bench password 123",
            }))
            .send()
            .await?,
        201,
    )
    .await?;
    let token = auth["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned();
    let id = auth["user"]["company_id"]
        .as_i64()
        .context("no company_id")?;
    // The benchmark measures taking messages in, not sending: no automatic answers.
    expect(
        http.put(format!("{url}/companies/{id}"))
            .bearer_auth(&token)
            .json(&json!({"settings": {"auto_reply": false}}))
            .send()
            .await?,
        200,
    )
    .await?;
    let auth_token = format!("{:032x}", rand::rng().random::<u128>());
    let phone = company_phone(c);
    expect(
        http.post(format!("{url}/integrations"))
            .bearer_auth(&token)
            // Created disabled: enabling asks Twilio whether the account owns the number,
            // and these numbers are made up (see `run`).
            .json(
                &json!({"type": "twilio_whatsapp", "enabled": false, "config": {
                    "account_sid": "AC00000000000000000000000000000000",
                    "auth_token": auth_token,
                    "phone_number": phone,
                }}),
            )
            .send()
            .await?,
        201,
    )
    .await?;
    Ok(Company {
        id,
        admin_token: token,
        phone,
        auth_token,
    })
}

async fn expect(res: reqwest::Response, status: u16) -> anyhow::Result<Value> {
    let got = res.status().as_u16();
    let body = res.text().await?;
    anyhow::ensure!(got == status, "expected {status}, got {got}: {body}");
    Ok(serde_json::from_str(&body)?)
}

/// Tickets of one company: customer `k` has phone `+55 ccc kkkkkkk` (see
/// `fixture::customer_phone`); statuses, priorities and categories spread evenly, activity
/// spread over the last days. `$1` company id, `$2` its index, `$3` tickets.
const TICKETS: &str = "
INSERT INTO tickets (company_id, integration_id, customer_phone, customer_name, channel, status,
                     priority, category, last_message_at, last_activity_at, created_at)
SELECT $1::bigint, i.id,
       '+55' || lpad(($2::bigint % 1000)::text, 3, '0') || lpad(k::text, 7, '0'),
       'Cliente ' || k, 'whatsapp',
       (ARRAY['new','open','pending','resolved','closed'])[1 + k % 5],
       (ARRAY['low','medium','high','urgent'])[1 + k % 4],
       (ARRAY['billing','delivery','technical','general'])[1 + k % 4],
       now() - make_interval(secs => k * 7),
       now() - make_interval(secs => k * 7),
       now() - make_interval(secs => k * 7 + 3600)
FROM integrations i, generate_series(0, ($3::bigint - 1)::int) AS k
WHERE i.company_id = $1::bigint AND i.type = 'twilio_whatsapp'";

/// Messages of one company's tickets: alternately the customer's (received) and an
/// agent's (delivered). `$1` company id, `$2` messages per ticket.
const MESSAGES: &str = "
INSERT INTO ticket_messages (company_id, ticket_id, content, from_customer, whatsapp_number,
                             whatsapp_message_id, delivery_status, created_at)
SELECT t.company_id, t.id,
       (ARRAY['Olá, meu pedido ainda não chegou', 'Bom dia! Vou verificar para você.',
              'Fui cobrado duas vezes no cartão', 'Pode me passar o número do pedido?',
              'The app crashes when I log in', 'Obrigado, resolvido!',
              'Quero cancelar minha assinatura', 'Seu reembolso foi aprovado.'])[1 + ((t.id + m) % 8)::int],
       m % 2 = 0, t.customer_phone,
       CASE WHEN m % 2 = 0 THEN 'SMseed' || t.id || 'x' || m END,
       CASE WHEN m % 2 = 0 THEN 'received' ELSE 'delivered' END,
       t.created_at + make_interval(mins => m)
FROM tickets t, generate_series(0, ($2::bigint - 1)::int) AS m
WHERE t.company_id = $1::bigint";
