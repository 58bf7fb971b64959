//! The durable job worker: takes jobs from PostgreSQL (`FOR UPDATE SKIP LOCKED`, leased),
//! woken by `LISTEN/NOTIFY` with a slow poll as a safety net, runs a bounded number at
//! once, retries failures with exponential back-off and jitter until a job is `dead`, and on
//! shutdown stops taking jobs and gives back those it could not finish.

use std::sync::Arc;
use std::time::Duration;

use omni_core::JobId;
use omni_messaging::{ClaimedJob, JobHandler, JobKind, JobQueue};
use omni_store_postgres::{DbConfig, JOBS_CHANNEL};
use rand::Rng as _;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::WorkerConfig;

/// The kinds of job this worker runs; others wait in the queue for a worker that knows them.
/// Sends and triage run in lanes of their own: a Vera that hangs fills triage's slots,
/// never the ones replies go out through.
const SEND_KINDS: &[JobKind] = &[JobKind::Send];
/// The survey's question is a database write: it waits with triage, never with replies.
const TRIAGE_KINDS: &[JobKind] = &[JobKind::Triage, JobKind::Survey];

/// A running worker; [`WorkerHandle::shutdown`] stops it.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops taking jobs, lets running ones finish within `grace`, gives back the rest.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace + Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            tracing::warn!("job worker did not stop in time");
        }
    }
}

/// Starts the worker.
pub fn start(
    config: WorkerConfig,
    db: DbConfig,
    queue: Arc<dyn JobQueue>,
    handler: JobHandler,
    grace: Duration,
) -> WorkerHandle {
    let (stop, stopped) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    tokio::spawn(crate::listener::listen_forever(
        db,
        JOBS_CHANNEL,
        wake.clone(),
        stopped.clone(),
    ));
    let sends = Lane {
        kinds: SEND_KINDS,
        concurrency: config.concurrency,
    };
    let triage = Lane {
        kinds: TRIAGE_KINDS,
        concurrency: config.triage_concurrency,
    };
    // Each lane has its own wake-up: one notification wakes both, as either may have work.
    let (send_wake, triage_wake) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    {
        let (send_wake, triage_wake, mut stopped) =
            (send_wake.clone(), triage_wake.clone(), stopped.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = wake.notified() => {
                        send_wake.notify_one();
                        triage_wake.notify_one();
                    }
                    _ = stopped.changed() => return,
                }
            }
        });
    }
    let task = tokio::spawn(async move {
        let (done, finished) = mpsc::unbounded_channel();
        let completions = tokio::spawn(record_completions(queue.clone(), finished));
        let triage_lane = tokio::spawn(run(
            config.clone(),
            triage,
            Ports {
                queue: queue.clone(),
                handler: handler.clone(),
                done: done.clone(),
            },
            triage_wake,
            stopped.clone(),
            grace,
        ));
        let ports = Ports {
            queue,
            handler,
            done,
        };
        run(config, sends, ports, send_wake, stopped, grace).await;
        let _ = triage_lane.await;
        // Both lanes are gone, and with them every sender: the last completions are
        // written before the worker says it stopped.
        let _ = completions.await;
    });
    WorkerHandle { stop, task }
}

/// What a lane works with: the queue, the handler, and where finished jobs are reported.
#[derive(Clone)]
struct Ports {
    queue: Arc<dyn JobQueue>,
    handler: JobHandler,
    done: mpsc::UnboundedSender<JobId>,
}

/// How long an idle lane waits, once woken, before it claims: the jobs enqueued meanwhile
/// come in the same claim. Under the conversations mix a claim took one job (4,778 claims
/// for about as many jobs, each planned anew: half a millisecond of the database's time).
const CLAIM_GATHER: Duration = Duration::from_millis(10);

/// Most jobs marked done in one write.
const MAX_COMPLETIONS: usize = 512;
/// Tries of a write of finished jobs before they are left to their leases.
const COMPLETION_ATTEMPTS: u32 = 3;

