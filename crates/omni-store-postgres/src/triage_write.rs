//! Triage's result and its automatic reply, written in one transaction.
//!
//! They were two: the result on the ticket, then the reply through the agents' outbound
//! path — two commits and thirteen statements for every new conversation, the ticket read
//! and written twice. Here the ticket is locked once, the domain merges the result
//! (`Ticket::merge_triage`) and says whether a reply is due (`Ticket::awaits_auto_reply`),
//! and one update writes both changes to it.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use omni_core::TicketId;
use omni_messaging::{
    IdempotencyKey, Job, MessageContent, MessagingError, NewOutbound, TicketMessage,
    TriageRecorded, events as message_events,
};
use omni_ticketing::{Ticket, TriageMerge, TriageResult, events as ticket_events};

use crate::jobs::enqueue;
use crate::messages::{insert_outbound, keyed_message, store_error, unavailable};
use crate::notifier::Announce;
use crate::schema::tickets;
use crate::tickets::TicketRow;
use crate::{Database, events};

/// Records triage's `result` on the ticket and, when asked and due, its reply (see
/// `MessageStore::record_triage`).
pub(crate) async fn record(
    db: &Database,
    ticket: TicketId,
    result: &TriageResult,
    auto_reply: Option<&MessageContent>,
) -> Result<Option<TriageRecorded>, MessagingError> {
    let mut conn = db.conn().await.map_err(unavailable)?;
    let written = conn
        .transaction(async |conn| {
            let Some(before) = crate::tickets::lock_ticket(conn, ticket).await? else {
                return Ok(None);
            };
            let TriageMerge { after, changes } = before.merge_triage(result);
            let reply = match auto_reply.filter(|_| after.awaits_auto_reply(Utc::now())) {
                Some(content) => queue_reply(conn, &after, content).await?,
                None => None,
            };
            // Each change to the ticket counts once in its version, as written apart.
            let (last_message_at, last_activity_at, bump) = match &reply {
                Some(m) => {
                    let effect = after.on_reply(false, m.created_at);
                    (Some(effect.last_message_at), effect.last_activity_at, 2)
                }
                None => (after.last_message_at, after.last_activity_at, 1),
            };
            let updated: TicketRow =
                diesel::update(tickets::table.filter(tickets::id.eq(ticket.get())))
                    .set((
                        tickets::category.eq(&after.category),
                        tickets::priority.eq(after.priority.as_str()),
                        tickets::sentiment.eq(after.sentiment.map(|s| s.as_str())),
                        tickets::sentiment_score.eq(after.sentiment_score),
                        tickets::suggested_categories.eq(&after.suggested_categories),
                        tickets::suggested_reply.eq(after.suggestion_after(reply.is_some())),
                        tickets::last_message_at.eq(last_message_at),
                        tickets::last_activity_at.eq(last_activity_at),
                        tickets::version.eq(tickets::version + bump),
                    ))
                    .returning(TicketRow::as_returning())
                    .get_result(conn)
                    .await?;
            let after: Ticket = crate::messages::ticket(updated)?;
            let mut new_events = vec![ticket_events::triage_completed(&after, result)];
            if !changes.is_empty() {
                new_events.push(ticket_events::updated(&after, &changes));
            }
            if let Some(m) = &reply {
                crate::facts::append(conn, &before.reply_facts(None, m.created_at)).await?;
                new_events.push(message_events::created(m));
                enqueue(
                    conn,
                    Some(after.company_id.get()),
                    &Job::Send { message_id: m.id },
                )
                .await?;
            }
            events::append(conn, &new_events).await?;
            Ok(Some(TriageRecorded {
                ticket: after,
                reply,
            }))
        })
        .await;
    let recorded = written.map_err(store_error)?;
    if let Some(recorded) = &recorded {
        db.announce(Announce::Events);
        if recorded.reply.is_some() {
            db.announce(Announce::Jobs);
        }
    }
    Ok(recorded)
}

/// Inserts the ticket's automatic reply unless an earlier run of its triage did.
async fn queue_reply(
    conn: &mut diesel_async::AsyncPgConnection,
    ticket: &Ticket,
    content: &MessageContent,
) -> QueryResult<Option<TicketMessage>> {
    let key = IdempotencyKey::auto_reply(ticket.id);
    if keyed_message(conn, ticket.company_id, None, &key)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let outbound = NewOutbound {
        ticket_id: ticket.id,
        author_id: None,
        content: content.as_str().to_owned(),
        idempotency_key: Some(key),
        template: None,
        media: Vec::new(),
    };
    insert_outbound(conn, ticket, &outbound).await.map(Some)
}

/// Queues the satisfaction question on a resolved ticket once (see
/// `MessageStore::record_survey`).
pub(crate) async fn record_survey(
    db: &Database,
    ticket: TicketId,
    question: &MessageContent,
) -> Result<Option<TicketMessage>, MessagingError> {
    let mut conn = db.conn().await.map_err(unavailable)?;
    let written = conn
        .transaction(async |conn| {
            let Some(before) = crate::tickets::lock_ticket(conn, ticket).await? else {
                return Ok(None);
            };
            if !before.survey_due(Utc::now()) {
                return Ok(None);
            }
            let outbound = NewOutbound {
                ticket_id: before.id,
                author_id: None,
                content: question.as_str().to_owned(),
                idempotency_key: Some(IdempotencyKey::survey(before.id)),
                template: None,
                media: Vec::new(),
            };
            let m = insert_outbound(conn, &before, &outbound).await?;
            let effect = before.on_reply(false, m.created_at);
            diesel::update(tickets::table.filter(tickets::id.eq(ticket.get())))
                .set((
                    tickets::survey_sent_at.eq(m.created_at),
                    tickets::last_message_at.eq(effect.last_message_at),
                    tickets::last_activity_at.eq(effect.last_activity_at),
                    tickets::version.eq(tickets::version + 1),
                ))
                .execute(conn)
                .await?;
            let mut facts = before.reply_facts(None, m.created_at);
            facts.extend(before.survey_facts(m.created_at));
            crate::facts::append(conn, &facts).await?;
            events::append(conn, &[message_events::created(&m)]).await?;
            enqueue(
                conn,
                Some(before.company_id.get()),
                &Job::Send { message_id: m.id },
            )
            .await?;
            Ok(Some(m))
        })
        .await;
    let queued = written.map_err(store_error)?;
    if queued.is_some() {
        db.announce(Announce::Events);
        db.announce(Announce::Jobs);
    }
    Ok(queued)
}
