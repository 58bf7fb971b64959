//! The reports' tallies agree with a computation from scratch: a random history is counted
//! into rollups a few facts at a time, tickets change in between, the company's rules
//! change and its tallies are counted again — and after every step each report read from
//! the tallies (plus the facts not counted yet) equals the same report computed from the
//! whole history alone.

use chrono::{TimeDelta, Utc};
use omni_core::{CompanyId, UserId};
use omni_reports::{
    Breakdown, DayRange, GroupBy, ReportRead, ReportRules, ReportStore, Who, overview_from_data,
    overview_from_scratch,
};
use omni_store_postgres::test_db::TestDatabase;
use omni_store_postgres::{Database, PgReportStore};
use omni_tenancy::CompanySettings;
use tokio_postgres::Client;

use crate::client;

/// A small deterministic generator (xorshift), so that a failure repeats.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const KINDS: [&str; 9] = [
    "opened",
    "reopened",
    "resolved",
    "closed",
    "first_response",
    "replied",
    "assigned",
    "survey_sent",
    "rated",
];

async fn settings_of(c: &Client, company: i64) -> CompanySettings {
    let row = c
        .query_one(
            "SELECT settings::text FROM companies WHERE id = $1",
            &[&company],
        )
        .await
        .unwrap();
    serde_json::from_str(row.get::<_, &str>(0)).unwrap()
}