/// Marks finished jobs done, together: whatever finished while the previous write was on
/// its way goes in the next one. Each job otherwise cost a commit of its own after its
/// work — under load a quarter of the worker's commits. A job whose completion is lost
/// (the instance dies first) runs again when its lease expires, which every handler makes
/// harmless.
async fn record_completions(
    queue: Arc<dyn JobQueue>,
    mut finished: mpsc::UnboundedReceiver<JobId>,
) {
    while let Some(first) = finished.recv().await {
        let mut ids = vec![first];
        while ids.len() < MAX_COMPLETIONS {
            match finished.try_recv() {
                Ok(next) => ids.push(next),
                Err(_) => break,
            }
        }
        // A write that fails would send every job in it round again once its lease
        // expires: it is tried a few times first.
        for attempt in 1..=COMPLETION_ATTEMPTS {
            match queue.complete(&ids).await {
                Ok(()) => break,
                Err(e) if attempt == COMPLETION_ATTEMPTS => {
                    tracing::warn!(jobs = ids.len(), error = %e, "could not record finished jobs; their leases will expire");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await,
            }
        }
    }
}

/// A lane: the kinds of job it takes and how many it runs at once.
#[derive(Clone, Copy)]
struct Lane {
    kinds: &'static [JobKind],
    concurrency: usize,
}

async fn run(
    config: WorkerConfig,
    lane: Lane,
    ports: Ports,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut held: std::collections::HashMap<tokio::task::Id, JobId> =
        std::collections::HashMap::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        while let Some(done) = running.try_join_next_with_id() {
            forget(&mut held, Some(done));
        }
        let free = lane.concurrency.saturating_sub(running.len());
        if free > 0 {
            match ports
                .queue
                .claim(lane.kinds, free, config.lease, config.per_company)
                .await
            {
                Ok(jobs) => {
                    let claimed_all = jobs.len() == free;
                    for job in jobs {
                        let id = job.id;
                        let handle = running.spawn(run_job(job, ports.clone(), config.lease));
                        held.insert(handle.id(), id);
                    }
                    if claimed_all {
                        // There may be more: look again as soon as a slot frees.
                        tokio::select! {
                            done = running.join_next_with_id() => forget(&mut held, done),
                            _ = stopped.changed() => {}
                        }
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot take jobs"),
            }
        }
        tokio::select! {
            _ = wake.notified() => {
                // Jobs come one per notification: claiming at once took one job per claim.
                // A moment's wait lets the next few arrive and be taken in the same claim.
                tokio::select! {
                    _ = tokio::time::sleep(CLAIM_GATHER) => {}
                    _ = stopped.changed() => {}
                }
            }
            _ = tokio::time::sleep(config.poll_interval) => {}
            done = running.join_next_with_id(), if !running.is_empty() => forget(&mut held, done),
            _ = stopped.changed() => {}
        }
    }
    // Shutting down: let running jobs finish within the grace period; give back the rest.
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(deadline);
    while !running.is_empty() {
        tokio::select! {
            done = running.join_next_with_id() => forget(&mut held, done),
            _ = &mut deadline => break,
        }
    }
    running.abort_all();
    // A job that ended between the deadline and the abort has recorded its outcome (or
    // queued its completion): only the ones cut short are given back.
    while let Some(done) = running.join_next_with_id().await {
        forget(&mut held, Some(done));
    }
    for job in held.into_values() {
        if let Err(e) = ports.queue.release(job).await {
            tracing::warn!(job = %job, error = %e, "could not give back a job; its lease will expire");
        }
    }
    tracing::info!("job worker stopped");
}

/// A job task has ended: its job is no longer held by this lane — unless it was cut short
/// (aborted at shutdown), and is given back. A job that panicked is left to its lease.
fn forget(
    held: &mut std::collections::HashMap<tokio::task::Id, JobId>,
    done: Option<Result<(tokio::task::Id, ()), tokio::task::JoinError>>,
) {
    match done {
        Some(Ok((id, ()))) => {
            held.remove(&id);
        }
        Some(Err(e)) if !e.is_cancelled() => {
            held.remove(&e.id());
        }
        _ => {}
    }
}

/// Exponential back-off with ±20 % jitter: 2 s, 4 s, 8 s… capped at a minute, so that a
/// provider back from an outage hears from Omni within a minute; the queue's 40 attempts
/// then span about 36 minutes before a job is dead.
fn backoff(attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    let base = Duration::from_secs(2)
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(60));
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter)
}

async fn run_job(job: ClaimedJob, ports: Ports, lease: Duration) {
    let work = async {
        match &job.job {
            Ok(work) => ports.handler.run(*work).await.map_err(|e| e.0),
            // Running it again will not make it readable.
            Err(invalid) => Err(invalid.to_string()),
        }
    };
    tokio::pin!(work);
    // A job still at work keeps its lease: renewed every third of it, so a slow provider
    // does not make another worker run the same job a second time.
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + lease / 3, lease / 3);
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            _ = renew.tick() => match ports.queue.extend(job.id, job.attempts, lease).await {
                Ok(true) => {}
                // Another worker holds the job now: stop here (a send not yet made is not
                // made twice) and record nothing over the new holder's run.
                Ok(false) => {
                    tracing::warn!(job = %job.id, "a running job's lease was taken over; stopping it");
                    return;
                }
                Err(e) => tracing::warn!(job = %job.id, error = %e, "could not extend a job's lease"),
            },
        }
    };
    record(&job, &ports, outcome).await;
}

async fn record(job: &ClaimedJob, ports: &Ports, outcome: Result<(), String>) {
    let kind = job.kind.as_str();
    let recorded = match outcome {
        Ok(()) => {
            metrics::counter!("omni_jobs_processed_total", "kind" => kind, "outcome" => "done")
                .increment(1);
            // The writer outlives the lanes; were it gone, the lease would expire and the
            // job run again, harmlessly.
            let _ = ports.done.send(job.id);
            Ok(())
        }
        Err(why) => {
            let delay = backoff(job.attempts);
            match ports.queue.fail(job.id, &why, delay).await {
                Ok(true) => {
                    metrics::counter!("omni_jobs_processed_total", "kind" => kind, "outcome" => "dead").increment(1);
                    tracing::error!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %why, "job is dead");
                    Ok(())
                }
                Ok(false) => {
                    metrics::counter!("omni_jobs_processed_total", "kind" => kind, "outcome" => "retried").increment(1);
                    tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %why, retry_in = ?delay, "job failed; will retry");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(job = %job.id, error = %e, "could not record a job's outcome; its lease will expire");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(1);
        assert!(
            first >= Duration::from_millis(1600) && first <= Duration::from_millis(2400),
            "{first:?}"
        );
        let fifth = backoff(5);
        assert!(
            fifth >= Duration::from_millis(25_600) && fifth <= Duration::from_millis(38_400),
            "{fifth:?}"
        );
        assert!(backoff(30) <= Duration::from_secs(72));
        // Forty attempts outlast a 30-minute outage.
        let total: Duration = (1..40).map(backoff).sum();
        assert!(total >= Duration::from_secs(30 * 60), "{total:?}");
    }
}
