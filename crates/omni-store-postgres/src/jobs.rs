//! The durable job queue: jobs are rows, taken with `FOR UPDATE SKIP LOCKED` under a lease,
//! so that several workers (in several instances) never run one job at once and a crashed
//! worker's job runs again when its lease expires.

use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Interval, Jsonb, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use omni_core::JobId;
use omni_messaging::{ClaimedJob, Job, JobCount, JobKind, JobQueue, QueueError};

use crate::batch_sql::{ClaimJobs, CompleteJobs, InsertJobs};
use crate::{Database, StoreError};

/// The channel `NOTIFY` wakes workers on when a job is enqueued.
pub const JOBS_CHANNEL: &str = "omni_jobs";

/// A claimed row, before it is read as a [`Job`].
#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Integer)]
    max_attempts: i32,
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

fn queue_error(e: StoreError) -> QueueError {
    match e {
        StoreError::Unavailable(why) => QueueError::Unavailable(why),
        other => QueueError::Unknown(other.to_string()),
    }
}

/// Enqueues `job` on `conn` (inside the caller's transaction); the caller announces it once
/// committed (`Database::announce`). A live job with the same kind and key makes this a
/// no-op.
pub(crate) async fn enqueue(
    conn: &mut AsyncPgConnection,
    company: Option<i64>,
    job: &Job,
) -> QueryResult<()> {
    JobColumns::new(company, std::slice::from_ref(job))
        .insert()
        .execute(conn)
        .await?;
    Ok(())
}

/// Jobs laid out column by column, as the set-based insert takes them.
pub(crate) struct JobColumns {
    companies: Vec<Option<i64>>,
    kinds: Vec<&'static str>,
    keys: Vec<String>,
    payloads: Vec<serde_json::Value>,
}

impl JobColumns {
    /// `jobs`, each on behalf of `company` (none: the operator's).
    pub(crate) fn new(company: Option<i64>, jobs: &[Job]) -> Self {
        Self::of(jobs.iter().map(|job| (company, job)))
    }

    /// Jobs, each with its company.
    pub(crate) fn of<'j>(jobs: impl IntoIterator<Item = (Option<i64>, &'j Job)>) -> Self {
        let mut columns = Self {
            companies: Vec::new(),
            kinds: Vec::new(),
            keys: Vec::new(),
            payloads: Vec::new(),
        };
        for (company, job) in jobs {
            columns.companies.push(company);
            columns.kinds.push(job.kind().as_str());
            columns.keys.push(job.dedupe_key());
            columns.payloads.push(job.payload());
        }
        columns
    }

    /// The insert of these jobs (to run on any connection, pipelined or not).
    pub(crate) fn insert(&self) -> InsertJobs<'_> {
        InsertJobs {
            companies: &self.companies,
            kinds: &self.kinds,
            keys: &self.keys,
            payloads: &self.payloads,
        }
    }
}

impl PgJobQueue {
    /// A queue over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl JobQueue for PgJobQueue {
    // Two instances claiming at the same instant may each see the other's claims unmade,
    // so the per-company cap is exact per instance and close across them.
    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn claim(
        &self,
        kinds: &[JobKind],
        limit: usize,
        lease: Duration,
        per_company: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let mut conn = self.db.conn().await.map_err(queue_error)?;
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        // Prepared once per connection: the claim runs many times a second under load.
        let rows = ClaimJobs {
            kinds: &kinds,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            lease: pg_interval(lease),
            per_company: i64::try_from(per_company).unwrap_or(i64::MAX),
        }
        .load::<ClaimedRow>(&mut conn)
        .await
        .map_err(|e| queue_error(e.into()))?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                // The query asked for known kinds only.
                let kind = row.kind.parse::<JobKind>().ok()?;
                Some(ClaimedJob {
                    id: JobId::new(row.id),
                    kind,
                    job: Job::from_parts(&row.kind, &row.payload),
                    attempts: row.attempts,
                    max_attempts: row.max_attempts,
                })
            })
            .collect())
    }

    async fn extend(&self, id: JobId, attempt: i32, lease: Duration) -> Result<bool, QueueError> {
        self.extend_lease(id.get(), attempt, lease)
            .await
            .map_err(queue_error)
    }

    async fn complete(&self, ids: &[JobId]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        let mut conn = self.db.conn().await.map_err(queue_error)?;
        CompleteJobs { ids: &ids }
            .execute(&mut conn)
            .await
            .map_err(|e| queue_error(e.into()))?;
        Ok(())
    }

    async fn fail(&self, id: JobId, error: &str, delay: Duration) -> Result<bool, QueueError> {
        self.mark_failed(id.get(), error, delay)
            .await
            .map_err(queue_error)
    }

    async fn release(&self, id: JobId) -> Result<(), QueueError> {
        self.give_back(id.get()).await.map_err(queue_error)
    }

    async fn prune_finished(&self, retention: Duration) -> Result<usize, QueueError> {
        self.delete_finished(retention).await.map_err(queue_error)
    }

    async fn counts(&self) -> Result<Vec<JobCount>, QueueError> {
        self.count_by_status().await.map_err(queue_error)
    }
}

impl PgJobQueue {
    /// Extends the lease of a job still running here, so that a slow job is not taken over
    /// by another worker while it is still at work. False if the job is no longer ours.
    async fn extend_lease(
        &self,
        id: i64,
        attempt: i32,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.db.conn().await?;
        // Each claim counts an attempt: the count tells this holder from a later one.
        let n = diesel::sql_query(
            "UPDATE jobs SET locked_until = now() + $2 \
             WHERE id = $1 AND status = 'running' AND attempts = $3",
        )
        .bind::<BigInt, _>(id)
        .bind::<Interval, _>(pg_interval(lease))
        .bind::<Integer, _>(attempt)
        .execute(&mut conn)
        .await?;
        Ok(n > 0)
    }

    /// The job failed: it runs again after `delay`, or is `dead` once out of attempts.
    /// Returns whether it died.
    async fn mark_failed(&self, id: i64, error: &str, delay: Duration) -> Result<bool, StoreError> {
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
    async fn give_back(&self, id: i64) -> Result<(), StoreError> {
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

    /// Deletes jobs that died longer than `retention` ago; returns how many (done jobs
    /// are deleted as they finish).
    async fn delete_finished(&self, retention: Duration) -> Result<usize, StoreError> {
        let mut conn = self.db.conn().await?;
        let deleted =
            diesel::sql_query("DELETE FROM jobs WHERE status = 'dead' AND updated_at < now() - $1")
                .bind::<Interval, _>(pg_interval(retention))
                .execute(&mut conn)
                .await?;
        Ok(deleted)
    }

    /// Jobs by status, for metrics and tests: the live ones and the dead (a done job is
    /// deleted when it finishes, so the table stays as small as the work in hand).
    async fn count_by_status(&self) -> Result<Vec<JobCount>, StoreError> {
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
            diesel::sql_query("SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status")
                .load(&mut conn)
                .await?;
        Ok(rows
            .into_iter()
            .map(|c| JobCount {
                kind: c.kind,
                status: c.status,
                count: c.n,
            })
            .collect())
    }
}
