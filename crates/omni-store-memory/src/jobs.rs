//! The messaging crate's [`JobQueue`] in memory: jobs leased for a while, so a worker that
//! stops without finishing gives its job back when the lease runs out — as in PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omni_core::{CompanyId, JobId};
use omni_messaging::{ClaimedJob, Job, JobCount, JobKind, JobQueue, QueueError};

use crate::MemoryStore;
use crate::state::{JobRow, JobStatus};

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Whether a worker holds the job now.
fn is_held(job: &JobRow, now: DateTime<Utc>) -> bool {
    job.status == JobStatus::Running && job.locked_until.is_some_and(|t| t >= now)
}

/// Whether the job may be taken now: due, or held by a worker whose lease ran out.
fn is_ready(job: &JobRow, now: DateTime<Utc>) -> bool {
    match job.status {
        JobStatus::Queued => job.run_at <= now,
        JobStatus::Running => job.locked_until.is_none_or(|t| t < now),
        JobStatus::Dead => false,
    }
}

#[async_trait]
impl JobQueue for MemoryStore {
    async fn claim(
        &self,
        kinds: &[JobKind],
        limit: usize,
        lease: Duration,
        per_company: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let now = Utc::now();
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let mut state = self.lock();
        let mut busy: HashMap<Option<CompanyId>, usize> = HashMap::new();
        for job in state.jobs.values() {
            if kinds.contains(&job.kind) && is_held(job, now) {
                *busy.entry(job.company_id).or_default() += 1;
            }
        }
        let mut ready: Vec<(DateTime<Utc>, i64)> = state
            .jobs
            .iter()
            .filter(|(_, j)| kinds.contains(&j.kind) && is_ready(j, now))
            .map(|(id, j)| (j.run_at, *id))
            .collect();
        ready.sort_unstable();
        let mut claimed = Vec::new();
        for (_, id) in ready {
            if claimed.len() >= limit {
                break;
            }
            let Some(job) = state.jobs.get_mut(&id) else {
                continue;
            };
            // No company past its share of running jobs; jobs of no company are not capped.
            if let Some(company) = job.company_id {
                let running = busy.entry(Some(company)).or_default();
                if *running >= per_company {
                    continue;
                }
                *running += 1;
            }
            job.status = JobStatus::Running;
            job.locked_until = Some(after(now, lease));
            job.attempts += 1;
            job.updated_at = now;
            let Ok(kind) = job.kind.parse::<JobKind>() else {
                continue;
            };
            claimed.push(ClaimedJob {
                id: JobId::new(id),
                kind,
                job: Job::from_parts(job.kind, &job.payload),
                attempts: job.attempts,
                max_attempts: job.max_attempts,
            });
        }
        Ok(claimed)
    }

    async fn extend(&self, id: JobId, attempt: i32, lease: Duration) -> Result<bool, QueueError> {
        let now = Utc::now();
        let mut state = self.lock();
        match state.jobs.get_mut(&id.get()) {
            Some(job) if job.status == JobStatus::Running && job.attempts == attempt => {
                job.locked_until = Some(after(now, lease));
                job.updated_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn complete(&self, ids: &[JobId]) -> Result<(), QueueError> {
        let mut state = self.lock();
        for id in ids {
            // Only a job still running: one given back or taken over meanwhile is not done.
            if state
                .jobs
                .get(&id.get())
                .is_some_and(|job| job.status == JobStatus::Running)
            {
                state.jobs.remove(&id.get());
            }
        }
        Ok(())
    }

    async fn fail(&self, id: JobId, error: &str, delay: Duration) -> Result<bool, QueueError> {
        let now = Utc::now();
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(&id.get()) else {
            return Ok(false);
        };
        job.locked_until = None;
        job.last_error = Some(error.chars().take(2000).collect());
        job.status = if job.attempts >= job.max_attempts {
            JobStatus::Dead
        } else {
            JobStatus::Queued
        };
        job.run_at = after(now, delay);
        job.updated_at = now;
        Ok(job.status == JobStatus::Dead)
    }

    async fn release(&self, id: JobId) -> Result<(), QueueError> {
        if let Some(job) = self.lock().jobs.get_mut(&id.get())
            && job.status == JobStatus::Running
        {
            job.status = JobStatus::Queued;
            job.locked_until = None;
            job.attempts = (job.attempts - 1).max(0);
            job.updated_at = Utc::now();
        }
        Ok(())
    }

    async fn prune_finished(&self, retention: Duration) -> Result<usize, QueueError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let mut state = self.lock();
        let before = state.jobs.len();
        state
            .jobs
            .retain(|_, j| !(j.status == JobStatus::Dead && j.updated_at < cutoff));
        Ok(before - state.jobs.len())
    }

    async fn counts(&self) -> Result<Vec<JobCount>, QueueError> {
        let mut counts: HashMap<(&str, &str), i64> = HashMap::new();
        for job in self.lock().jobs.values() {
            *counts.entry((job.kind, job.status.as_str())).or_default() += 1;
        }
        let mut counts: Vec<JobCount> = counts
            .into_iter()
            .map(|((kind, status), count)| JobCount {
                kind: kind.to_owned(),
                status: status.to_owned(),
                count,
            })
            .collect();
        counts.sort_by(|a, b| (&a.kind, &a.status).cmp(&(&b.kind, &b.status)));
        Ok(counts)
    }
}
