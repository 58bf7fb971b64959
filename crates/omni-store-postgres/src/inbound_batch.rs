//! Group commit for inbound messages.
//!
//! Webhooks arrive concurrently; committing each in its own transaction costs a WAL flush
//! and about eight round trips apiece. Here concurrent deliveries are gathered — whatever
//! has queued while the previous batch ran, never waiting for more — and stored in one
//! transaction with set-based statements, each prepared once per connection
//! (`batch_sql`): one to find redeliveries and one to lock the customers' tickets
//! (pipelined), one insert of all the messages, one update of all the tickets and one
//! insert of all the events (pipelined), one commit. Each webhook is still answered only
//! once its own rows are committed.
//!
//! Messages that need more than "append to an open conversation" (a first message, one that
//! reopens a ticket) take the one-by-one path inside the same transaction. Should the batch
//! fail as a whole (a deadlock with another instance, a concurrent redelivery), every
//! message is stored again on its own, exactly as without batching.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_core::MessageId;
use omni_messaging::{
    Inbound, InboundOutcome, MessagingError, TicketMessage, events as message_events,
};
use omni_ticketing::Ticket;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::batch_sql::{InsertInbound, LockOpenTickets, SeenSids, TouchTickets};
use crate::events::EventColumns;
use crate::messages::{InboundTxError, MessageRow, undecodable};
use crate::notifier::Announce;
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

type Outcome = Result<InboundOutcome, MessagingError>;

struct Pending {
    inbound: Inbound,
    reply: oneshot::Sender<Outcome>,
}

/// The queue in front of the batching tasks (started on first use).
#[derive(Default)]
pub(crate) struct InboundBatcher {
    queue: OnceLock<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for InboundBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundBatcher").finish_non_exhaustive()
    }
}

impl InboundBatcher {
    /// Stores `inbound` in the next batch; `None` when no batch can take it (no async
    /// runtime, or the batching tasks are gone), and the caller stores it alone.
    pub(crate) async fn submit(&self, db: &Database, inbound: &Inbound) -> Option<Outcome> {
        let queue = self.queue.get_or_init(|| start(db.clone()));
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending {
                inbound: inbound.clone(),
                reply,
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
            runtime.spawn(lane(db.clone(), rx.clone()));
        }
    }
    // Without a runtime the receiver is dropped: `submit` sees a closed queue and the
    // caller stores the message alone.
    tx
}

async fn lane(db: Database, queue: Arc<Mutex<mpsc::Receiver<Pending>>>) {
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
        let inbound: Vec<&Inbound> = batch.iter().map(|p| &p.inbound).collect();
        let outcomes = store(&db, &mut held, &inbound).await;
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            // A caller that went away (client disconnected) just doesn't hear back.
            let _ = pending.reply.send(outcome);
        }
    }
}

/// Stores a batch: together when it can, else each alone. `held` is the lane's connection:
/// taken from the pool when there is none, kept only after a batch that committed.
async fn store(
    db: &Database,
    held: &mut Option<PooledConnection>,
    batch: &[&Inbound],
) -> Vec<Outcome> {
    let all_unavailable = |why: String| -> Vec<Outcome> {
        batch
            .iter()
            .map(|_| Err(MessagingError::Unavailable(why.clone())))
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
    let together = conn
        .transaction(async |conn| store_together(conn, batch).await)
        .await;
    let (outcomes, enqueued) = match together {
        Ok((outcomes, alone)) => {
            *held = Some(conn);
            (outcomes.into_iter().map(Ok).collect(), alone)
        }
        // The database went away: one by one would only wait for it once per message.
        Err(InboundTxError::Db(
            e @ (diesel::result::Error::BrokenTransactionManager
            | diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _,
            )),
        )) => return all_unavailable(e.to_string()),
        Err(why) => {
            // Back to the pool first: the one-by-one path takes connections of its own.
            drop(conn);
            tracing::debug!(size = batch.len(), %why, "batch failed; storing its messages one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for inbound in batch {
                outcomes.push(crate::messages::record_alone(db, inbound).await);
            }
            // `record_alone` announced for itself.
            (outcomes, false)
        }
    };
    db.announce(Announce::Events);
    // Jobs (triage) come only from first messages and reopenings, which take the path
    // alone; workers are not woken for batches that only appended.
    if enqueued {
        db.announce(Announce::Jobs);
    }
    outcomes
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
}

/// What to do with each message of the batch.
enum Plan {
    /// Already stored by an earlier delivery: that message's id.
    Seen(i64),
    /// A repeat of the message at this index of the batch.
    SameAs(usize),
    /// Appended to this open ticket, in the set-based statements.
    Append(i64),
    /// Through the one-by-one path.
    Alone,
}

/// A message's identity within a company, borrowed from the batch or the rows read.
type Key<'a> = (i64, &'a str);

