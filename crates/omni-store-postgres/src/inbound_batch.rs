//! Group commit for inbound messages.
//!
//! Webhooks arrive concurrently; committing each in its own transaction costs a WAL flush
//! and about eight round trips apiece. Here concurrent deliveries are gathered — whatever
//! has queued while the previous batch ran, never waiting for more — and stored in one
//! transaction with set-based statements: one to find redeliveries, one to lock the
//! customers' tickets, one insert of all the messages, one update of all the tickets, one
//! insert of all the events, one commit. Each webhook is still answered only once its own
//! rows are committed.
//!
//! Messages that need more than "append to an open conversation" (a first message, one that
//! reopens a ticket) take the one-by-one path inside the same transaction. Should the batch
//! fail as a whole (a deadlock with another instance, a concurrent redelivery), every
//! message is stored again on its own, exactly as without batching.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_messaging::{
    DeliveryStatus, Inbound, InboundOutcome, MessagingError, events as message_events,
};
use omni_ticketing::{CustomerMessageOutcome, Ticket};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::schema::ticket_messages;
use crate::tickets::TicketRow;
use crate::{Database, events};

/// Most messages in one transaction.
const MAX_BATCH: usize = 128;
/// Batches in flight at once: while some wait for their commit to reach disk, others are
/// being written. Measured on 2 cores: 2 lanes 1,280 webhooks/s at 16 connections (p99
/// 25 ms), 4 lanes 1,520/s (p99 20 ms), 8 lanes 1,040/s (p99 34 ms). Tickets are locked in
/// id order, so batches cannot deadlock each other.
const LANES: usize = 4;
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
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
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
        let outcomes = store(&db, &inbound).await;
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            // A caller that went away (client disconnected) just doesn't hear back.
            let _ = pending.reply.send(outcome);
        }
    }
}

