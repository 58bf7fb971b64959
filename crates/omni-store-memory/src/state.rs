//! What the store holds: one table per kind of row, as the database has, and the
//! constraints the database would enforce.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use omni_core::{CompanyId, Cursor, Event, EventId, NewEvent, Page, PageRequest, UserId};
use omni_identity::{PasswordHash, TicketGrant, User};
use omni_messaging::{Job, TicketMessage};
use omni_tenancy::{Company, Integration};
use omni_ticketing::Ticket;

/// A message and what the store keeps beside it.
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub(crate) message: TicketMessage,
    /// The namespaced idempotency key it was created under.
    pub(crate) idempotency_key: Option<String>,
    /// When the first attempt to hand it to the provider began.
    pub(crate) send_started_at: Option<DateTime<Utc>>,
}

/// An uploaded file as the store keeps it.
#[derive(Debug, Clone)]
pub(crate) struct StoredUpload {
    pub(crate) upload: omni_messaging::Upload,
    pub(crate) bytes: bytes::Bytes,
    /// When a message last attached it (its retention counts from then).
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

/// Where a job is in its life (a done job is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobStatus {
    Queued,
    Running,
    Dead,
}

impl JobStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Dead => "dead",
        }
    }

    /// Queued or running: a job with the same key may not be added beside it.
    pub(crate) fn is_live(self) -> bool {
        matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// A job as the queue keeps it.
#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub(crate) company_id: Option<CompanyId>,
    pub(crate) kind: &'static str,
    pub(crate) payload: serde_json::Value,
    pub(crate) dedupe_key: String,
    pub(crate) status: JobStatus,
    pub(crate) run_at: DateTime<Utc>,
    pub(crate) locked_until: Option<DateTime<Utc>>,
    pub(crate) attempts: i32,
    pub(crate) max_attempts: i32,
    pub(crate) last_error: Option<String>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// How many times a job runs before it is dead (the database's default: with back-off
/// capped at a minute, about 36 minutes of retries).
pub(crate) const MAX_ATTEMPTS: i32 = 40;

/// A WebSocket ticket waiting to be taken.
#[derive(Debug, Clone)]
pub(crate) struct WsTicket {
    pub(crate) grant: TicketGrant,
    pub(crate) expires_at: DateTime<Utc>,
}

/// Every row, by id (ordered, as the database's keyset pages walk them).
#[derive(Debug, Default)]
pub(crate) struct State {
    last_id: i64,
    pub(crate) companies: BTreeMap<i64, Company>,
    pub(crate) users: BTreeMap<i64, (User, PasswordHash)>,
    pub(crate) revoked: HashMap<String, (UserId, DateTime<Utc>)>,
    pub(crate) ws_tickets: HashMap<String, WsTicket>,
    pub(crate) integrations: BTreeMap<i64, Integration>,
    pub(crate) tickets: BTreeMap<i64, Ticket>,
    pub(crate) messages: BTreeMap<i64, StoredMessage>,
    pub(crate) events: BTreeMap<i64, Event>,
    pub(crate) pruned_through: i64,
    pub(crate) jobs: BTreeMap<i64, JobRow>,
    /// Delivery reports that named no message yet, in arrival order, with when they came.
    pub(crate) early_reports: Vec<(omni_messaging::StatusReport, DateTime<Utc>)>,
    /// Uploaded files with their bytes, and when a message last attached each.
    pub(crate) uploads: BTreeMap<i64, StoredUpload>,
    /// Tickets' history, in the order it was written.
    pub(crate) facts: Vec<omni_ticketing::TicketFact>,
}

impl State {
    /// A fresh id. One sequence for every table: ids stay unique per table and increase,
    /// which is all the ports promise.
    pub(crate) fn next_id(&mut self) -> i64 {
        self.last_id += 1;
        self.last_id
    }

    /// Appends events to the log, in order.
    pub(crate) fn append(&mut self, events: impl IntoIterator<Item = NewEvent>) {
        let now = Utc::now();
        for e in events {
            let id = self.next_id();
            self.events.insert(
                id,
                Event {
                    id: EventId::new(id),
                    event_type: e.event_type,
                    company_id: e.company_id,
                    ticket_id: e.ticket_id,
                    payload: e.payload,
                    occurred_at: now,
                },
            );
        }
    }

    /// Queues a job unless one with its key is already queued or running.
    pub(crate) fn enqueue(&mut self, company: Option<CompanyId>, job: &Job) {
        let kind = job.kind().as_str();
        let key = job.dedupe_key();
        if self
            .jobs
            .values()
            .any(|j| j.kind == kind && j.dedupe_key == key && j.status.is_live())
        {
            return;
        }
        let now = Utc::now();
        let id = self.next_id();
        self.jobs.insert(
            id,
            JobRow {
                company_id: company,
                kind,
                payload: job.payload(),
                dedupe_key: key,
                status: JobStatus::Queued,
                run_at: now,
                locked_until: None,
                attempts: 0,
                max_attempts: MAX_ATTEMPTS,
                last_error: None,
                updated_at: now,
            },
        );
    }

    /// Whether the user exists and belongs to the company.
    pub(crate) fn is_user_of(&self, user: UserId, company: CompanyId) -> bool {
        self.users
            .get(&user.get())
            .is_some_and(|(u, _)| u.company_id == Some(company))
    }
}

/// One keyset page of `rows` (a table, in id order): the rows after the request's cursor
/// that `keep` shows (as the caller's view of a row), as the database's
/// `WHERE id > $cursor … ORDER BY id LIMIT n + 1` pages them.
pub(crate) fn page_by_id<R, T: Clone>(
    rows: &BTreeMap<i64, R>,
    page: PageRequest,
    keep: impl Fn(&R) -> Option<&T>,
    id_of: impl Fn(&T) -> i64,
) -> Page<T> {
    let after = page.cursor.map_or(i64::MIN, |c| c.id);
    let items = rows
        .range(after.saturating_add(1)..)
        .filter_map(|(_, row)| keep(row))
        .take(usize::from(page.limit.get()) + 1)
        .cloned()
        .collect();
    Page::from_overfetch(items, page.limit, |t| Cursor {
        at: None,
        id: id_of(t),
    })
}
