//! The reports crate's [`ReportStore`] on PostgreSQL: tickets' facts (`ticket_facts`)
//! counted into daily tallies (`report_rollups`) by the rollup job, under each company's
//! advisory lock, with the company's rules as the reports domain applies them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Int4, Interval, Nullable, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_core::{CompanyId, TicketId, UserId};
use omni_reports::{
    Dims, Group, Person, ReportData, ReportError, ReportRead, ReportRules, ReportStore,
    SETTLE_AFTER, SettledFact, Tally, TallyKey, Who, fold,
};
use omni_tenancy::CompanySettings;
use omni_ticketing::TicketFact;

use crate::Database;
use crate::errors::lost_connection;
use crate::schema::{companies, report_recounts, report_rollups, users};

/// The class of the advisory locks that keep one writer at a time on a company's
/// tallies (the rollup job, a recount).
const TALLY_LOCK: i32 = 0x5250_5254;

/// Facts read and counted at a time by a recount.
const RECOUNT_CHUNK: i64 = 20_000;

/// Rollup rows written per statement (21 parameters each, under PostgreSQL's 65,535).
const ROWS_PER_INSERT: usize = 1_000;

/// Reports in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgReportStore {
    db: Database,
}

impl PgReportStore {
    /// A store over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn store_error(e: diesel::result::Error) -> ReportError {
    if lost_connection(&e) {
        ReportError::Unavailable(e.to_string())
    } else {
        ReportError::Unknown(e.to_string())
    }
}

fn unavailable(e: crate::StoreError) -> ReportError {
    match e {
        crate::StoreError::Unavailable(cause) => ReportError::Unavailable(cause),
        other => ReportError::Unknown(other.to_string()),
    }
}

fn undecodable(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

/// A fact with the fields it is broken down by: stored ones once settled, the ticket's
/// current ones before.
#[derive(QueryableByName)]
struct FactRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    company_id: i64,
    #[diesel(sql_type = BigInt)]
    ticket_id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    agent_id: Option<i64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::SmallInt>)]
    score: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    category: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    priority: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    sentiment: Option<String>,
}

impl FactRow {
    fn settled(&self) -> QueryResult<SettledFact> {
        let corrupt = |what: &str| undecodable(format!("fact {} has an invalid {what}", self.id));
        Ok(SettledFact {
            fact: TicketFact {
                company_id: CompanyId::new(self.company_id),
                ticket_id: TicketId::new(self.ticket_id),
                kind: self.kind.parse().map_err(|_| corrupt("kind"))?,
                at: self.at,
                since: self.since,
                agent: self.agent_id.map(UserId::new),
                score: self
                    .score
                    .map(u8::try_from)
                    .transpose()
                    .map_err(|_| corrupt("score"))?,
            },
            dims: Dims {
                channel: self.channel.as_deref().and_then(|c| c.parse().ok()),
                category: self.category.clone(),
                priority: self.priority.as_deref().and_then(|p| p.parse().ok()),
                sentiment: self.sentiment.as_deref().and_then(|s| s.parse().ok()),
            },
        })
    }
}

/// The columns of a fact with its fields: the stored ones once settled, the ticket's
/// current ones before (`f` the fact, `t` its ticket, if it still exists).
const FACT_COLUMNS: &str = "f.id, f.company_id, f.ticket_id, f.kind, f.at, f.since, f.agent_id, \
     f.score, CASE WHEN f.settled THEN f.channel ELSE t.channel END AS channel, \
     CASE WHEN f.settled THEN f.category ELSE t.category END AS category, \
     CASE WHEN f.settled THEN f.priority ELSE t.priority END AS priority, \
     CASE WHEN f.settled THEN f.sentiment ELSE t.sentiment END AS sentiment \
     FROM ticket_facts f \
     LEFT JOIN tickets t ON t.company_id = f.company_id AND t.id = f.ticket_id";

#[derive(Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = report_rollups, check_for_backend(diesel::pg::Pg))]
struct RollupRow {
    company_id: i64,
    agent_id: i64,
    grp: String,
    day: NaiveDate,
    opened: i64,
    reopened: i64,
    resolved: i64,
    closed: i64,
    backlog_change: i64,
    replies: i64,
    auto_replies: i64,
    assigned: i64,
    first_response: Vec<u8>,
    first_response_business: Vec<u8>,
    resolution: Vec<u8>,
    resolution_business: Vec<u8>,
    first_response_breaches: i64,
    resolution_breaches: i64,
    surveys_sent: i64,
    ratings: i64,
    rating_sum: i64,
}

