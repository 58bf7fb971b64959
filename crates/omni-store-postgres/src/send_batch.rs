//! The worker's writes around a send, applied in the inbound group commit.
//!
//! Every reply costs two writes besides the one that queued it: the note that an attempt
//! begins (committed before Twilio is called, so that a worker taking over after a crash
//! knows to ask first) and Twilio's answer. Each in a transaction of its own cost a commit
//! and three or four round trips apiece — under the conversations mix a quarter of the
//! database's commits. Here they queue beside customers' messages and delivery reports and
//! commit in the same transaction (`inbound_batch`): one statement notes every start (rows
//! locked in id order), one writes every answer, one inserts their events. Each caller
//! still hears back only once its own write is committed. Delivery reports that came before
//! an answer (kept by `status_batch`) are applied in the transaction that records its sid.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_core::{CompanyId, MessageId};
use omni_messaging::{
    DeliveryStatus, MessagingError, SendStart, StatusReport, TicketMessage,
    events as message_events,
};

use crate::Database;
use crate::batch_sql::{BeginSends, FinishSends, TakeEarlyReports};
use crate::events::EventColumns;
use crate::messages::{MessageRow, message, store_error, unavailable};
use crate::notifier::Announce;

/// What a started send found: `None` when the message is gone.
pub(crate) type BeginOutcome = Result<Option<SendStart>, MessagingError>;

/// The provider's answer to a send, to record on a message still waiting for it.
#[derive(Debug, Clone)]
pub(crate) struct Finish {
    pub(crate) id: MessageId,
    pub(crate) sid: Option<String>,
    pub(crate) status: DeliveryStatus,
    pub(crate) code: Option<i32>,
    pub(crate) why: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct Began {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    before: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    started: DateTime<Utc>,
}

/// Notes in the caller's transaction that a send of each message begins; for each, in
/// order, what the attempt found (`None`: the message is gone).
pub(crate) async fn begin_together(
    conn: &mut AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Option<SendStart>>> {
    let mut sorted: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let began: HashMap<i64, Began> = BeginSends { ids: &sorted }
        .load::<Began>(conn)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    // Two starts of one message in one batch (two workers raced for its job): the later
    // one finds the earlier's start, as it would in a transaction of its own.
    let mut seen: Vec<i64> = Vec::new();
    Ok(ids
        .iter()
        .map(|id| {
            let b = began.get(&id.get())?;
            let earlier = seen.contains(&id.get());
            seen.push(id.get());
            Some(match (b.before, earlier) {
                (Some(since), _) => SendStart::Retaken { since },
                (None, true) => SendStart::Retaken { since: b.started },
                (None, false) => SendStart::First,
            })
        })
        .collect())
}

/// Records in the caller's transaction (which holds the answers' sids' locks, see
/// `status_batch::lock_sids`) the provider's answers on messages still waiting for one, and
/// applies the delivery reports that came before them. For each answer, whether it changed
/// its message (a message sent meanwhile is left as it is); whether events wait to be
/// announced is whether any is `true`.
pub(crate) async fn finish_together(
    conn: &mut AsyncPgConnection,
    finishes: &[&Finish],
) -> QueryResult<Vec<bool>> {
    // The first answer on a message wins, as it would one transaction after another. Every
    // batch takes its sids' locks before any row lock, so an answer and the reports on it
    // never hold rows while waiting for each other; a deadlock would need two workers
    // racing for the same two jobs at once, and would only send both batches one by one.
    let mut first: HashMap<i64, usize> = HashMap::new();
    for (i, f) in finishes.iter().enumerate() {
        first.entry(f.id.get()).or_insert(i);
    }
    let mut winners: Vec<&Finish> = first.values().map(|&i| finishes[i]).collect();
    winners.sort_unstable_by_key(|f| f.id.get());
    let ids: Vec<i64> = winners.iter().map(|f| f.id.get()).collect();
    let statuses: Vec<&str> = winners.iter().map(|f| f.status.as_str()).collect();
    let sids: Vec<Option<&str>> = winners.iter().map(|f| f.sid.as_deref()).collect();
    let codes: Vec<Option<i32>> = winners.iter().map(|f| f.code).collect();
    let texts: Vec<Option<&str>> = winners.iter().map(|f| f.why.as_deref()).collect();
    let rows = FinishSends {
        ids: &ids,
        statuses: &statuses,
        sids: &sids,
        codes: &codes,
        messages: &texts,
        awaiting: &DeliveryStatus::AWAITING_SEND.map(DeliveryStatus::as_str),
    }
    .load::<MessageRow>(conn)
    .await?;
    let mut changed: HashMap<i64, usize> = HashMap::with_capacity(rows.len());
    let mut finished: Vec<TicketMessage> = Vec::with_capacity(rows.len());
    for row in rows {
        let m = message(row)?;
        if let Some(&i) = first.get(&m.id.get()) {
            changed.insert(m.id.get(), i);
        }
        finished.push(m);
    }
    if !finished.is_empty() {
        let events: Vec<_> = finished
            .iter()
            .map(message_events::status_updated)
            .collect();
        EventColumns::new(&events).insert().execute(conn).await?;
    }
    apply_early_reports(conn, &finished).await?;
    Ok((0..finishes.len())
        .map(|i| {
            changed
                .get(&finishes[i].id.get())
                .is_some_and(|&won| won == i)
        })
        .collect())
}

#[derive(diesel::QueryableByName)]
struct Early {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    company_id: i64,
    #[diesel(sql_type = Text)]
    sid: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Integer>)]
    error_code: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
}

