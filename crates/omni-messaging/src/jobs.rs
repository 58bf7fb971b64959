//! The work done after the request that asked for it: typed jobs, the queue that keeps them
//! and the dispatcher that runs one.

use std::time::Duration;

use async_trait::async_trait;
use omni_core::{JobId, MessageId, TicketId};
use serde::{Deserialize, Serialize};

use crate::{DeliverError, MessagingService, SurveyJob, TriageJob};

/// A job: what the worker does later, durably, at least once (each handler makes a second
/// run harmless).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Triage a ticket that was just opened or reopened by its customer.
    Triage {
        /// The ticket.
        ticket_id: TicketId,
    },
    /// Hand a queued outbound message to its provider.
    Send {
        /// The message.
        message_id: MessageId,
    },
    /// Ask the customer of a ticket just resolved to rate the service.
    Survey {
        /// The ticket.
        ticket_id: TicketId,
    },
}

/// The kind of a [`Job`], as stored beside its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// [`Job::Triage`].
    Triage,
    /// [`Job::Send`].
    Send,
    /// [`Job::Survey`].
    Survey,
}

/// A stored job that does not read as a [`Job`]: an unknown kind or a payload that does not
/// fit it (written by another version, or by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a job: {0}")]
pub struct InvalidJob(String);

#[derive(Serialize, Deserialize)]
struct TriagePayload {
    ticket_id: TicketId,
}

#[derive(Serialize, Deserialize)]
struct SendPayload {
    message_id: MessageId,
}

impl JobKind {
    /// Every kind, in a stable order.
    pub const ALL: [JobKind; 3] = [JobKind::Triage, JobKind::Send, JobKind::Survey];

    /// The stored name (`triage`, `message.send`).
    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::Triage => "triage",
            JobKind::Send => "message.send",
            JobKind::Survey => "ticket.survey",
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobKind {
    type Err = InvalidJob;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| InvalidJob(format!("unknown kind `{s}`")))
    }
}

impl Job {
    /// Its kind.
    pub const fn kind(&self) -> JobKind {
        match self {
            Job::Triage { .. } => JobKind::Triage,
            Job::Send { .. } => JobKind::Send,
            Job::Survey { .. } => JobKind::Survey,
        }
    }

    /// While a job with this key (and kind) is queued or running, enqueueing the same one
    /// again adds nothing: a ticket reopened twice is triaged once.
    pub fn dedupe_key(&self) -> String {
        match self {
            Job::Triage { ticket_id } => format!("ticket:{ticket_id}"),
            Job::Send { message_id } => format!("message:{message_id}"),
            Job::Survey { ticket_id } => format!("ticket:{ticket_id}"),
        }
    }

    /// Its arguments, as stored.
    pub fn payload(&self) -> serde_json::Value {
        let value = match *self {
            Job::Triage { ticket_id } => serde_json::to_value(TriagePayload { ticket_id }),
            Job::Send { message_id } => serde_json::to_value(SendPayload { message_id }),
            Job::Survey { ticket_id } => serde_json::to_value(TriagePayload { ticket_id }),
        };
        // Structs of integers always serialise.
        value.unwrap_or_default()
    }

    /// Reads a stored job back.
    ///
    /// ```
    /// use omni_messaging::{Job, JobKind};
    /// let job = Job::Send { message_id: 9.into() };
    /// assert_eq!(Job::from_parts(JobKind::Send.as_str(), &job.payload()), Ok(job));
    /// assert!(Job::from_parts("triage", &serde_json::json!({})).is_err());
    /// ```
    pub fn from_parts(kind: &str, payload: &serde_json::Value) -> Result<Job, InvalidJob> {
        let bad = |e: serde_json::Error| InvalidJob(format!("`{kind}` payload: {e}"));
        match kind.parse::<JobKind>()? {
            JobKind::Triage => TriagePayload::deserialize(payload)
                .map(|p| Job::Triage {
                    ticket_id: p.ticket_id,
                })
                .map_err(bad),
            JobKind::Send => SendPayload::deserialize(payload)
                .map(|p| Job::Send {
                    message_id: p.message_id,
                })
                .map_err(bad),
            JobKind::Survey => TriagePayload::deserialize(payload)
                .map(|p| Job::Survey {
                    ticket_id: p.ticket_id,
                })
                .map_err(bad),
        }
    }
}

