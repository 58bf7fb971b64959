//! Group commit for inbound messages, and the one way an inbound message is stored.
//!
//! Webhooks arrive concurrently; committing each in its own transaction costs a WAL flush
//! and about eight round trips apiece. Here concurrent deliveries are gathered — whatever
//! has queued while the previous batch ran, never waiting for more — and stored in one
//! transaction with set-based statements, each prepared once per connection
//! (`batch_sql`): one to find redeliveries and one to lock the customers' open tickets
//! (pipelined), one insert of the tickets new customers open, one insert of all the
//! messages, one update of all the tickets, one insert of all the events and one of the
//! triage jobs (pipelined), one commit. Each webhook is still answered only once its own
//! rows are committed. Delivery reports queue beside the messages and commit in the same
//! transaction (`status_batch`): the status callbacks of replies cost no commit of their
//! own.
//!
//! What each message does to its ticket (open it, reopen it, only join it, whether triage
//! runs) is the ticketing domain's decision (`Ticket::take_customer_message`); these
//! statements only write it. A message stored alone (no runtime to batch on, or the retry
//! of a batch that failed as a whole — a deadlock with another instance, a concurrent
//! redelivery) is a batch of one through the same statements.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_core::MessageId;
use omni_messaging::{
    Inbound, InboundOutcome, Job, MessagingError, StatusReport, TicketMessage,
    events as message_events,
};
use omni_ticketing::{
    FieldChange, Ticket, TicketChanges, TicketFact, TicketStatus, events as ticket_events,
};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::batch_sql::{InsertInbound, InsertTickets, LockOpenTickets, SeenSids, TouchTickets};
use crate::events::EventColumns;
use crate::facts::FactColumns;
use crate::jobs::JobColumns;
use crate::messages::{MessageRow, undecodable};
use crate::notifier::Announce;
use crate::schema::{ticket_messages, tickets};
use crate::send_batch::{BeginOutcome, Finish};
use crate::status_batch::StatusOutcome;
use crate::tickets::TicketRow;
use crate::{Database, PooledConnection};

/// Most messages in one transaction.
const MAX_BATCH: usize = 128;
/// Batches in flight at once: while one waits for its commit to reach disk, another is
/// being written. Measured on 2 cores with PostgreSQL beside Omni, webhooks/s at 64
/// connections: 1 lane 3,900–4,400, 2 lanes 5,260–5,730, 3 lanes 5,440–5,490, 4 lanes
/// 4,940–5,140, 8 lanes 3,440–3,490 — more lanes make smaller batches, and more backends
/// competing for the same cores. Tickets are locked in id order, so batches cannot deadlock
/// each other.
const LANES: usize = 2;
/// Deliveries waiting for a batch, beyond which callers wait to enqueue.
const QUEUE: usize = 4096;
/// Times a piece of work goes back to the queue while its provider id is locked elsewhere
/// (most often by the other lane's batch, committing the send's answer a report is about)
/// before it is done alone, waiting for the lock in a transaction of its own.
const MAX_DEFERRALS: u8 = 20;
/// How long left-out work waits before it goes back to the queue: the lock's holder gets a
/// moment to commit.
const DEFERRED_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

type Outcome = Result<InboundOutcome, MessagingError>;

/// Why an inbound transaction rolled back.
#[derive(Debug)]
enum InboundTxError {
    /// The database's failure.
    Db(diesel::result::Error),
    /// A concurrent delivery of the same `MessageSid` won: everything this one did is
    /// undone, and the winner's message is the answer.
    Duplicate,
}

impl From<diesel::result::Error> for InboundTxError {
    fn from(e: diesel::result::Error) -> Self {
        InboundTxError::Db(e)
    }
}

impl std::fmt::Display for InboundTxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InboundTxError::Db(e) => e.fmt(f),
            InboundTxError::Duplicate => f.write_str("a concurrent delivery stored the message"),
        }
    }
}

/// What a lane commits: a customer's message, a provider's delivery report, or the
/// worker's note that a send begins or the provider's answer to it.
enum Work {
    Inbound(Inbound),
    Status(StatusReport),
    BeginSend(MessageId),
    FinishSend(Finish),
}