/// Stores a batch: together when it can, else each alone.
async fn store(db: &Database, batch: &[&Inbound]) -> Vec<Outcome> {
    let together = match db.conn().await {
        Ok(mut conn) => {
            conn.transaction(async |conn| store_together(conn, batch).await)
                .await
        }
        Err(e) => {
            let why = e.to_string();
            return batch
                .iter()
                .map(|_| Err(MessagingError::Unavailable(why.clone())))
                .collect();
        }
    };
    let mut enqueued_any = false;
    let outcomes = match together {
        Ok((outcomes, alone)) => {
            enqueued_any = alone;
            outcomes.into_iter().map(Ok).collect()
        }
        // The database went away: one by one would only wait for it once per message.
        Err(
            e @ (diesel::result::Error::BrokenTransactionManager
            | diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _,
            )),
        ) => {
            let why = e.to_string();
            return batch
                .iter()
                .map(|_| Err(MessagingError::Unavailable(why.clone())))
                .collect();
        }
        Err(why) => {
            tracing::debug!(size = batch.len(), %why, "batch failed; storing its messages one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for inbound in batch {
                outcomes.push(crate::messages::record_alone(db, inbound).await);
            }
            outcomes
        }
    };
    db.announce(crate::notifier::Announce::Events);
    // Jobs (triage) come only from first messages and reopenings, which take the path
    // alone (whose fallback announces for itself); workers are not woken for batches that
    // only appended.
    if enqueued_any {
        db.announce(crate::notifier::Announce::Jobs);
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

/// What to do with each message of the batch.
enum Plan {
    /// Already stored (an earlier delivery, or earlier in this batch: index).
    Seen(i64),
    SameAs(usize),
    /// Appended to this open ticket, in the set-based statements.
    Append(i64),
    /// Through the one-by-one path.
    Alone,
}

/// The outcomes, and whether any message took the path alone (which may enqueue triage).
async fn store_together(
    conn: &mut AsyncPgConnection,
    batch: &[&Inbound],
) -> QueryResult<(Vec<InboundOutcome>, bool)> {
    let companies: Vec<i64> = batch.iter().map(|m| m.company_id.get()).collect();
    let sids: Vec<&str> = batch.iter().map(|m| m.message_sid.as_str()).collect();
    let phones: Vec<&str> = batch.iter().map(|m| m.customer.as_str()).collect();

    let seen: HashMap<(i64, String), i64> = diesel::sql_query(
        "SELECT m.company_id, m.whatsapp_message_id AS sid, m.id FROM ticket_messages m \
         JOIN unnest($1::bigint[], $2::text[]) AS u(c, s) \
           ON m.company_id = u.c AND m.whatsapp_message_id = u.s",
    )
    .bind::<Array<BigInt>, _>(&companies)
    .bind::<Array<Text>, _>(&sids)
    .load::<Seen>(conn)
    .await?
    .into_iter()
    .map(|s| ((s.company_id, s.sid), s.id))
    .collect();

    // Locked in id order: concurrent batches take their common tickets in the same order.
    let open: HashMap<(i64, String), Ticket> = diesel::sql_query(
        "SELECT t.* FROM tickets t \
         JOIN (SELECT DISTINCT c, p FROM unnest($1::bigint[], $2::text[]) AS u(c, p)) u \
           ON t.company_id = u.c AND t.customer_phone = u.p \
         WHERE t.status <> 'closed' ORDER BY t.id FOR UPDATE OF t",
    )
    .bind::<Array<BigInt>, _>(&companies)
    .bind::<Array<Text>, _>(&phones)
    .load::<TicketRow>(conn)
    .await?
    .into_iter()
    .map(|row| {
        let t = row.into_ticket().map_err(crate::messages::undecodable)?;
        Ok((
            (t.company_id.get(), t.customer_phone.as_str().to_owned()),
            t,
        ))
    })
    .collect::<QueryResult<_>>()?;

    // A customer whose messages cannot all be appended is handled one by one throughout,
    // so that their messages keep their order.
    let mut alone_customers: Vec<(i64, &str)> = Vec::new();
    for m in batch {
        let key = (m.company_id.get(), m.customer.as_str().to_owned());
        let appendable = open
            .get(&key)
            .is_some_and(|t| t.status.on_customer_message() == CustomerMessageOutcome::Unchanged);
        if !appendable {
            alone_customers.push((key.0, m.customer.as_str()));
        }
    }
    let mut first_of: HashMap<(i64, &str), usize> = HashMap::new();
    let plans: Vec<Plan> = batch
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let company = m.company_id.get();
            if let Some(id) = seen.get(&(company, m.message_sid.clone())) {
                return Plan::Seen(*id);
            }
            if let Some(first) = first_of.get(&(company, m.message_sid.as_str())) {
                return Plan::SameAs(*first);
            }
            first_of.insert((company, m.message_sid.as_str()), i);
            if alone_customers.contains(&(company, m.customer.as_str())) {
                return Plan::Alone;
            }
            let key = (company, m.customer.as_str().to_owned());
            open.get(&key)
                .map_or(Plan::Alone, |t| Plan::Append(t.id.get()))
        })
        .collect();

    // Appended: one insert of every message…
    let rows: Vec<_> = batch
        .iter()
        .zip(&plans)
        .filter_map(|(m, plan)| match plan {
            Plan::Append(ticket) => Some((
                ticket_messages::company_id.eq(m.company_id.get()),
                ticket_messages::ticket_id.eq(*ticket),
                ticket_messages::content.eq(m.body.as_str()),
                ticket_messages::from_customer.eq(true),
                ticket_messages::whatsapp_number.eq(m.customer.as_str()),
                ticket_messages::whatsapp_message_id.eq(m.message_sid.as_str()),
                ticket_messages::delivery_status.eq(DeliveryStatus::Received.as_str()),
                ticket_messages::media.eq(crate::messages::media_json(&m.media)),
            )),
            _ => None,
        })
        .collect();
    let mut stored: HashMap<(i64, String), omni_messaging::TicketMessage> = HashMap::new();
    if !rows.is_empty() {
        let inserted: Vec<crate::messages::MessageRow> =
            diesel::insert_into(ticket_messages::table)
                .values(rows)
                .on_conflict((
                    ticket_messages::company_id,
                    ticket_messages::whatsapp_message_id,
                ))
                .do_nothing()
                .returning(crate::messages::MessageRow::as_returning())
                .get_results(conn)
                .await?;
        for row in inserted {
            let message = crate::messages::message(row)?;
            let key = (
                message.company_id.get(),
                message.whatsapp_message_id.clone().unwrap_or_default(),
            );
            stored.insert(key, message);
        }
    }
    // …a redelivery another transaction committed meanwhile is not ours to decide here.
    let appended = plans
        .iter()
        .filter(|p| matches!(p, Plan::Append(_)))
        .count();
    if stored.len() != appended {
        return Err(crate::messages::undecodable(
            "a concurrent delivery of a message in this batch".into(),
        ));
    }

    // …one update of every ticket…
    let stored_for = |m: &Inbound| {
        stored
            .get(&(m.company_id.get(), m.message_sid.clone()))
            .ok_or_else(|| crate::messages::undecodable("an appended message is missing".into()))
    };
    let mut touched: HashMap<i64, (DateTime<Utc>, Option<String>)> = HashMap::new();
    for (m, plan) in batch.iter().zip(&plans) {
        if let Plan::Append(ticket) = plan {
            let at = stored_for(m)?.created_at;
            let entry = touched.entry(*ticket).or_insert((at, None));
            entry.0 = entry.0.max(at);
            if m.customer_name.is_some() {
                entry.1.clone_from(&m.customer_name);
            }
        }
    }
    let mut after: HashMap<i64, Ticket> = HashMap::new();
    if !touched.is_empty() {
        let ids: Vec<i64> = touched.keys().copied().collect();
        // keys() and values() of one unchanged map come in the same order.
        let (ats, names): (Vec<DateTime<Utc>>, Vec<Option<String>>) =
            touched.values().cloned().unzip();
        let rows: Vec<TicketRow> = diesel::sql_query(
            "UPDATE tickets t SET last_message_at = u.at, last_activity_at = u.at, \
                 customer_name = coalesce(u.name, t.customer_name), version = t.version + 1 \
             FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS u(id, at, name) \
             WHERE t.id = u.id RETURNING t.*",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<Timestamptz>, _>(&ats)
        .bind::<Array<Nullable<Text>>, _>(&names)
        .load(conn)
        .await?;
        for row in rows {
            let t = row.into_ticket().map_err(crate::messages::undecodable)?;
            after.insert(t.id.get(), t);
        }
    }

    // …one insert of every event.
    let new_events = batch
        .iter()
        .zip(&plans)
        .filter(|(_, p)| matches!(p, Plan::Append(_)))
        .map(|(m, _)| stored_for(m).map(message_events::created))
        .collect::<QueryResult<Vec<_>>>()?;
    events::append(conn, &new_events).await?;

    // The rest, one by one, in this same transaction; repeats within the batch answer like
    // redeliveries of the first.
    let mut outcomes: Vec<InboundOutcome> = Vec::with_capacity(batch.len());
    for (m, plan) in batch.iter().zip(&plans) {
        let outcome = match plan {
            Plan::Seen(id) => InboundOutcome::Duplicate {
                message_id: omni_core::MessageId::new(*id),
            },
            Plan::SameAs(first) => match outcomes.get(*first) {
                Some(InboundOutcome::Stored { message, .. }) => InboundOutcome::Duplicate {
                    message_id: message.id,
                },
                Some(other) => other.clone(),
                None => {
                    return Err(crate::messages::undecodable(
                        "a repeat before its first".into(),
                    ));
                }
            },
            Plan::Append(ticket) => InboundOutcome::Stored {
                message: stored_for(m)?.clone(),
                ticket: after.get(ticket).cloned().ok_or_else(|| {
                    crate::messages::undecodable("an appended ticket was not updated".into())
                })?,
                new_ticket: false,
            },
            Plan::Alone => crate::messages::record_inbound_tx(conn, m).await?,
        };
        outcomes.push(outcome);
    }
    let alone = plans.iter().any(|p| matches!(p, Plan::Alone));
    Ok((outcomes, alone))
}