/// A job a worker holds under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The queue's id for it.
    pub id: JobId,
    /// Its kind as stored.
    pub kind: JobKind,
    /// The job, or why its payload does not read as one (the worker lets it die).
    pub job: Result<Job, InvalidJob>,
    /// Runs so far, this one included.
    pub attempts: i32,
    /// Runs allowed before it is dead.
    pub max_attempts: i32,
}

/// How many jobs of a kind are in a state (for metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    /// The kind, as stored (a kind this build does not know is counted too).
    pub kind: String,
    /// `queued`, `running` or `dead`.
    pub status: String,
    /// How many.
    pub count: i64,
}

/// The queue cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Its store cannot be reached.
    #[error("job queue unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("job queue failed: {0}")]
    Unknown(String),
}

/// Where jobs wait. Jobs are *enqueued* by the stores, in the same transaction as the
/// change that implies them (a message stored `queued` and its send job commit together);
/// this port is the worker's side.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Takes up to `limit` ready jobs of these kinds (or jobs whose holder's lease ran
    /// out) and leases them for `lease`, taking no company past `per_company` running jobs
    /// of these kinds at once, so that one tenant's backlog cannot hold every slot.
    async fn claim(
        &self,
        kinds: &[JobKind],
        limit: usize,
        lease: Duration,
        per_company: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError>;

    /// Extends the lease of a job still at work in its `attempt` (the claim's
    /// [`ClaimedJob::attempts`]); false when that attempt no longer holds it — its lease ran
    /// out and another worker took the job — so that the worker stops instead of running on
    /// beside the new holder.
    async fn extend(&self, id: JobId, attempt: i32, lease: Duration) -> Result<bool, QueueError>;

    /// The jobs are done, and forgotten (a done job keeps nothing anyone reads); a job no
    /// longer running (given back, failed, done) is left as it is. A worker records its finished jobs together: one write for every job that
    /// finished while the previous write was on its way.
    async fn complete(&self, ids: &[JobId]) -> Result<(), QueueError>;

    /// The job failed: it runs again after `delay`, or is dead once out of attempts.
    /// Returns whether it died.
    async fn fail(&self, id: JobId, error: &str, delay: Duration) -> Result<bool, QueueError>;

    /// Gives a job back unfinished (shutting down): it runs again at once, and this run
    /// does not count as an attempt.
    async fn release(&self, id: JobId) -> Result<(), QueueError>;

    /// Deletes jobs that ended longer than `retention` ago (dead ones: done jobs are not
    /// kept); returns how many.
    async fn prune_finished(&self, retention: Duration) -> Result<usize, QueueError>;

    /// Jobs not done, by kind and status.
    async fn counts(&self) -> Result<Vec<JobCount>, QueueError>;
}

/// Runs one job with the use case it names.
#[derive(Clone)]
pub struct JobHandler {
    messaging: MessagingService,
    triage: TriageJob,
    survey: SurveyJob,
}

impl JobHandler {
    /// The handler over the use cases jobs call.
    pub fn new(messaging: MessagingService, triage: TriageJob, survey: SurveyJob) -> Self {
        Self {
            messaging,
            triage,
            survey,
        }
    }

    /// Runs `job`; an error means "run it again later".
    pub async fn run(&self, job: Job) -> Result<(), DeliverError> {
        match job {
            Job::Send { message_id } => self.messaging.deliver(message_id).await,
            Job::Triage { ticket_id } => self.triage.run(ticket_id).await,
            Job::Survey { ticket_id } => self.survey.run(ticket_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_survive_the_trip_through_storage() {
        for job in [
            Job::Triage {
                ticket_id: TicketId::new(7),
            },
            Job::Send {
                message_id: MessageId::new(9),
            },
        ] {
            assert_eq!(
                Job::from_parts(job.kind().as_str(), &job.payload()),
                Ok(job)
            );
        }
        assert_eq!(
            Job::Triage {
                ticket_id: TicketId::new(7)
            }
            .payload(),
            serde_json::json!({ "ticket_id": 7 })
        );
        assert_eq!(
            Job::Send {
                message_id: MessageId::new(9)
            }
            .dedupe_key(),
            "message:9"
        );
    }

    #[test]
    fn what_does_not_read_as_a_job_says_why() {
        let err = Job::from_parts("email.send", &serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("email.send"));
        let err =
            Job::from_parts("message.send", &serde_json::json!({ "ticket_id": 1 })).unwrap_err();
        assert!(err.to_string().contains("message_id"), "{err}");
    }
}