impl RollupRow {
    fn of(company: i64, key: &TallyKey, t: &Tally) -> Self {
        Self {
            company_id: company,
            agent_id: key.agent.map_or(0, UserId::get),
            grp: key.group.as_ref().map(Group::to_text).unwrap_or_default(),
            day: key.day,
            opened: t.opened,
            reopened: t.reopened,
            resolved: t.resolved,
            closed: t.closed,
            backlog_change: t.backlog_change,
            replies: t.replies,
            auto_replies: t.auto_replies,
            assigned: t.assigned,
            first_response: t.first_response.to_bytes(),
            first_response_business: t.first_response_business.to_bytes(),
            resolution: t.resolution.to_bytes(),
            resolution_business: t.resolution_business.to_bytes(),
            first_response_breaches: t.first_response_breaches,
            resolution_breaches: t.resolution_breaches,
            surveys_sent: t.surveys_sent,
            ratings: t.ratings,
            rating_sum: t.rating_sum,
        }
    }

    fn into_tally(self) -> Option<(TallyKey, Tally)> {
        let group = if self.grp.is_empty() {
            None
        } else {
            Some(Group::from_text(&self.grp)?)
        };
        let key = TallyKey {
            day: self.day,
            agent: (self.agent_id != 0).then(|| UserId::new(self.agent_id)),
            group,
        };
        let tally = Tally {
            opened: self.opened,
            reopened: self.reopened,
            resolved: self.resolved,
            closed: self.closed,
            backlog_change: self.backlog_change,
            replies: self.replies,
            auto_replies: self.auto_replies,
            assigned: self.assigned,
            first_response: omni_reports::Durations::from_bytes(&self.first_response),
            first_response_business: omni_reports::Durations::from_bytes(
                &self.first_response_business,
            ),
            resolution: omni_reports::Durations::from_bytes(&self.resolution),
            resolution_business: omni_reports::Durations::from_bytes(&self.resolution_business),
            first_response_breaches: self.first_response_breaches,
            resolution_breaches: self.resolution_breaches,
            surveys_sent: self.surveys_sent,
            ratings: self.ratings,
            rating_sum: self.rating_sum,
        };
        Some((key, tally))
    }
}

