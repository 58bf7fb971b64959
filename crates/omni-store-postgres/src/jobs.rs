//! The durable job queue: jobs are rows, taken with `FOR UPDATE SKIP LOCKED` under a lease,
//! so that several workers (in several instances) never run one job at once and a crashed
//! worker's job runs again when its lease expires.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Interval, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{Database, StoreError};

/// The channel `NOTIFY` wakes workers on when a job is enqueued.
pub const JOBS_CHANNEL: &str = "omni_jobs";

/// A job a worker holds.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedJob {
    /// The job's id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// What to do (`message.send`, `triage`…).
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Its arguments.
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
    /// Runs so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Runs allowed before it is `dead`.
    #[diesel(sql_type = Integer)]
    pub max_attempts: i32,
}

/// Jobs in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgJobQueue {
    db: Database,
}

fn pg_interval(d: Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    )
}

/// Enqueues a job on `conn` (inside the caller's transaction); the caller announces it once
/// committed (`Database::announce`). A live job with the same kind and key makes this a
/// no-op.
pub(crate) async fn enqueue(
    conn: &mut AsyncPgConnection,
    company: Option<i64>,
    kind: &str,
    dedupe_key: &str,
    payload: &serde_json::Value,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO jobs (company_id, kind, dedupe_key, payload) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING",
    )
    .bind::<Nullable<BigInt>, _>(company)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(dedupe_key)
    .bind::<Jsonb, _>(payload)
    .execute(conn)
    .await?;
    Ok(())
}

impl PgJobQueue {
    /// A queue over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Takes up to `limit` ready jobs of these kinds (or jobs whose holder's lease ran out)
    /// and leases them for `lease`, taking no company past `per_company` running jobs of
    /// these kinds at once: one tenant's backlog cannot hold every slot. (Two instances
    /// claiming at the same instant may each see the other's claims unmade, so the cap is
    /// exact per instance and close across them.)
    pub async fn claim(
        &self,
        kinds: &[&str],
        limit: i64,
        lease: Duration,
        per_company: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let mut conn = self.db.conn().await?;
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        let jobs = diesel::sql_query(
            "WITH ready AS ( \
                 SELECT id, company_id, run_at FROM jobs WHERE kind = ANY($1) \
                   AND ((status = 'queued' AND run_at <= now()) OR (status = 'running' AND locked_until < now())) \
                 ORDER BY run_at, id LIMIT $2 * 8 FOR UPDATE SKIP LOCKED), \
             busy AS ( \
                 SELECT company_id, count(*) AS n FROM jobs \
                  WHERE status = 'running' AND locked_until >= now() AND kind = ANY($1) \
                    AND company_id IN (SELECT company_id FROM ready) \
                  GROUP BY company_id), \
             chosen AS ( \
                 SELECT r.id FROM ( \
                     SELECT ready.*, row_number() OVER (PARTITION BY company_id ORDER BY run_at, id) AS k \
                       FROM ready) r \
                   LEFT JOIN busy b ON b.company_id = r.company_id \
                  WHERE r.company_id IS NULL OR r.k + coalesce(b.n, 0) <= $4 \
                  ORDER BY r.run_at, r.id LIMIT $2) \
             UPDATE jobs SET status = 'running', locked_until = now() + $3, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM chosen) \
             RETURNING id, kind, payload, attempts, max_attempts",
        )
        .bind::<Array<Text>, _>(kinds)
        .bind::<BigInt, _>(limit)
        .bind::<Interval, _>(pg_interval(lease))
        .bind::<BigInt, _>(per_company)
        .load::<ClaimedJob>(&mut conn)
        .await?;
        Ok(jobs)
    }

    /// Extends the lease of a job still running here, so that a slow job is not taken over
    /// by another worker while it is still at work. False if the job is no longer ours.
    pub async fn extend(&self, id: i64, lease: Duration) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        let n = diesel::sql_query(
            "UPDATE jobs SET locked_until = now() + $2 WHERE id = $1 AND status = 'running'",
        )
        .bind::<BigInt, _>(id)
        .bind::<Interval, _>(pg_interval(lease))
        .execute(&mut conn)
        .await?;
        Ok(n > 0)
    }

    /// The job is done.
    pub async fn complete(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::sql_query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, last_error = NULL WHERE id = $1",
        )
        .bind::<BigInt, _>(id)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// The job failed: it runs again after `delay`, or is `dead` once out of attempts.
    /// Returns whether it died.
    pub async fn fail(&self, id: i64, error: &str, delay: Duration) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        #[derive(QueryableByName)]
        struct Status {
            #[diesel(sql_type = Text)]
            status: String,
        }
        let status: Option<Status> = diesel::sql_query(
            "UPDATE jobs SET locked_until = NULL, last_error = $2, \
               status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
               run_at = now() + $3 \
             WHERE id = $1 RETURNING status",
        )
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(error.chars().take(2000).collect::<String>())
        .bind::<Interval, _>(pg_interval(delay))
        .get_result(&mut conn)
        .await
        .optional()?;
        Ok(status.is_some_and(|s| s.status == "dead"))
    }

    /// Gives a job back unfinished (shutting down): it runs again at once elsewhere, and
    /// this run does not count as an attempt.
    pub async fn release(&self, id: i64) -> Result<(), StoreError> {
        let mut conn = self.db.conn().await?;
        diesel::sql_query(
            "UPDATE jobs SET status = 'queued', locked_until = NULL, attempts = greatest(attempts - 1, 0) \
             WHERE id = $1 AND status = 'running'",
        )
        .bind::<BigInt, _>(id)
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Deletes jobs that finished (done or dead) longer than `retention` ago; returns how
    /// many. The queue would otherwise grow by a row per message forever.
    pub async fn prune_finished(&self, retention: Duration) -> Result<usize, StoreError> {
        let mut conn = self.db.conn().await?;
        let deleted = diesel::sql_query(
            "DELETE FROM jobs WHERE status IN ('done', 'dead') AND updated_at < now() - $1",
        )
        .bind::<Interval, _>(pg_interval(retention))
        .execute(&mut conn)
        .await?;
        Ok(deleted)
    }

    /// Jobs by status, for metrics and tests. Done jobs are not counted: they are history
    /// (and pruned), and counting them would scan the table on every scrape.
    pub async fn counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = Text)]
            kind: String,
            #[diesel(sql_type = Text)]
            status: String,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.db.conn().await?;
        let rows: Vec<Count> =
            diesel::sql_query(
                "SELECT kind, status, count(*) AS n FROM jobs WHERE status <> 'done' GROUP BY kind, status",
            )
                .load(&mut conn)
                .await?;
        Ok(rows.into_iter().map(|c| (c.kind, c.status, c.n)).collect())
    }
}
