//! The messaging crate's [`MessageStore`] on PostgreSQL. Each method is one transaction:
//! the message, the ticket it moves, their events and the jobs they imply commit together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_core::{CompanyId, Cursor, MessageId, Page, PageRequest, Scope, TicketId, UserId};
use omni_messaging::{
    Delivery, DeliveryStatus, IdempotencyKey, Inbound, InboundOutcome, Job, JobKind, Media,
    MessageContent, MessageStore, MessagingError, NewOutbound, OutboundOutcome, SendRetry,
    SendStart, StatusReport, TicketMessage, TriageRecorded, events as message_events,
};
use omni_ticketing::{Ticket, TriageResult};

use crate::errors::{Violation, constraint_violation};
use crate::jobs::enqueue;
use crate::notifier::Announce;
use crate::schema::{ticket_messages, tickets, uploads};
use std::sync::Arc;

use crate::inbound_batch::GroupCommit;
use crate::send_batch::Finish;
use crate::tickets::TicketRow;
use crate::{Database, events};

/// Messages in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgMessageStore {
    db: Database,
    batcher: Arc<GroupCommit>,
}

impl PgMessageStore {
    /// A store over the pool.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            batcher: Arc::default(),
        }
    }
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = ticket_messages, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MessageRow {
    id: i64,
    company_id: i64,
    ticket_id: i64,
    content: String,
    from_customer: bool,
    whatsapp_number: String,
    whatsapp_message_id: Option<String>,
    author_id: Option<i64>,
    delivery_status: String,
    error_code: Option<i32>,
    error_message: Option<String>,
    media: serde_json::Value,
    template: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl MessageRow {
    fn into_message(self) -> Result<TicketMessage, String> {
        let corrupt = |what: &str| format!("stored message {} has an invalid {what}", self.id);
        Ok(TicketMessage {
            id: MessageId::new(self.id),
            ticket_id: TicketId::new(self.ticket_id),
            company_id: CompanyId::new(self.company_id),
            content: self.content,
            from_customer: self.from_customer,
            whatsapp_number: self
                .whatsapp_number
                .parse()
                .map_err(|_| corrupt("whatsapp_number"))?,
            whatsapp_message_id: self.whatsapp_message_id,
            author_id: self.author_id.map(UserId::new),
            delivery_status: self
                .delivery_status
                .parse()
                .map_err(|_| corrupt("delivery_status"))?,
            error_code: self.error_code,
            error_message: self.error_message,
            media: serde_json::from_value(self.media).map_err(|_| corrupt("media"))?,
            template: self
                .template
                .map(serde_json::from_value)
                .transpose()
                .map_err(|_| corrupt("template"))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            retry: None,
        })
    }
}

/// A row that does not convert, raised inside a transaction so that it rolls back.
pub(crate) fn undecodable(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

pub(crate) fn message(row: MessageRow) -> QueryResult<TicketMessage> {
    row.into_message().map_err(undecodable)
}

pub(crate) fn ticket(row: TicketRow) -> QueryResult<Ticket> {
    row.into_ticket().map_err(undecodable)
}

pub(crate) fn store_error(e: diesel::result::Error) -> MessagingError {
    if crate::errors::lost_connection(&e) {
        MessagingError::Unavailable(e.to_string())
    } else {
        MessagingError::Unknown(Box::new(e))
    }
}

pub(crate) fn unavailable(e: crate::StoreError) -> MessagingError {
    match e {
        crate::StoreError::Unavailable(cause) => MessagingError::Unavailable(cause),
        other => MessagingError::Unknown(Box::new(other)),
    }
}

pub(crate) fn media_json(media: &[Media]) -> serde_json::Value {
    serde_json::to_value(media).unwrap_or_else(|_| serde_json::json!([]))
}

/// The message an author sent under an idempotency key, if any.
pub(crate) async fn keyed_message(
    conn: &mut AsyncPgConnection,
    company: CompanyId,
    author: Option<UserId>,
    key: &IdempotencyKey,
) -> QueryResult<Option<TicketMessage>> {
    let query = ticket_messages::table
        .filter(ticket_messages::company_id.eq(company.get()))
        .filter(ticket_messages::idempotency_key.eq(key.as_str()))
        .into_boxed();
    // `author_id IS NOT DISTINCT FROM $n` is never an index condition (PostgreSQL folds it
    // only for a literal NULL, not for a prepared statement's parameter): the lookup read
    // every keyed message of the company, a little slower with each reply. The two
    // spellings each probe the unique index.
    let query = match author {
        Some(author) => query.filter(ticket_messages::author_id.eq(author.get())),
        None => query.filter(ticket_messages::author_id.is_null()),
    };
    query
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(message)
        .transpose()
}

/// Inserts an outbound message on `current` as `queued` (the caller writes what it does to
/// the ticket, its event and its send job).
pub(crate) async fn insert_outbound(
    conn: &mut AsyncPgConnection,
    current: &Ticket,
    outbound: &NewOutbound,
) -> QueryResult<TicketMessage> {
    let row: MessageRow = diesel::insert_into(ticket_messages::table)
        .values((
            ticket_messages::company_id.eq(current.company_id.get()),
            ticket_messages::ticket_id.eq(current.id.get()),
            ticket_messages::content.eq(&outbound.content),
            ticket_messages::from_customer.eq(false),
            ticket_messages::whatsapp_number.eq(current.customer_phone.as_str()),
            ticket_messages::author_id.eq(outbound.author_id.map(UserId::get)),
            ticket_messages::delivery_status.eq(DeliveryStatus::Queued.as_str()),
            ticket_messages::idempotency_key
                .eq(outbound.idempotency_key.as_ref().map(|k| k.as_str())),
            ticket_messages::media.eq(media_json(&outbound.media)),
            ticket_messages::template.eq(outbound
                .template
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())),
        ))
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await?;
    message(row)
}

async fn find_message(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: i64,
) -> QueryResult<Option<TicketMessage>> {
    let mut query = ticket_messages::table
        .filter(ticket_messages::id.eq(id))
        .into_boxed();
    if let Scope::Company(c) = scope {
        query = query.filter(ticket_messages::company_id.eq(c.get()));
    }
    query
        .select(MessageRow::as_select())
        .first::<MessageRow>(conn)
        .await
        .optional()?
        .map(message)
        .transpose()
}

async fn find_message_for_update(
    conn: &mut AsyncPgConnection,
    scope: Scope,
    id: i64,
) -> QueryResult<Option<TicketMessage>> {
    // A locking clause cannot be boxed: the row is locked by id, then held to the scope.
    let row = ticket_messages::table
        .filter(ticket_messages::id.eq(id))
        .select(MessageRow::as_select())
        .for_update()
        .first::<MessageRow>(conn)
        .await
        .optional()?;
    Ok(row
        .map(message)
        .transpose()?
        .filter(|m| scope.includes(Some(m.company_id))))
}

#[async_trait]
impl MessageStore for PgMessageStore {
    #[tracing::instrument(skip_all, fields(company_id = %inbound.company_id, message_sid = %inbound.message_sid))]
    async fn record_inbound(&self, inbound: &Inbound) -> Result<InboundOutcome, MessagingError> {
        match self.batcher.submit(&self.db, inbound).await {
            Some(outcome) => outcome,
            None => crate::inbound_batch::store_alone(&self.db, inbound).await,
        }
    }

    async fn keyed(
        &self,
        company: CompanyId,
        author: Option<UserId>,
        key: &IdempotencyKey,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        keyed_message(&mut conn, company, author, key)
            .await
            .map_err(store_error)
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %outbound.ticket_id))]
    async fn record_outbound(
        &self,
        scope: Scope,
        outbound: &NewOutbound,
    ) -> Result<OutboundOutcome, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let result = conn
            .transaction(async |conn| -> Result<OutboundOutcome, TxError> {
                // Locked: the reply's effect on the ticket (its first response, above all)
                // is computed from the ticket as it is, not as another reply left it a moment
                // before. A locking read cannot be boxed: locked by id, then held to the scope.
                let Some(current) = crate::tickets::lock_ticket(conn, outbound.ticket_id)
                    .await?
                    .filter(|t| scope.includes(Some(t.company_id)))
                else {
                    return Err(TxError::Domain(MessagingError::NotFound));
                };
                if let Some(key) = &outbound.idempotency_key
                    && let Some(earlier) =
                        keyed_message(conn, current.company_id, outbound.author_id, key).await?
                {
                    return Ok(OutboundOutcome::Replayed(earlier));
                }
                outbound
                    .admitted_by(&current, Utc::now())
                    .map_err(TxError::Domain)?;
                let created = insert_outbound(conn, &current, outbound).await?;
                let used: Vec<i64> = outbound.uploads().map(|u| u.get()).collect();
                if !used.is_empty() {
                    diesel::update(uploads::table.filter(uploads::id.eq_any(&used)))
                        .set(uploads::last_used_at.eq(created.created_at))
                        .execute(conn)
                        .await?;
                }
                let effect = current.on_reply(outbound.author_id.is_some(), created.created_at);
                crate::facts::append(
                    conn,
                    &current.reply_facts(outbound.author_id, created.created_at),
                )
                .await?;
                diesel::update(tickets::table.filter(tickets::id.eq(current.id.get())))
                    .set((
                        tickets::first_response_at.eq(effect.first_response_at),
                        tickets::last_message_at.eq(effect.last_message_at),
                        tickets::last_activity_at.eq(effect.last_activity_at),
                        tickets::version.eq(tickets::version + 1),
                    ))
                    .execute(conn)
                    .await?;
                events::append(conn, &[message_events::created(&created)]).await?;
                enqueue(
                    conn,
                    Some(current.company_id.get()),
                    &Job::Send {
                        message_id: created.id,
                    },
                )
                .await?;
                Ok(OutboundOutcome::Created(created))
            })
            .await;
        self.db.announce(Announce::Events);
        self.db.announce(Announce::Jobs);
        match result {
            Ok(outcome) => Ok(outcome),
            Err(TxError::Domain(e)) => Err(e),
            // A concurrent request with the same key won: answer with its message.
            Err(TxError::Db(e))
                if constraint_violation(&e)
                    == Some(Violation::Unique("ticket_messages_idempotency_key")) =>
            {
                // The winner may be on another ticket of the company (the key is unique per
                // company and author); the domain tells the client so.
                let company: i64 = tickets::table
                    .filter(tickets::id.eq(outbound.ticket_id.get()))
                    .select(tickets::company_id)
                    .first(&mut conn)
                    .await
                    .map_err(store_error)?;
                let winner = match &outbound.idempotency_key {
                    Some(key) => {
                        keyed_message(&mut conn, CompanyId::new(company), outbound.author_id, key)
                            .await
                            .map_err(store_error)?
                    }
                    None => None,
                };
                winner.map(OutboundOutcome::Replayed).ok_or_else(|| {
                    MessagingError::unknown("an idempotency key in use names no message")
                })
            }
            Err(TxError::Db(e)) => Err(store_error(e)),
        }
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %ticket))]
    async fn record_triage(
        &self,
        ticket: TicketId,
        result: &TriageResult,
        auto_reply: Option<MessageContent>,
    ) -> Result<Option<TriageRecorded>, MessagingError> {
        crate::triage_write::record(&self.db, ticket, result, auto_reply.as_ref()).await
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %ticket))]
    async fn record_survey(
        &self,
        ticket: TicketId,
        question: MessageContent,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        crate::triage_write::record_survey(&self.db, ticket, &question).await
    }

    #[tracing::instrument(skip_all, fields(company_id = %report.company_id, message_sid = %report.message_sid))]
    async fn apply_status(
        &self,
        report: &StatusReport,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        match self.batcher.submit_status(&self.db, report).await {
            Some(outcome) => outcome,
            None => crate::status_batch::apply_alone(&self.db, report).await,
        }
    }

    async fn find(
        &self,
        scope: Scope,
        id: MessageId,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        find_message(&mut conn, scope, id.get())
            .await
            .map_err(store_error)
    }

    async fn list(
        &self,
        scope: Scope,
        ticket_id: TicketId,
        page: PageRequest,
    ) -> Result<Option<Page<TicketMessage>>, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let mut owner = tickets::table
            .filter(tickets::id.eq(ticket_id.get()))
            .into_boxed();
        if let Scope::Company(c) = scope {
            owner = owner.filter(tickets::company_id.eq(c.get()));
        }
        let Some(company) = owner
            .select(tickets::company_id)
            .first::<i64>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let mut query = ticket_messages::table
            .filter(ticket_messages::company_id.eq(company))
            .filter(ticket_messages::ticket_id.eq(ticket_id.get()))
            .into_boxed();
        if let Some(cursor) = page.cursor {
            query = query.filter(ticket_messages::id.gt(cursor.id));
        }
        let rows = query
            .order(ticket_messages::id.asc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(MessageRow::as_select())
            .load::<MessageRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let messages = rows
            .into_iter()
            .map(|r| r.into_message().map_err(MessagingError::unknown))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Page::from_overfetch(messages, page.limit, |m| {
            Cursor {
                at: None,
                id: m.id.get(),
            }
        })))
    }

    async fn latest(
        &self,
        tickets: &[(CompanyId, TicketId)],
    ) -> Result<Vec<TicketMessage>, MessagingError> {
        let (companies, ids): (Vec<i64>, Vec<i64>) =
            tickets.iter().map(|(c, t)| (c.get(), t.get())).unzip();
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // One index probe per ticket (company, ticket, id DESC), however long each
        // conversation is.
        let rows: Vec<MessageRow> = diesel::sql_query(
            "SELECT m.id, m.company_id, m.ticket_id, m.content, m.from_customer, \
                    m.whatsapp_number, m.whatsapp_message_id, m.author_id, m.delivery_status, \
                    m.error_code, m.error_message, m.media, m.template, m.created_at, m.updated_at \
               FROM unnest($1::bigint[], $2::bigint[]) AS t(company_id, ticket_id) \
               CROSS JOIN LATERAL ( \
                 SELECT * FROM ticket_messages \
                  WHERE company_id = t.company_id AND ticket_id = t.ticket_id \
                  ORDER BY id DESC LIMIT 1) m",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(&companies)
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(&ids)
        .load(&mut conn)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|r| r.into_message().map_err(MessagingError::unknown))
            .collect()
    }

    async fn send_retries(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<(MessageId, SendRetry)>, MessagingError> {
        use crate::schema::jobs;
        // The send job of message N is the live job with the domain's key for it.
        let keys: Vec<String> = ids
            .iter()
            .map(|&message_id| Job::Send { message_id }.dedupe_key())
            .collect();
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let rows: Vec<(Option<String>, Option<String>, DateTime<Utc>, i32)> = jobs::table
            .filter(jobs::kind.eq(JobKind::Send.as_str()))
            .filter(jobs::dedupe_key.eq_any(&keys))
            .filter(jobs::status.eq("queued"))
            .filter(jobs::last_error.is_not_null())
            .select((
                jobs::dedupe_key,
                jobs::last_error,
                jobs::run_at,
                jobs::attempts,
            ))
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, error, run_at, attempts)| {
                let key = key?;
                let id = ids
                    .iter()
                    .copied()
                    .find(|&message_id| Job::Send { message_id }.dedupe_key() == key)?;
                Some((
                    id,
                    SendRetry {
                        last_error: error?,
                        next_attempt_at: run_at,
                        attempts,
                    },
                ))
            })
            .collect())
    }

    #[tracing::instrument(skip_all, fields(message_id = %id))]
    async fn requeue(&self, scope: Scope, id: MessageId) -> Result<TicketMessage, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let result = conn
            .transaction(async |conn| -> Result<TicketMessage, TxError> {
                // Locked: a send finishing meanwhile must not be undone by this update.
                let Some(current) = find_message_for_update(conn, scope, id.get()).await? else {
                    return Err(TxError::Domain(MessagingError::NotFound));
                };
                let again = current.requeue().map_err(TxError::Domain)?;
                // Read, not locked: the message's lock is held, and replies lock the ticket
                // first; a window that closes a moment later is Twilio's 63016 to report.
                if let Some(ticket) = crate::tickets::read_ticket(conn, current.ticket_id).await? {
                    current
                        .resend_admitted_by(&ticket, Utc::now())
                        .map_err(|refused| TxError::Domain(refused.into()))?;
                }
                let row: MessageRow =
                    diesel::update(ticket_messages::table.filter(ticket_messages::id.eq(id.get())))
                        .set((
                            ticket_messages::delivery_status.eq(again.delivery_status.as_str()),
                            ticket_messages::whatsapp_message_id.eq(&again.whatsapp_message_id),
                            ticket_messages::error_code.eq(again.error_code),
                            ticket_messages::error_message.eq(&again.error_message),
                        ))
                        .returning(MessageRow::as_returning())
                        .get_result(conn)
                        .await?;
                let queued = message(row)?;
                // After a reported failure a new series of attempts begins; a message still
                // queued keeps its interrupted attempt on record (it may be at the provider).
                if current.attempts_ended() {
                    diesel::update(ticket_messages::table.filter(ticket_messages::id.eq(id.get())))
                        .set(ticket_messages::send_started_at.eq(None::<DateTime<Utc>>))
                        .execute(conn)
                        .await?;
                }
                // A failed message visibly goes back to queued; a never-sent one stays so.
                if current.delivery_status != queued.delivery_status {
                    events::append(conn, &[message_events::status_updated(&queued)]).await?;
                }
                enqueue(
                    conn,
                    Some(queued.company_id.get()),
                    &Job::Send {
                        message_id: queued.id,
                    },
                )
                .await?;
                Ok(queued)
            })
            .await;
        self.db.announce(Announce::Events);
        self.db.announce(Announce::Jobs);
        match result {
            Ok(m) => Ok(m),
            Err(TxError::Domain(e)) => Err(e),
            Err(TxError::Db(e)) => Err(store_error(e)),
        }
    }

    async fn customer_texts(
        &self,
        ticket: TicketId,
        limit: i64,
    ) -> Result<Vec<String>, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // The company leads the (company_id, ticket_id, id) index: without it this scans
        // every message of every tenant.
        let company = tickets::table
            .filter(tickets::id.eq(ticket.get()))
            .select(tickets::company_id)
            .single_value();
        let mut texts: Vec<String> = ticket_messages::table
            .filter(ticket_messages::company_id.nullable().eq(company))
            .filter(ticket_messages::ticket_id.eq(ticket.get()))
            .filter(ticket_messages::from_customer.eq(true))
            .filter(ticket_messages::content.ne(""))
            .order(ticket_messages::id.desc())
            .limit(limit)
            .select(ticket_messages::content)
            .load(&mut conn)
            .await
            .map_err(store_error)?;
        texts.reverse();
        Ok(texts)
    }

    async fn delivery(&self, id: MessageId) -> Result<Option<Delivery>, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // One round trip: the send job reads this for every reply.
        let found: Option<(MessageRow, Option<i64>, String)> = ticket_messages::table
            .inner_join(tickets::table)
            .filter(ticket_messages::id.eq(id.get()))
            .select((
                MessageRow::as_select(),
                tickets::integration_id,
                tickets::channel,
            ))
            .first(&mut conn)
            .await
            .optional()
            .map_err(store_error)?;
        let Some((row, integration, channel)) = found else {
            return Ok(None);
        };
        Ok(Some(Delivery {
            message: message(row).map_err(store_error)?,
            integration_id: integration.map(omni_core::IntegrationId::new),
            channel: channel
                .parse()
                .map_err(|_| MessagingError::unknown("a ticket has an invalid channel"))?,
        }))
    }

    #[tracing::instrument(skip_all, fields(message_id = %id))]
    async fn begin_send(&self, id: MessageId) -> Result<Option<SendStart>, MessagingError> {
        // Committed before the provider is called, in the next group commit: the row lock
        // orders two workers that raced for one job, and the earlier start is read under it.
        match self.batcher.submit_begin_send(&self.db, id).await {
            Some(outcome) => outcome,
            None => crate::send_batch::begin_alone(&self.db, id).await,
        }
    }

    async fn sid_in_use(&self, company: CompanyId, sid: &str) -> Result<bool, MessagingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        diesel::select(diesel::dsl::exists(
            ticket_messages::table
                .filter(ticket_messages::company_id.eq(company.get()))
                .filter(ticket_messages::whatsapp_message_id.eq(sid)),
        ))
        .get_result(&mut conn)
        .await
        .map_err(store_error)
    }

    async fn mark_sent(
        &self,
        id: MessageId,
        sid: &str,
        status: DeliveryStatus,
    ) -> Result<(), MessagingError> {
        self.finish(id, Some(sid), status, None, None).await
    }

    async fn mark_failed(
        &self,
        id: MessageId,
        code: Option<i32>,
        why: &str,
    ) -> Result<(), MessagingError> {
        self.finish(id, None, DeliveryStatus::Failed, code, Some(why))
            .await
    }
}

impl PgMessageStore {
    /// Records the outcome of a send on a message that is still waiting for it, in the next
    /// group commit.
    #[tracing::instrument(skip_all, fields(message_id = %id, status = status.as_str()))]
    async fn finish(
        &self,
        id: MessageId,
        sid: Option<&str>,
        status: DeliveryStatus,
        code: Option<i32>,
        why: Option<&str>,
    ) -> Result<(), MessagingError> {
        let finish = Finish {
            id,
            sid: sid.map(str::to_owned),
            status,
            code,
            why: why.map(str::to_owned),
        };
        match self
            .batcher
            .submit_finish_send(&self.db, finish.clone())
            .await
        {
            Some(outcome) => outcome,
            None => crate::send_batch::finish_alone(&self.db, &finish).await,
        }
    }
}

/// A transaction's failure: the database's, or a domain answer that rolls it back.
enum TxError {
    Db(diesel::result::Error),
    Domain(MessagingError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}
