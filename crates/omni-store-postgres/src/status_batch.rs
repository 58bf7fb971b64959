//! Delivery reports, applied in the inbound group commit.
//!
//! Twilio posts three reports (`sent`, `delivered`, `read`) for every message Omni sends;
//! each in a transaction of its own cost a commit apiece, more than the inbound messages
//! themselves once replies flow. Reports queue with inbound messages and commit in the
//! same transaction (`inbound_batch`): one statement locks every message the batch's
//! reports name, the domain decides what each report does ([`TicketMessage::take_status`],
//! in the order they came, so several reports on one message in one batch apply one after
//! another), one statement writes the final states and one inserts an event per move.
//!
//! Twilio may post a report before Omni has recorded the sid its send was answered with (the
//! answer commits in a batch of its own): a report that names no message is kept
//! (`early_reports`) and applied when the answer records that sid (`send_batch`). The
//! answer locks the sid it records, and a report the sid it cannot find yet ([`lock_sids`]),
//! first, so that neither can miss the other. A batch only tries those locks
//! ([`try_lock_sids`]): work whose sid another transaction holds is left out and goes back
//! to the queue (`inbound_batch`), so a lane never waits for the other's commit on a sid.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_messaging::{
    EARLY_REPORT_KEPT_FOR, MessagingError, StatusReport, TicketMessage, events as message_events,
};

use crate::Database;
use crate::batch_sql::{KeepEarlyReports, LockSentMessages, LockSids, SetStatuses, TryLockSids};
use crate::events::EventColumns;
use crate::messages::{MessageRow, message, store_error, unavailable};
use crate::notifier::Announce;

/// What a report did: the message as it left it, or `None` when it changed nothing.
pub(crate) type StatusOutcome = Result<Option<TicketMessage>, MessagingError>;