/// What a lane answers, one per [`Work`] and of its kind.
enum Answer {
    Inbound(Box<Outcome>),
    Status(Box<StatusOutcome>),
    BeginSend(BeginOutcome),
    FinishSend(Result<(), MessagingError>),
    /// Not done here: its provider id is locked by another transaction (see
    /// `status_batch::try_lock_sids`); it goes back to the queue ([`try_again`]).
    Deferred,
}

impl Answer {
    /// The answer to `work` when the batch could not be stored at all.
    fn failed(work: &Work, err: MessagingError) -> Answer {
        match work {
            Work::Inbound(_) => Answer::Inbound(Box::new(Err(err))),
            Work::Status(_) => Answer::Status(Box::new(Err(err))),
            Work::BeginSend(_) => Answer::BeginSend(Err(err)),
            Work::FinishSend(_) => Answer::FinishSend(Err(err)),
        }
    }
}

struct Pending {
    work: Work,
    reply: oneshot::Sender<Answer>,
    /// Batches that left it out, its provider id locked by another transaction.
    deferrals: u8,
}

/// The group commit of webhooks: the queue in front of the batching tasks (started on
/// first use), taking customers' messages and delivery reports alike.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: OnceLock<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

/// A lane answered with the other kind: cannot happen, but is never taken for "not stored".
fn mismatched<T>() -> Result<T, MessagingError> {
    Err(MessagingError::unknown(
        "a batch answered with the wrong kind",
    ))
}

impl GroupCommit {
    /// Stores `inbound` in the next batch; `None` when no batch can take it (no async
    /// runtime, or the batching tasks are gone), and the caller stores it alone.
    pub(crate) async fn submit(&self, db: &Database, inbound: &Inbound) -> Option<Outcome> {
        match self.submit_work(db, Work::Inbound(inbound.clone())).await? {
            Answer::Inbound(outcome) => Some(*outcome),
            _ => Some(mismatched()),
        }
    }

    /// Applies a delivery report in the next batch; `None` as for [`Self::submit`].
    pub(crate) async fn submit_status(
        &self,
        db: &Database,
        report: &StatusReport,
    ) -> Option<StatusOutcome> {
        match self.submit_work(db, Work::Status(report.clone())).await? {
            Answer::Status(outcome) => Some(*outcome),
            _ => Some(mismatched()),
        }
    }

    /// Notes in the next batch that a send of message `id` begins; `None` as for
    /// [`Self::submit`].
    pub(crate) async fn submit_begin_send(
        &self,
        db: &Database,
        id: MessageId,
    ) -> Option<BeginOutcome> {
        match self.submit_work(db, Work::BeginSend(id)).await? {
            Answer::BeginSend(outcome) => Some(outcome),
            _ => Some(mismatched()),
        }
    }

    /// Records the provider's answer to a send in the next batch; `None` as for
    /// [`Self::submit`].
    pub(crate) async fn submit_finish_send(
        &self,
        db: &Database,
        finish: Finish,
    ) -> Option<Result<(), MessagingError>> {
        match self.submit_work(db, Work::FinishSend(finish)).await? {
            Answer::FinishSend(outcome) => Some(outcome),
            _ => Some(mismatched()),
        }
    }

    async fn submit_work(&self, db: &Database, work: Work) -> Option<Answer> {
        let queue = self.queue.get_or_init(|| start(db.clone()));
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending {
                work,
                reply,
                deferrals: 0,
            })
            .await
            .ok()?;
        answer.await.ok()
    }
}

fn start(db: Database) -> mpsc::Sender<Pending> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        for _ in 0..LANES {
            runtime.spawn(lane(db.clone(), rx.clone(), tx.downgrade()));
        }
    }
    // Without a runtime the receiver is dropped: `submit` sees a closed queue and the
    // caller stores the message alone.
    tx
}