/// Writes tallies over what is stored (the caller holds the company's lock).
async fn write_tallies(conn: &mut AsyncPgConnection, rows: &[RollupRow]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    use report_rollups::dsl as r;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        diesel::insert_into(report_rollups::table)
            .values(chunk)
            .on_conflict((r::company_id, r::agent_id, r::grp, r::day))
            .do_update()
            .set((
                r::opened.eq(excluded(r::opened)),
                r::reopened.eq(excluded(r::reopened)),
                r::resolved.eq(excluded(r::resolved)),
                r::closed.eq(excluded(r::closed)),
                r::backlog_change.eq(excluded(r::backlog_change)),
                r::replies.eq(excluded(r::replies)),
                r::auto_replies.eq(excluded(r::auto_replies)),
                r::assigned.eq(excluded(r::assigned)),
                r::first_response.eq(excluded(r::first_response)),
                r::first_response_business.eq(excluded(r::first_response_business)),
                r::resolution.eq(excluded(r::resolution)),
                r::resolution_business.eq(excluded(r::resolution_business)),
                r::first_response_breaches.eq(excluded(r::first_response_breaches)),
                r::resolution_breaches.eq(excluded(r::resolution_breaches)),
                r::surveys_sent.eq(excluded(r::surveys_sent)),
                r::ratings.eq(excluded(r::ratings)),
                r::rating_sum.eq(excluded(r::rating_sum)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The company's rules, from its settings (`None`: the company is gone).
async fn rules_of(conn: &mut AsyncPgConnection, company: i64) -> QueryResult<Option<ReportRules>> {
    let settings: Option<serde_json::Value> = companies::table
        .filter(companies::id.eq(company))
        .select(companies::settings)
        .first(conn)
        .await
        .optional()?;
    settings
        .map(|s| {
            serde_json::from_value::<CompanySettings>(s)
                .map(|s| ReportRules::of(&s))
                .map_err(|e| undecodable(format!("company {company} has invalid settings: {e}")))
        })
        .transpose()
}

/// The company's advisory lock key within [`TALLY_LOCK`]'s class: its id, folded into an
/// `int4` (two companies sharing a key only wait for each other).
fn company_lock(company: i64) -> i32 {
    i32::try_from(company.rem_euclid(i64::from(i32::MAX))).unwrap_or(0)
}

/// Takes the company's tally lock for the transaction, if nobody holds it.
async fn try_lock(conn: &mut AsyncPgConnection, company: i64) -> QueryResult<bool> {
    diesel::select(
        sql::<Bool>("pg_try_advisory_xact_lock(")
            .bind::<Int4, _>(TALLY_LOCK)
            .sql(", ")
            .bind::<Int4, _>(company_lock(company))
            .sql(")"),
    )
    .get_result(conn)
    .await
}

fn settle_after() -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(SETTLE_AFTER.num_microseconds().unwrap_or(0))
}

#[derive(QueryableByName)]
struct CompanyRow {
    #[diesel(sql_type = BigInt)]
    company_id: i64,
}

/// Settles up to `limit` of one company's due facts in a transaction of its own; none
/// when a recount holds the company.
async fn settle_company(
    conn: &mut AsyncPgConnection,
    company: i64,
    limit: usize,
) -> QueryResult<usize> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.transaction(async |conn| -> QueryResult<usize> {
        if !try_lock(conn, company).await? {
            return Ok(0);
        }
        let Some(rules) = rules_of(conn, company).await? else {
            return Ok(0);
        };
        let rows: Vec<FactRow> = diesel::sql_query(format!(
            "SELECT {FACT_COLUMNS} WHERE f.company_id = $1 AND NOT f.settled \
               AND f.at < now() - $2 ORDER BY f.at LIMIT $3 FOR UPDATE OF f SKIP LOCKED"
        ))
        .bind::<BigInt, _>(company)
        .bind::<Interval, _>(settle_after())
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?;
        let facts = rows
            .iter()
            .map(FactRow::settled)
            .collect::<QueryResult<Vec<_>>>()?;
        count_in(conn, company, &rules, &facts).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let text = |f: fn(&FactRow) -> Option<&String>| -> Vec<Option<&str>> {
            rows.iter().map(|r| f(r).map(String::as_str)).collect()
        };
        let (channels, categories, priorities, sentiments) = (
            text(|r| r.channel.as_ref()),
            text(|r| r.category.as_ref()),
            text(|r| r.priority.as_ref()),
            text(|r| r.sentiment.as_ref()),
        );
        diesel::sql_query(
            "UPDATE ticket_facts f SET settled = true, channel = u.channel, \
                 category = u.category, priority = u.priority, sentiment = u.sentiment \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 AS u(id, channel, category, priority, sentiment) \
             WHERE f.id = u.id",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<Nullable<Text>>, _>(&channels)
        .bind::<Array<Nullable<Text>>, _>(&categories)
        .bind::<Array<Nullable<Text>>, _>(&priorities)
        .bind::<Array<Nullable<Text>>, _>(&sentiments)
        .execute(conn)
        .await?;
        Ok(ids.len())
    })
    .await
}

/// Counts `facts` of one company into its stored tallies; the caller holds the lock.
async fn count_in(
    conn: &mut AsyncPgConnection,
    company: i64,
    rules: &ReportRules,
    facts: &[SettledFact],
) -> QueryResult<()> {
    let tallies = fold(facts, rules);
    let agents: Vec<i64> = tallies
        .keys()
        .map(|k| k.agent.map_or(0, UserId::get))
        .collect();
    let groups: Vec<String> = tallies
        .keys()
        .map(|k| k.group.as_ref().map(Group::to_text).unwrap_or_default())
        .collect();
    let days: Vec<NaiveDate> = tallies.keys().map(|k| k.day).collect();
    let stored: Vec<RollupRow> = diesel::sql_query(
        "SELECT r.* FROM report_rollups r \
         JOIN unnest($2::bigint[], $3::text[], $4::date[]) AS k(agent_id, grp, day) \
           ON r.agent_id = k.agent_id AND r.grp = k.grp AND r.day = k.day \
         WHERE r.company_id = $1",
    )
    .bind::<BigInt, _>(company)
    .bind::<Array<BigInt>, _>(&agents)
    .bind::<Array<Text>, _>(&groups)
    .bind::<Array<Date>, _>(&days)
    .load(conn)
    .await?;
    let mut merged: BTreeMap<TallyKey, Tally> = stored
        .into_iter()
        .filter_map(RollupRow::into_tally)
        .collect();
    for (key, tally) in &tallies {
        merged.entry(key.clone()).or_default().merge(tally);
    }
    let rows: Vec<RollupRow> = merged
        .iter()
        .map(|(k, t)| RollupRow::of(company, k, t))
        .collect();
    write_tallies(conn, &rows).await
}

#[async_trait]
impl ReportStore for PgReportStore {
    async fn read(&self, read: &ReportRead) -> Result<ReportData, ReportError> {
        let company = read.company.get();
        let (from, to) = (read.days.from(), read.days.to());
        let who = read.who;
        let breakdown = read.breakdown;
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // One snapshot: a fact settling meanwhile is either in a tally or unsettled.
        conn.build_transaction()
            .repeatable_read()
            .read_only()
            .run(async |conn| -> QueryResult<ReportData> {
                use report_rollups::dsl as r;
                let mut query = r::report_rollups
                    .filter(r::company_id.eq(company))
                    .filter(r::day.between(from, to))
                    .into_boxed();
                query = match who {
                    Who::Team => query.filter(r::agent_id.eq(0)),
                    Who::Agent(me) => query.filter(r::agent_id.eq(me.get())),
                    // Literal, so that even a generic plan uses the agents' partial index.
                    Who::EachAgent => query.filter(sql::<Bool>(
                        "report_rollups.agent_id <> 0 AND report_rollups.grp = ''",
                    )),
                };
                query = match breakdown {
                    None => query.filter(r::grp.eq("")),
                    Some(b) => {
                        query.filter(r::grp.eq("").or(r::grp.like(format!("{}:%", b.as_str()))))
                    }
                };
                let tallies = query
                    .select(RollupRow::as_select())
                    .load::<RollupRow>(conn)
                    .await?
                    .into_iter()
                    .filter_map(RollupRow::into_tally)
                    .collect();
                let backlog_before: Option<i64> = r::report_rollups
                    .filter(r::company_id.eq(company))
                    .filter(r::agent_id.eq(0))
                    .filter(r::grp.eq(""))
                    .filter(r::day.lt(from))
                    .select(sql::<Nullable<BigInt>>("sum(backlog_change)::bigint"))
                    .first::<Option<i64>>(conn)
                    .await?;
                let unsettled = diesel::sql_query(format!(
                    "SELECT {FACT_COLUMNS} WHERE f.company_id = $1 AND NOT f.settled"
                ))
                .bind::<BigInt, _>(company)
                .load::<FactRow>(conn)
                .await?
                .iter()
                .map(FactRow::settled)
                .collect::<QueryResult<Vec<_>>>()?;
                Ok(ReportData {
                    tallies,
                    backlog_before: backlog_before.unwrap_or(0),
                    unsettled,
                })
            })
            .await
            .map_err(store_error)
    }

    async fn people(&self, company: CompanyId) -> Result<Vec<Person>, ReportError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let rows: Vec<(i64, String)> = users::table
            .filter(users::company_id.eq(company.get()))
            .select((users::id, users::name))
            .order(users::id)
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Person {
                id: UserId::new(id),
                name,
            })
            .collect())
    }

    async fn settle(&self, limit: usize) -> Result<usize, ReportError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let due: Vec<CompanyRow> = diesel::sql_query(
            "SELECT DISTINCT company_id FROM ticket_facts WHERE NOT settled AND at < now() - $1",
        )
        .bind::<Interval, _>(settle_after())
        .load(&mut conn)
        .await
        .map_err(store_error)?;
        let mut settled = 0;
        // Each company in a transaction of its own: one being recounted, or failing, holds
        // up nobody else's.
        for company in due {
            if settled >= limit {
                break;
            }
            match settle_company(&mut conn, company.company_id, limit - settled).await {
                Ok(n) => settled += n,
                Err(e) if lost_connection(&e) => return Err(store_error(e)),
                Err(e) => tracing::warn!(
                    company_id = company.company_id,
                    error = %e,
                    "could not count the company's facts into its reports"
                ),
            }
        }
        Ok(settled)
    }

    async fn recounts_requested(&self) -> Result<Vec<CompanyId>, ReportError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let ids: Vec<i64> = report_recounts::table
            .select(report_recounts::company_id)
            .order(report_recounts::requested_at)
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(ids.into_iter().map(CompanyId::new).collect())
    }

    async fn rebuild(&self, company: CompanyId, requested_only: bool) -> Result<bool, ReportError> {
        let company = company.get();
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        conn.transaction(async |conn| -> QueryResult<bool> {
            if requested_only {
                // Another instance may be recounting it already: then there is nothing to do.
                if !try_lock(conn, company).await? {
                    return Ok(false);
                }
            } else {
                diesel::select(
                    sql::<diesel::sql_types::Untyped>("pg_advisory_xact_lock(")
                        .bind::<Int4, _>(TALLY_LOCK)
                        .sql(", ")
                        .bind::<Int4, _>(company_lock(company))
                        .sql(")"),
                )
                .execute(conn)
                .await?;
            }
            let requested: Option<DateTime<Utc>> = report_recounts::table
                .filter(report_recounts::company_id.eq(company))
                .select(report_recounts::requested_at)
                .first(conn)
                .await
                .optional()?;
            if requested_only && requested.is_none() {
                return Ok(false);
            }
            let Some(rules) = rules_of(conn, company).await? else {
                return Ok(false);
            };
            diesel::delete(report_rollups::table.filter(report_rollups::company_id.eq(company)))
                .execute(conn)
                .await?;
            // In time order, so that a day's tallies are complete (and written) once a
            // later day's facts come.
            let mut pending: BTreeMap<TallyKey, Tally> = BTreeMap::new();
            let mut after: Option<(DateTime<Utc>, i64)> = None;
            loop {
                let rows: Vec<FactRow> = diesel::sql_query(format!(
                    "SELECT {FACT_COLUMNS} WHERE f.company_id = $1 AND f.settled \
                       AND ($2::timestamptz IS NULL OR (f.at, f.id) > ($2, $3)) \
                     ORDER BY f.at, f.id LIMIT $4"
                ))
                .bind::<BigInt, _>(company)
                .bind::<Nullable<diesel::sql_types::Timestamptz>, _>(after.map(|a| a.0))
                .bind::<BigInt, _>(after.map_or(0, |a| a.1))
                .bind::<BigInt, _>(RECOUNT_CHUNK)
                .load(conn)
                .await?;
                let Some(last) = rows.last() else { break };
                after = Some((last.at, last.id));
                let facts = rows
                    .iter()
                    .map(FactRow::settled)
                    .collect::<QueryResult<Vec<_>>>()?;
                let last_day = facts.last().map(|f| rules.day_of(f));
                for (key, tally) in fold(&facts, &rules) {
                    pending.entry(key).or_default().merge(&tally);
                }
                let done: Vec<TallyKey> = pending
                    .keys()
                    .filter(|k| last_day.is_some_and(|d| k.day < d))
                    .cloned()
                    .collect();
                let rows: Vec<RollupRow> = done
                    .iter()
                    .filter_map(|k| pending.remove(k).map(|t| RollupRow::of(company, k, &t)))
                    .collect();
                write_tallies(conn, &rows).await?;
            }
            let rows: Vec<RollupRow> = pending
                .iter()
                .map(|(k, t)| RollupRow::of(company, k, t))
                .collect();
            write_tallies(conn, &rows).await?;
            if let Some(requested) = requested {
                diesel::delete(
                    report_recounts::table
                        .filter(report_recounts::company_id.eq(company))
                        .filter(report_recounts::requested_at.le(requested)),
                )
                .execute(conn)
                .await?;
            }
            Ok(true)
        })
        .await
        .map_err(store_error)
    }

    async fn history(&self, company: CompanyId) -> Result<Vec<SettledFact>, ReportError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        diesel::sql_query(format!(
            "SELECT {FACT_COLUMNS} WHERE f.company_id = $1 ORDER BY f.id"
        ))
        .bind::<BigInt, _>(company.get())
        .load::<FactRow>(&mut conn)
        .await
        .map_err(store_error)?
        .iter()
        .map(FactRow::settled)
        .collect::<QueryResult<Vec<_>>>()
        .map_err(store_error)
    }
}