fn sid_of(m: &Inbound) -> Key<'_> {
    (m.company_id.get(), m.message_sid.as_str())
}

/// The outcomes, and whether any message took the path alone (which may enqueue triage).
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
    let open_tickets: Vec<Ticket> = locked
        .into_iter()
        .map(crate::messages::ticket)
        .collect::<QueryResult<_>>()?;
    let open: HashMap<Key, &Ticket> = open_tickets
        .iter()
        .map(|t| ((t.company_id.get(), t.customer_phone.as_str()), t))
        .collect();

    // A customer whose messages cannot all be appended is handled one by one throughout,
    // so that their messages keep their order.
    let alone_customers: HashSet<Key> = batch
        .iter()
        .map(|m| (m.company_id.get(), m.customer.as_str()))
        .filter(|customer| {
            !open
                .get(customer)
                .is_some_and(|t| t.on_customer_message(false).only_appends())
        })
        .collect();
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    let plans: Vec<Plan> = batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let key = sid_of(m);
            if let Some(id) = seen.get(&key) {
                return Plan::Seen(*id);
            }
            if let Some(first) = first_of.get(&key) {
                return Plan::SameAs(*first);
            }
            first_of.insert(key, i);
            let customer = (m.company_id.get(), m.customer.as_str());
            match open.get(&customer) {
                Some(t) if !alone_customers.contains(&customer) => Plan::Append(t.id.get()),
                _ => Plan::Alone,
            }
        })
        .collect();

    // Appended: one insert of every message…
    let mut rows = InboundColumns::default();
    for (m, plan) in batch.iter().zip(&plans) {
        if let Plan::Append(ticket) = plan {
            rows.push(m, *ticket);
        }
    }
    let appended = rows.tickets.len();
    let stored_messages: Vec<TicketMessage> = if appended == 0 {
        Vec::new()
    } else {
        InsertInbound {
            companies: &rows.companies,
            tickets: &rows.tickets,
            contents: &rows.contents,
            phones: &rows.phones,
            sids: &rows.sids,
            media: &rows.media,
        }
        .load::<MessageRow>(conn)
        .await?
        .into_iter()
        .map(crate::messages::message)
        .collect::<QueryResult<_>>()?
    };
    // …a redelivery another transaction committed meanwhile is not ours to decide here.
    if stored_messages.len() != appended {
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
            .ok_or_else(|| undecodable("an appended message is missing".into()))
    };

    // …each ticket's newest message…
    let mut touched: HashMap<i64, (DateTime<Utc>, Option<&str>)> = HashMap::new();
    for (m, plan) in batch.iter().zip(&plans) {
        if let Plan::Append(ticket) = plan {
            let at = stored_for(m)?.created_at;
            let entry = touched.entry(*ticket).or_insert((at, None));
            entry.0 = entry.0.max(at);
            if let Some(name) = m.customer_name.as_deref() {
                entry.1 = Some(name);
            }
        }
    }
    // …one update of every ticket and one insert of every event, pipelined.
    let (mut ids, mut ats, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for (id, (at, name)) in touched {
        ids.push(id);
        ats.push(at);
        names.push(name);
    }
    let new_events = batch
        .iter()
        .zip(&plans)
        .filter(|(_, p)| matches!(p, Plan::Append(_)))
        .map(|(m, _)| stored_for(m).map(message_events::created))
        .collect::<QueryResult<Vec<_>>>()?;
    let mut after: HashMap<i64, Ticket> = HashMap::new();
    if !ids.is_empty() {
        let columns = EventColumns::new(&new_events);
        let pipe: &AsyncPgConnection = conn;
        let (rows, _) = futures_util::try_join!(
            TouchTickets {
                ids: &ids,
                ats: &ats,
                names: &names,
            }
            .load::<TicketRow>(&mut &*pipe),
            columns.insert().execute(&mut &*pipe),
        )?;
        for row in rows {
            let t = crate::messages::ticket(row)?;
            after.insert(t.id.get(), t);
        }
    }

    // The rest, one by one, in this same transaction; repeats within the batch answer like
    // redeliveries of the first.
    let mut outcomes: Vec<InboundOutcome> = Vec::with_capacity(batch.len());
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
            Plan::Append(ticket) => InboundOutcome::Stored {
                message: stored_for(m)?.clone(),
                ticket: after
                    .get(ticket)
                    .cloned()
                    .ok_or_else(|| undecodable("an appended ticket was not updated".into()))?,
                new_ticket: false,
            },
            Plan::Alone => crate::messages::record_inbound_tx(conn, m).await?,
        };
        outcomes.push(outcome);
    }
    let alone = plans.iter().any(|p| matches!(p, Plan::Alone));
    Ok((outcomes, alone))
}