/// Takes batches off the queue and stores them. Work a batch left out (its provider id
/// locked by another transaction) comes back through `again`, the queue's own sender.
async fn lane(
    db: Database,
    queue: Arc<Mutex<mpsc::Receiver<Pending>>>,
    again: mpsc::WeakSender<Pending>,
) {
    // While work keeps coming the lane keeps its connection: taking one from the pool
    // costs a round trip to verify it, once per batch. It goes back to the pool whenever the
    // lane would wait — for the queue (another lane is taking a batch) or for work.
    let mut held: Option<PooledConnection> = None;
    loop {
        let batch = {
            let mut queue = match queue.try_lock() {
                Ok(queue) => queue,
                Err(_) => {
                    held = None;
                    queue.lock().await
                }
            };
            let first = match queue.try_recv() {
                Ok(first) => first,
                Err(_) => {
                    held = None;
                    let Some(first) = queue.recv().await else {
                        return;
                    };
                    first
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let work: Vec<&Work> = batch.iter().map(|p| &p.work).collect();
        let answers = store(&db, &mut held, &work).await;
        for (pending, answer) in batch.into_iter().zip(answers) {
            if let Answer::Deferred = answer {
                tokio::spawn(try_again(db.clone(), again.clone(), pending));
                continue;
            }
            // A caller that went away (client disconnected) just doesn't hear back.
            let _ = pending.reply.send(answer);
        }
    }
}

/// Work a batch left out goes back to the queue after a pause (the lock's holder, most
/// often the other lane's batch, has most likely committed by then) and into whichever
/// batch comes next; after [`MAX_DEFERRALS`] tries, or with the queue gone, it waits for the
/// lock in a transaction of its own. No lane waits for it meanwhile.
async fn try_again(db: Database, again: mpsc::WeakSender<Pending>, mut pending: Pending) {
    pending.deferrals += 1;
    if pending.deferrals <= MAX_DEFERRALS {
        tokio::time::sleep(DEFERRED_WAIT).await;
        if let Some(queue) = again.upgrade() {
            match queue.send(pending).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => pending = back,
            }
        }
    }
    let answer = alone(&db, &pending.work).await;
    let _ = pending.reply.send(answer);
}

/// Stores a batch: together when it can (less the work whose provider id another
/// transaction holds, answered [`Answer::Deferred`]), else each alone. `held` is the lane's
/// connection: taken from the pool when there is none, kept only after a batch that
/// committed.
async fn store(db: &Database, held: &mut Option<PooledConnection>, batch: &[&Work]) -> Vec<Answer> {
    let all_unavailable = |why: String| -> Vec<Answer> {
        batch
            .iter()
            .map(|work| Answer::failed(work, MessagingError::Unavailable(why.clone())))
            .collect()
    };
    // A connection the server closed since the last batch is not reused.
    let reusable = held
        .take()
        .and_then(|mut conn| (!PoolableConnection::is_broken(&mut *conn)).then_some(conn));
    let mut conn = match reusable {
        Some(conn) => conn,
        None => match db.conn().await {
            Ok(conn) => conn,
            Err(e) => return all_unavailable(e.to_string()),
        },
    };
    let (mut inbound, mut reports): (Vec<&Inbound>, Vec<&StatusReport>) = (vec![], vec![]);
    let (mut begins, mut finishes): (Vec<MessageId>, Vec<&Finish>) = (vec![], vec![]);
    for work in batch {
        match work {
            Work::Inbound(m) => inbound.push(m),
            Work::Status(r) => reports.push(r),
            Work::BeginSend(id) => begins.push(*id),
            Work::FinishSend(f) => finishes.push(f),
        }
    }
    // The sids this batch records or looks for are locked first, before any row lock, so
    // that a report and its send's answer cannot miss each other; the locks are only tried
    // (no lane waits for another's commit), and work whose sid is held elsewhere is left
    // out of this batch (`Answer::Deferred`).
    let recorded: Vec<&str> = finishes.iter().filter_map(|f| f.sid.as_deref()).collect();
    // Causes before effects: a send's answer before the reports on that send.
    let together = conn
        .transaction(async |conn| {
            let refused = crate::status_batch::try_lock_sids(conn, &recorded, &reports).await?;
            let finishes: Vec<&Finish> = finishes
                .iter()
                .copied()
                .filter(|f| !f.sid.as_ref().is_some_and(|s| refused.contains(s)))
                .collect();
            let reports: Vec<&StatusReport> = reports
                .iter()
                .copied()
                .filter(|r| !refused.contains(&r.message_sid))
                .collect();
            let (outcomes, enqueued) = if inbound.is_empty() {
                (Vec::new(), false)
            } else {
                store_together(conn, &inbound).await?
            };
            let began = if begins.is_empty() {
                Vec::new()
            } else {
                crate::send_batch::begin_together(conn, &begins).await?
            };
            let finished = if finishes.is_empty() {
                Vec::new()
            } else {
                crate::send_batch::finish_together(conn, &finishes).await?
            };
            let moved = if reports.is_empty() {
                Vec::new()
            } else {
                crate::status_batch::apply_together(conn, &reports).await?
            };
            let sent = Sent { began, finished };
            Ok::<_, InboundTxError>((outcomes, enqueued, sent, moved, refused))
        })
        .await;
    let (outcomes, enqueued, sent, moved, refused) = match together {
        Ok(done) => {
            *held = Some(conn);
            done
        }
        // The database went away: one by one would only wait for it once per message.
        Err(InboundTxError::Db(e)) if crate::errors::lost_connection(&e) => {
            return all_unavailable(e.to_string());
        }
        Err(why) => {
            // Back to the pool first: the one-by-one path takes connections of its own.
            drop(conn);
            tracing::debug!(size = batch.len(), %why, "batch failed; storing its work one by one");
            let mut answers = Vec::with_capacity(batch.len());
            for work in batch {
                answers.push(alone(db, work).await);
            }
            // Each announced for itself.
            return answers;
        }
    };
    if !inbound.is_empty()
        || moved.iter().any(Option::is_some)
        || sent.finished.iter().any(|changed| *changed)
    {
        db.announce(Announce::Events);
    }
    // Jobs (triage) come only from first messages and reopenings; workers are not woken
    // for batches that only joined conversations.
    if enqueued {
        db.announce(Announce::Jobs);
    }
    let (mut outcomes, mut moved) = (outcomes.into_iter(), moved.into_iter());
    let (mut began, mut finished) = (sent.began.into_iter(), sent.finished.into_iter());
    let deferred = |work: &Work| match work {
        Work::Status(r) => refused.contains(&r.message_sid),
        Work::FinishSend(f) => f.sid.as_ref().is_some_and(|s| refused.contains(s)),
        Work::Inbound(_) | Work::BeginSend(_) => false,
    };
    batch
        .iter()
        .map(|work| match work {
            work if deferred(work) => Answer::Deferred,
            Work::Inbound(_) => {
                Answer::Inbound(Box::new(outcomes.next().map_or_else(mismatched, Ok)))
            }
            Work::Status(_) => Answer::Status(Box::new(Ok(moved.next().flatten()))),
            Work::BeginSend(_) => Answer::BeginSend(began.next().map_or_else(mismatched, Ok)),
            Work::FinishSend(_) => {
                Answer::FinishSend(finished.next().map_or_else(mismatched, |_changed| Ok(())))
            }
        })
        .collect()
}

/// Does one piece of work in a transaction of its own.
async fn alone(db: &Database, work: &Work) -> Answer {
    match work {
        Work::Inbound(m) => Answer::Inbound(Box::new(store_alone(db, m).await)),
        Work::Status(r) => Answer::Status(Box::new(crate::status_batch::apply_alone(db, r).await)),
        Work::BeginSend(id) => Answer::BeginSend(crate::send_batch::begin_alone(db, *id).await),
        Work::FinishSend(f) => Answer::FinishSend(crate::send_batch::finish_alone(db, f).await),
    }
}

/// What the batch's send notes found: for each start, in order, its outcome; for each
/// answer, whether it changed its message.
struct Sent {
    began: Vec<Option<omni_messaging::SendStart>>,
    finished: Vec<bool>,
}

/// Stores one inbound message in a transaction of its own: a batch of one.
pub(crate) async fn store_alone(db: &Database, inbound: &Inbound) -> Outcome {
    let mut conn = db.conn().await.map_err(crate::messages::unavailable)?;
    let result = conn
        .transaction(async |conn| store_together(conn, &[inbound]).await)
        .await;
    match result {
        Ok((mut outcomes, enqueued)) => {
            db.announce(Announce::Events);
            if enqueued {
                db.announce(Announce::Jobs);
            }
            outcomes
                .pop()
                .ok_or_else(|| MessagingError::unknown("a batch of one answered nothing"))
        }
        // A concurrent delivery of the same MessageSid committed first: its message is
        // the answer, and nothing of this one was kept.
        Err(InboundTxError::Duplicate) => {
            let id: i64 = ticket_messages::table
                .filter(ticket_messages::company_id.eq(inbound.company_id.get()))
                .filter(ticket_messages::whatsapp_message_id.eq(&inbound.message_sid))
                .select(ticket_messages::id)
                .first(&mut conn)
                .await
                .map_err(crate::messages::store_error)?;
            Ok(InboundOutcome::Duplicate {
                message_id: MessageId::new(id),
            })
        }
        Err(InboundTxError::Db(e)) => Err(crate::messages::store_error(e)),
    }
}

#[derive(QueryableByName)]
struct Seen {
    #[diesel(sql_type = BigInt)]
    company_id: i64,
    #[diesel(sql_type = Text)]
    sid: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The appended messages, column by column (the insert takes one array per column).
#[derive(Default)]
struct InboundColumns<'a> {
    companies: Vec<i64>,
    tickets: Vec<i64>,
    contents: Vec<&'a str>,
    phones: Vec<&'a str>,
    sids: Vec<&'a str>,
    media: Vec<serde_json::Value>,
}

impl<'a> InboundColumns<'a> {
    fn push(&mut self, m: &'a Inbound, ticket: i64) {
        self.companies.push(m.company_id.get());
        self.tickets.push(ticket);
        self.contents.push(&m.body);
        self.phones.push(m.customer.as_str());
        self.sids.push(&m.message_sid);
        self.media.push(crate::messages::media_json(&m.media));
    }

    fn insert(&self) -> InsertInbound<'_> {
        InsertInbound {
            companies: &self.companies,
            tickets: &self.tickets,
            contents: &self.contents,
            phones: &self.phones,
            sids: &self.sids,
            media: &self.media,
        }
    }
}

/// The tickets the batch touches, column by column.
#[derive(Default)]
struct TouchColumns<'a> {
    ids: Vec<i64>,
    ats: Vec<DateTime<Utc>>,
    names: Vec<Option<&'a str>>,
    statuses: Vec<&'static str>,
    windows: Vec<Option<DateTime<Utc>>>,
    resolved: Vec<Option<DateTime<Utc>>>,
    reopened: Vec<Option<DateTime<Utc>>>,
}