/// Applies the reports that came before these messages' sids were recorded (kept by
/// `status_batch`), in the order they came, exactly as reports arriving now are applied.
async fn apply_early_reports(
    conn: &mut AsyncPgConnection,
    finished: &[TicketMessage],
) -> QueryResult<()> {
    let named: Vec<(i64, &str)> = finished
        .iter()
        .filter_map(|m| Some((m.company_id.get(), m.whatsapp_message_id.as_deref()?)))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let mut early = TakeEarlyReports {
        companies: &named.iter().map(|k| k.0).collect::<Vec<_>>(),
        sids: &named.iter().map(|k| k.1).collect::<Vec<_>>(),
    }
    .load::<Early>(conn)
    .await?;
    if early.is_empty() {
        return Ok(());
    }
    early.sort_unstable_by_key(|e| e.id);
    let reports: Vec<StatusReport> = early
        .into_iter()
        .filter_map(|e| {
            Some(StatusReport {
                company_id: CompanyId::new(e.company_id),
                message_sid: e.sid,
                status: e.status.parse::<DeliveryStatus>().ok()?,
                error_code: e.error_code,
                error_message: e.error_message,
            })
        })
        .collect();
    let reports: Vec<&StatusReport> = reports.iter().collect();
    crate::status_batch::apply_together(conn, &reports).await?;
    Ok(())
}

/// Notes one start in a transaction of its own: a batch of one.
pub(crate) async fn begin_alone(db: &Database, id: MessageId) -> BeginOutcome {
    let mut conn = db.conn().await.map_err(unavailable)?;
    let began = begin_together(&mut conn, &[id])
        .await
        .map_err(store_error)?;
    Ok(began.into_iter().next().flatten())
}

/// Records one answer in a transaction of its own: a batch of one.
pub(crate) async fn finish_alone(db: &Database, finish: &Finish) -> Result<(), MessagingError> {
    let mut conn = db.conn().await.map_err(unavailable)?;
    let changed = conn
        .transaction(async |conn| {
            if let Some(sid) = &finish.sid {
                crate::status_batch::lock_sids(conn, &[sid.as_str()], &[]).await?;
            }
            finish_together(conn, &[finish]).await
        })
        .await
        .map_err(store_error)?;
    if changed.iter().any(|c| *c) {
        db.announce(Announce::Events);
    }
    Ok(())
}