/// Every report shape, from the tallies and from scratch, compared.
async fn agree(store: &PgReportStore, c: &Client, company: i64, agents: &[i64], step: &str) {
    let rules = ReportRules::of(&settings_of(c, company).await);
    let history = store.history(CompanyId::new(company)).await.unwrap();
    let today = Utc::now().date_naive();
    let ranges = [
        DayRange::new(today - TimeDelta::days(89), today).unwrap(),
        DayRange::new(today - TimeDelta::days(40), today - TimeDelta::days(20)).unwrap(),
    ];
    let mut whos = vec![Who::Team];
    whos.extend(agents.iter().map(|a| Who::Agent(UserId::new(*a))));
    for range in ranges {
        for who in &whos {
            for (by, breakdown) in [
                (GroupBy::Day, None),
                (GroupBy::Week, Some(Breakdown::Category)),
                (GroupBy::Month, Some(Breakdown::Priority)),
                (GroupBy::Day, Some(Breakdown::Sentiment)),
                (GroupBy::Week, Some(Breakdown::Channel)),
            ] {
                let read = ReportRead {
                    company: CompanyId::new(company),
                    days: range,
                    who: *who,
                    breakdown,
                };
                let data = store.read(&read).await.unwrap();
                let from_tallies =
                    overview_from_data(read.company, &rules, range, by, breakdown, *who, &data);
                let from_scratch = overview_from_scratch(
                    read.company,
                    &rules,
                    range,
                    by,
                    breakdown,
                    *who,
                    history.clone(),
                );
                assert_eq!(
                    from_tallies, from_scratch,
                    "{step}: {who:?} {by} {breakdown:?} {range:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn tallies_agree_with_the_history_counted_from_scratch() {
    let test_db = TestDatabase::new().await.unwrap();
    let c = client(&test_db).await;
    let store = PgReportStore::new(Database::new(test_db.config().unwrap()).unwrap());
    let company: i64 = c
        .query_one(
            r#"INSERT INTO companies (name, settings) VALUES ('A', '{
                "timezone": "America/New_York",
                "business_hours": {"monday": {"start": "09:00", "end": "17:00"},
                                   "friday": {"start": "09:00", "end": "13:30"}},
                "sla": {"urgent": {"first_response_minutes": 30, "resolution_minutes": 600},
                        "low": {"resolution_minutes": 2880}}
             }') RETURNING id"#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let other: i64 = c
        .query_one(
            "INSERT INTO companies (name) VALUES ('B') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut agents = Vec::new();
    for n in 0..3 {
        let id: i64 = c
            .query_one(
                "INSERT INTO users (company_id, email, password_hash, name, role) \
                 VALUES ($1, $2, 'x', $3, 'agent') RETURNING id",
                &[&company, &format!("a{n}@a.test"), &format!("Agent {n}")],
            )
            .await
            .unwrap()
            .get(0);
        agents.push(id);
    }
    let mut tickets = Vec::new();
    for n in 0..12 {
        let id: i64 = c
            .query_one(
                "INSERT INTO tickets (company_id, customer_phone, channel, priority, category, \
                     sentiment, sentiment_score) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &company,
                    &format!("+55119876500{n:02}"),
                    &["whatsapp", "sms"][n % 2],
                    &["low", "medium", "high", "urgent"][n % 4],
                    &[Some("billing"), None, Some("sales")][n % 3],
                    &[Some("negative"), Some("neutral"), None][n % 3],
                    &[Some(-0.5f64), Some(0.0), None][n % 3],
                ],
            )
            .await
            .unwrap()
            .get(0);
        tickets.push(id);
    }
    // A ticket deleted since: its facts have no fields to count under.
    tickets.push(tickets.last().unwrap() + 1_000);

    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let now = Utc::now();
    for n in 0..1_500 {
        let kind = KINDS[dice.below(KINDS.len() as u64) as usize];
        // Up to 100 days ago, never within the last ten minutes (facts settle after two).
        let at = now - TimeDelta::minutes(10 + dice.below(100 * 24 * 60) as i64);
        let since = matches!(kind, "resolved" | "first_response")
            .then(|| at - TimeDelta::seconds(dice.below(5 * 24 * 3600) as i64));
        let agent = (dice.below(3) > 0).then(|| agents[dice.below(3) as usize]);
        let score = (kind == "rated").then(|| 1 + dice.below(5) as i16);
        let ticket = tickets[dice.below(tickets.len() as u64) as usize];
        let company_of = if n % 50 == 0 { other } else { company };
        c.execute(
            "INSERT INTO ticket_facts (company_id, ticket_id, kind, at, since, agent_id, score) \
             VALUES ($1, $2, $3, $4::text::timestamptz, $5::text::timestamptz, $6, $7)",
            &[
                &company_of,
                &ticket,
                &kind,
                &at.to_rfc3339(),
                &since.map(|s| s.to_rfc3339()),
                &agent,
                &score,
            ],
        )
        .await
        .unwrap();
    }
    // One fact too recent to settle.
    c.execute(
        "INSERT INTO ticket_facts (company_id, ticket_id, kind, at) VALUES ($1, $2, 'opened', now())",
        &[&company, &tickets[0]],
    )
    .await
    .unwrap();

    agree(&store, &c, company, &agents, "nothing settled").await;
    let mut settled = 0;
    for round in 0.. {
        let n = store.settle(97).await.unwrap();
        settled += n;
        if n == 0 {
            break;
        }
        // Tickets change between rounds: settled facts keep the fields they settled with.
        c.execute(
            "UPDATE tickets SET category = $2, priority = $3 WHERE id = $1",
            &[
                &tickets[round % 12],
                &["billing", "sales", "support"][round % 3],
                &["low", "medium", "high", "urgent"][round % 4],
            ],
        )
        .await
        .unwrap();
        if round % 4 == 0 {
            agree(&store, &c, company, &agents, &format!("round {round}")).await;
        }
    }
    assert_eq!(settled, 1_500, "every due fact of both companies settled");
    let unsettled: i64 = c
        .query_one("SELECT count(*) FROM ticket_facts WHERE NOT settled", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unsettled, 1, "the recent fact waits");
    agree(&store, &c, company, &agents, "all settled").await;

    // New rules: the days move to another zone, the hours and targets change; a recount
    // counts everything again under them.
    c.execute(
        r#"UPDATE companies SET settings = settings || '{"timezone": "Asia/Kathmandu",
             "business_hours": {"saturday": {"start": "10:00", "end": "24:00"}},
             "sla": {"medium": {"first_response_minutes": 90}}}' WHERE id = $1"#,
        &[&company],
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO report_recounts (company_id) VALUES ($1)",
        &[&company],
    )
    .await
    .unwrap();
    assert_eq!(
        store.recounts_requested().await.unwrap(),
        [CompanyId::new(company)]
    );
    assert!(store.rebuild(CompanyId::new(company), true).await.unwrap());
    assert!(
        !store.rebuild(CompanyId::new(company), true).await.unwrap(),
        "answered: nothing left to recount"
    );
    assert!(store.recounts_requested().await.unwrap().is_empty());
    agree(&store, &c, company, &agents, "recounted").await;

    // The other company's tallies hold only its own facts.
    assert_eq!(
        store.history(CompanyId::new(other)).await.unwrap().len(),
        30
    );
    agree(&store, &c, other, &[], "the other company").await;
}