impl TouchColumns<'_> {
    fn update(&self) -> TouchTickets<'_> {
        TouchTickets {
            ids: &self.ids,
            ats: &self.ats,
            names: &self.names,
            statuses: &self.statuses,
            windows: &self.windows,
            resolved: &self.resolved,
            reopened: &self.reopened,
        }
    }
}

/// The tickets new customers open, column by column.
#[derive(Default)]
struct NewTicketColumns<'a> {
    companies: Vec<i64>,
    integrations: Vec<i64>,
    phones: Vec<&'a str>,
    names: Vec<Option<&'a str>>,
    channels: Vec<&'static str>,
}

impl<'a> NewTicketColumns<'a> {
    fn push(&mut self, m: &'a Inbound) {
        self.companies.push(m.company_id.get());
        self.integrations.push(m.integration_id.get());
        self.phones.push(m.customer.as_str());
        self.names.push(m.customer_name.as_deref());
        self.channels.push(m.channel.as_str());
    }

    fn insert(&self) -> InsertTickets<'_> {
        InsertTickets {
            companies: &self.companies,
            integrations: &self.integrations,
            phones: &self.phones,
            names: &self.names,
            channels: &self.channels,
        }
    }
}

/// What to do with each message of the batch.
enum Plan {
    /// Already stored by an earlier delivery: that message's id.
    Seen(i64),
    /// A repeat of the message at this index of the batch.
    SameAs(usize),
    /// Stored by this batch.
    Store,
}