#[derive(diesel::QueryableByName)]
struct Stamped {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

/// Locks, until the caller's transaction ends, the provider ids it is about to record
/// (`recorded`, a send's answers) and those `reports` look for that no message carries yet:
/// see `batch_sql::LockSids`. Every transaction that applies reports or records a send's
/// answer calls this (or [`try_lock_sids`]) once, before either and before any row lock,
/// with all of both.
pub(crate) async fn lock_sids(
    conn: &mut AsyncPgConnection,
    recorded: &[&str],
    reports: &[&StatusReport],
) -> QueryResult<()> {
    if recorded.is_empty() && reports.is_empty() {
        return Ok(());
    }
    let companies: Vec<i64> = reports.iter().map(|r| r.company_id.get()).collect();
    let sought: Vec<&str> = reports.iter().map(|r| r.message_sid.as_str()).collect();
    LockSids {
        recorded,
        companies: &companies,
        sought: &sought,
    }
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Refused {
    #[diesel(sql_type = diesel::sql_types::Text)]
    sid: String,
}

/// [`lock_sids`] without waiting (see `batch_sql::TryLockSids`): the provider ids whose
/// locks another transaction holds. The caller leaves their work out of its transaction.
pub(crate) async fn try_lock_sids(
    conn: &mut AsyncPgConnection,
    recorded: &[&str],
    reports: &[&StatusReport],
) -> QueryResult<HashSet<String>> {
    if recorded.is_empty() && reports.is_empty() {
        return Ok(HashSet::new());
    }
    let companies: Vec<i64> = reports.iter().map(|r| r.company_id.get()).collect();
    let sought: Vec<&str> = reports.iter().map(|r| r.message_sid.as_str()).collect();
    Ok(TryLockSids {
        recorded,
        companies: &companies,
        sought: &sought,
    }
    .load::<Refused>(conn)
    .await?
    .into_iter()
    .map(|r| r.sid)
    .collect())
}

/// Applies `reports` in the caller's transaction (which holds their sids' locks): for each,
/// the message as it left it. Whether anything moved (and events wait to be announced) is
/// whether any is `Some`.
pub(crate) async fn apply_together(
    conn: &mut AsyncPgConnection,
    reports: &[&StatusReport],
) -> QueryResult<Vec<Option<TicketMessage>>> {
    let companies: Vec<i64> = reports.iter().map(|r| r.company_id.get()).collect();
    let sids: Vec<&str> = reports.iter().map(|r| r.message_sid.as_str()).collect();
    let rows = LockSentMessages {
        companies: &companies,
        sids: &sids,
    }
    .load::<MessageRow>(conn)
    .await?;
    let mut current: HashMap<(i64, String), TicketMessage> = HashMap::with_capacity(rows.len());
    for row in rows {
        let m = message(row)?;
        if let Some(sid) = m.whatsapp_message_id.clone() {
            current.insert((m.company_id.get(), sid), m);
        }
    }
    // A report that names no message came before its send's answer: kept for it.
    let early: Vec<&StatusReport> = reports
        .iter()
        .copied()
        .filter(|r| !current.contains_key(&(r.company_id.get(), r.message_sid.clone())))
        .collect();
    if !early.is_empty() {
        KeepEarlyReports {
            kept_for: diesel::data_types::PgInterval::from_microseconds(
                i64::try_from(EARLY_REPORT_KEPT_FOR.as_micros()).unwrap_or(i64::MAX),
            ),
            companies: &early.iter().map(|r| r.company_id.get()).collect::<Vec<_>>(),
            sids: &early
                .iter()
                .map(|r| r.message_sid.as_str())
                .collect::<Vec<_>>(),
            statuses: &early.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
            codes: &early.iter().map(|r| r.error_code).collect::<Vec<_>>(),
            messages: &early
                .iter()
                .map(|r| r.error_message.as_deref())
                .collect::<Vec<_>>(),
        }
        .execute(conn)
        .await?;
    }
    // The domain decides, report by report in the order they came.
    let mut moved: Vec<Option<TicketMessage>> = Vec::with_capacity(reports.len());
    for report in reports {
        let key = (report.company_id.get(), report.message_sid.clone());
        let next = current.get(&key).and_then(|m| m.take_status(report));
        if let Some(next) = &next {
            current.insert(key, next.clone());
        }
        moved.push(next);
    }
    // Each moved message's final state, written once.
    let mut last: HashMap<i64, &TicketMessage> = HashMap::new();
    for m in moved.iter().flatten() {
        last.insert(m.id.get(), m);
    }
    if last.is_empty() {
        return Ok(moved);
    }
    let finals: Vec<&TicketMessage> = last.into_values().collect();
    let ids: Vec<i64> = finals.iter().map(|m| m.id.get()).collect();
    let statuses: Vec<&str> = finals.iter().map(|m| m.delivery_status.as_str()).collect();
    let codes: Vec<Option<i32>> = finals.iter().map(|m| m.error_code).collect();
    let texts: Vec<Option<&str>> = finals.iter().map(|m| m.error_message.as_deref()).collect();
    let stamped: HashMap<i64, DateTime<Utc>> = SetStatuses {
        ids: &ids,
        statuses: &statuses,
        codes: &codes,
        messages: &texts,
    }
    .load::<Stamped>(conn)
    .await?
    .into_iter()
    .map(|s| (s.id, s.updated_at))
    .collect();
    for m in moved.iter_mut().flatten() {
        if let Some(at) = stamped.get(&m.id.get()) {
            m.updated_at = *at;
        }
    }
    let events: Vec<_> = moved
        .iter()
        .flatten()
        .map(message_events::status_updated)
        .collect();
    EventColumns::new(&events).insert().execute(conn).await?;
    Ok(moved)
}

/// Applies one report in a transaction of its own: a batch of one.
pub(crate) async fn apply_alone(db: &Database, report: &StatusReport) -> StatusOutcome {
    let mut conn = db.conn().await.map_err(unavailable)?;
    let result = conn
        .transaction(async |conn| {
            lock_sids(conn, &[], &[report]).await?;
            apply_together(conn, &[report]).await
        })
        .await
        .map_err(store_error)?;
    let moved = result.into_iter().next().flatten();
    if moved.is_some() {
        db.announce(Announce::Events);
    }
    Ok(moved)
}