/// A message's identity within a company, borrowed from the batch or the rows read.
type Key<'a> = (i64, &'a str);

fn sid_of(m: &Inbound) -> Key<'_> {
    (m.company_id.get(), m.message_sid.as_str())
}

fn customer_of(m: &Inbound) -> Key<'_> {
    (m.company_id.get(), m.customer.as_str())
}

/// What the domain decided for one stored message.
struct Step {
    ticket: i64,
    /// The message opened its ticket.
    opened: bool,
    /// The status it moved the ticket to.
    status: Option<FieldChange<TicketStatus>>,
    /// What reports count of it (a reopening, a rating).
    facts: Vec<TicketFact>,
    /// It rated the service (the ticket's rating is the domain's, on the ticket).
    rated: bool,
}

/// Stores `batch` in the caller's transaction with set-based statements, whatever its
/// size (one included): the outcomes, and whether any triage job was enqueued.
async fn store_together(
    conn: &mut AsyncPgConnection,
    batch: &[&Inbound],
) -> Result<(Vec<InboundOutcome>, bool), InboundTxError> {
    let companies: Vec<i64> = batch.iter().map(|m| m.company_id.get()).collect();
    let sids: Vec<&str> = batch.iter().map(|m| m.message_sid.as_str()).collect();
    let phones: Vec<&str> = batch.iter().map(|m| m.customer.as_str()).collect();

    // Pipelined: once both are prepared on this connection (after its first batch), both go
    // out before either answer comes back.
    let pipe: &AsyncPgConnection = conn;
    let (seen_rows, locked) = futures_util::try_join!(
        SeenSids {
            companies: &companies,
            sids: &sids,
        }
        .load::<Seen>(&mut &*pipe),
        LockOpenTickets {
            companies: &companies,
            phones: &phones,
        }
        .load::<TicketRow>(&mut &*pipe),
    )?;
    let seen: HashMap<Key, i64> = seen_rows
        .iter()
        .map(|s| ((s.company_id, s.sid.as_str()), s.id))
        .collect();
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    let plans: Vec<Plan> = batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let key = sid_of(m);
            if let Some(id) = seen.get(&key) {
                Plan::Seen(*id)
            } else if let Some(first) = first_of.get(&key) {
                Plan::SameAs(*first)
            } else {
                first_of.insert(key, i);
                Plan::Store
            }
        })
        .collect();

    let mut open = OpenTickets::default();
    open.add(locked)?;
    let opened = open_missing(conn, batch, &plans, &mut open).await?;

    // The domain decides, message by message in the order they came: the first message
    // of a customer may open or reopen the ticket, the next ones then only join it.
    let mut rows = InboundColumns::default();
    let mut steps: Vec<Step> = Vec::new();
    let mut triage: Vec<(i64, Job)> = Vec::new();
    let mut announced_open: HashSet<i64> = HashSet::new();
    let now = Utc::now();
    for (m, plan) in batch.iter().zip(&plans) {
        if !matches!(plan, Plan::Store) {
            continue;
        }
        let ticket = open.get_mut(customer_of(m))?;
        let id = ticket.id.get();
        let opened_now = opened.contains(&id) && announced_open.insert(id);
        let effect = ticket.take_customer_message(opened_now, now, &m.body);
        if effect.triage {
            triage.push((
                ticket.company_id.get(),
                Job::Triage {
                    ticket_id: ticket.id,
                },
            ));
        }
        rows.push(m, id);
        steps.push(Step {
            ticket: id,
            opened: opened_now,
            status: effect.status,
            facts: effect.facts,
            rated: effect.rating.is_some(),
        });
    }

    // One insert of every message…
    let planned = rows.tickets.len();
    let stored_messages: Vec<TicketMessage> = if planned == 0 {
        Vec::new()
    } else {
        rows.insert()
            .load::<MessageRow>(conn)
            .await?
            .into_iter()
            .map(crate::messages::message)
            .collect::<QueryResult<_>>()?
    };
    // …a redelivery another transaction committed meanwhile undoes the batch: what it
    // decided assumed the message was new.
    if stored_messages.len() != planned {
        return Err(InboundTxError::Duplicate);
    }
    let stored: HashMap<Key, &TicketMessage> = stored_messages
        .iter()
        .map(|m| {
            let sid = m.whatsapp_message_id.as_deref().unwrap_or_default();
            ((m.company_id.get(), sid), m)
        })
        .collect();
    let stored_for = |m: &Inbound| {
        stored
            .get(&sid_of(m))
            .copied()
            .ok_or_else(|| undecodable("a stored message is missing".into()))
    };

    // …one update of every ticket it touched, as the domain left it: its newest message,
    // the customer's latest profile name, the status chosen above…
    let mut touched: Vec<Key> = Vec::new();
    for m in batch
        .iter()
        .zip(&plans)
        .filter(|(_, p)| matches!(p, Plan::Store))
        .map(|(m, _)| m)
    {
        let at = stored_for(m)?.created_at;
        open.get_mut(customer_of(m))?.note_customer_message(
            at,
            m.customer_name.as_deref(),
            m.channel,
        );
        if !touched.contains(&customer_of(m)) {
            touched.push(customer_of(m));
        }
    }
    let mut touch = TouchColumns::default();
    for customer in touched {
        let ticket = open.get(customer)?;
        touch.ids.push(ticket.id.get());
        touch.ats.push(
            ticket
                .last_message_at
                .ok_or_else(|| undecodable("a touched ticket has no message".into()))?,
        );
        touch.names.push(ticket.customer_name.as_deref());
        touch.statuses.push(ticket.status.as_str());
        touch.windows.push(ticket.window_closes_at);
        touch.resolved.push(ticket.resolved_at);
        touch.reopened.push(ticket.reopened_at);
    }
    let stored_in_order = || {
        batch
            .iter()
            .zip(&plans)
            .filter(|(_, p)| matches!(p, Plan::Store))
            .map(|(m, _)| *m)
    };
    let mut after: HashMap<i64, Ticket> = HashMap::new();
    let mut keep = |rows: Vec<TicketRow>| -> QueryResult<()> {
        for row in rows {
            let t = crate::messages::ticket(row)?;
            after.insert(t.id.get(), t);
        }
        Ok(())
    };
    // …then one insert of every event and one of every job. Triage runs exactly when a
    // message opened or reopened its ticket; without that, every event is a
    // `message.created`, which does not need the tickets as updated, and the update and the
    // events' insert go out together.
    // A rating is rare: written on its own, before the update reads the tickets back.
    let rated: Vec<i64> = steps.iter().filter(|s| s.rated).map(|s| s.ticket).collect();
    for id in &rated {
        let ticket = open
            .by_id(*id)
            .ok_or_else(|| undecodable("a rated ticket is missing".into()))?;
        if let Some(rating) = &ticket.rating {
            diesel::update(tickets::table.filter(tickets::id.eq(*id)))
                .set((
                    tickets::rating_score.eq(i16::from(rating.score)),
                    tickets::rating_comment.eq(rating.comment.as_deref()),
                    tickets::rated_at.eq(rating.rated_at),
                ))
                .execute(conn)
                .await?;
        }
    }
    let pipe: &AsyncPgConnection = conn;
    if touch.ids.is_empty() {
        // Nothing stored: every message was a redelivery.
    } else if triage.is_empty() {
        let new_events = stored_in_order()
            .map(|m| stored_for(m).map(message_events::created))
            .collect::<QueryResult<Vec<_>>>()?;
        let events = EventColumns::new(&new_events);
        let (rows, _) = futures_util::try_join!(
            touch.update().load::<TicketRow>(&mut &*pipe),
            events.insert().execute(&mut &*pipe),
        )?;
        keep(rows)?;
    } else {
        keep(touch.update().load::<TicketRow>(&mut &*pipe).await?)?;
    }
    let after_of = |id: i64| {
        after
            .get(&id)
            .ok_or_else(|| undecodable("a touched ticket was not updated".into()))
    };
    if !triage.is_empty() {
        let mut new_events = Vec::with_capacity(steps.len() * 2);
        // Opening and reopening are the history reports count; both come with triage.
        let mut facts = FactColumns::default();
        for (m, step) in stored_in_order().zip(&steps) {
            let ticket = after_of(step.ticket)?;
            step.facts.iter().for_each(|f| facts.push(f));
            if step.opened {
                ticket.opening_facts().iter().for_each(|f| facts.push(f));
                new_events.push(ticket_events::created(ticket));
            } else if let Some(status) = &step.status {
                let changes = TicketChanges {
                    status: Some(status.clone()),
                    ..TicketChanges::default()
                };
                new_events.push(ticket_events::updated(ticket, &changes));
            }
            new_events.push(message_events::created(stored_for(m)?));
        }
        let events = EventColumns::new(&new_events);
        let jobs = JobColumns::of(triage.iter().map(|(company, job)| (Some(*company), job)));
        if facts.is_empty() {
            futures_util::try_join!(
                events.insert().execute(&mut &*pipe),
                jobs.insert().execute(&mut &*pipe),
            )?;
        } else {
            futures_util::try_join!(
                events.insert().execute(&mut &*pipe),
                jobs.insert().execute(&mut &*pipe),
                facts.insert().execute(&mut &*pipe),
            )?;
        }
    }

    if !rated.is_empty() {
        let rated_events = rated
            .iter()
            .map(|id| after_of(*id).map(ticket_events::rated))
            .collect::<QueryResult<Vec<_>>>()?;
        EventColumns::new(&rated_events)
            .insert()
            .execute(conn)
            .await?;
        // With triage, the batch's facts went with its jobs.
        if triage.is_empty() {
            FactColumns::of(steps.iter().flat_map(|s| &s.facts))
                .insert()
                .execute(conn)
                .await?;
        }
    }

    // Repeats within the batch answer like redeliveries of the first.
    let mut outcomes: Vec<InboundOutcome> = Vec::with_capacity(batch.len());
    let mut steps = steps.iter();
    for (m, plan) in batch.iter().zip(&plans) {
        let outcome = match plan {
            Plan::Seen(id) => InboundOutcome::Duplicate {
                message_id: MessageId::new(*id),
            },
            Plan::SameAs(first) => match outcomes.get(*first) {
                Some(InboundOutcome::Stored { message, .. }) => InboundOutcome::Duplicate {
                    message_id: message.id,
                },
                Some(other) => other.clone(),
                None => return Err(undecodable("a repeat before its first".into()).into()),
            },
            Plan::Store => {
                let step = steps
                    .next()
                    .ok_or_else(|| undecodable("a stored message has no step".into()))?;
                InboundOutcome::Stored {
                    message: stored_for(m)?.clone(),
                    ticket: after_of(step.ticket)?.clone(),
                    new_ticket: step.opened,
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok((outcomes, !triage.is_empty()))
}

/// The customers' tickets that are not closed, as this batch sees them.
#[derive(Default)]
struct OpenTickets {
    by_customer: HashMap<(i64, String), Ticket>,
}

impl OpenTickets {
    fn add(&mut self, rows: Vec<TicketRow>) -> QueryResult<()> {
        for row in rows {
            let t = crate::messages::ticket(row)?;
            self.by_customer.insert(
                (t.company_id.get(), t.customer_phone.as_str().to_owned()),
                t,
            );
        }
        Ok(())
    }

    fn by_id(&self, id: i64) -> Option<&Ticket> {
        self.by_customer.values().find(|t| t.id.get() == id)
    }

    fn contains(&self, (company, phone): Key) -> bool {
        self.by_customer.contains_key(&(company, phone.to_owned()))
    }

    fn get(&self, (company, phone): Key) -> QueryResult<&Ticket> {
        self.by_customer
            .get(&(company, phone.to_owned()))
            .ok_or_else(|| undecodable("a customer of the batch has no ticket".into()))
    }

    fn get_mut(&mut self, (company, phone): Key) -> QueryResult<&mut Ticket> {
        self.by_customer
            .get_mut(&(company, phone.to_owned()))
            .ok_or_else(|| undecodable("a customer of the batch has no ticket".into()))
    }
}

/// Opens a ticket for each customer of the batch who has none open, in a fixed order (so
/// that concurrent batches meet their common customers in the same order); returns the ids
/// of the tickets it opened.
async fn open_missing(
    conn: &mut AsyncPgConnection,
    batch: &[&Inbound],
    plans: &[Plan],
    open: &mut OpenTickets,
) -> Result<HashSet<i64>, InboundTxError> {
    let mut missing: BTreeMap<Key, &Inbound> = BTreeMap::new();
    for (m, plan) in batch.iter().zip(plans) {
        if matches!(plan, Plan::Store) && !open.contains(customer_of(m)) {
            missing.entry(customer_of(m)).or_insert(m);
        }
    }
    if missing.is_empty() {
        return Ok(HashSet::new());
    }
    let mut new = NewTicketColumns::default();
    for m in missing.values() {
        new.push(m);
    }
    let inserted = new.insert().load::<TicketRow>(conn).await?;
    let opened: HashSet<i64> = inserted.iter().map(TicketRow::id).collect();
    open.add(inserted)?;
    // The partial unique index arbitrates concurrent first messages: a customer whose
    // insert did nothing had a ticket opened by another transaction, which has committed
    // by now (the insert waited for it).
    let lost: Vec<Key> = missing
        .keys()
        .copied()
        .filter(|customer| !open.contains(*customer))
        .collect();
    if !lost.is_empty() {
        let companies: Vec<i64> = lost.iter().map(|k| k.0).collect();
        let phones: Vec<&str> = lost.iter().map(|k| k.1).collect();
        let rows = LockOpenTickets {
            companies: &companies,
            phones: &phones,
        }
        .load::<TicketRow>(conn)
        .await?;
        open.add(rows)?;
    }
    Ok(opened)
}

#[cfg(all(test, feature = "test-support"))]
#[path = "inbound_batch_tests.rs"]
mod tests;
