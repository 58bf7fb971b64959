//! The messaging crate's [`MessageStore`] in memory. Each method is one unit of work under
//! the lock: the message, the ticket it moves, their events and the jobs they imply.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omni_core::{CompanyId, MessageId, NewEvent, Page, PageRequest, Scope, TicketId, UserId};
use omni_messaging::{
    Delivery, DeliveryStatus, EARLY_REPORT_KEPT_FOR, IdempotencyKey, Inbound, InboundOutcome, Job,
    MessageContent, MessageStore, MessagingError, NewOutbound, OutboundOutcome, SendStart,
    StatusReport, TicketMessage, TriageRecorded, events as message_events,
};
use omni_ticketing::{
    NewTicket, Priority, Ticket, TicketChanges, TicketingError, TriageMerge, TriageResult,
    events as ticket_events,
};

use crate::MemoryStore;
use crate::state::page_by_id;
use crate::state::{State, StoredMessage};
use crate::tickets::{insert_ticket, open_ticket_of};

fn ticketing(e: TicketingError) -> MessagingError {
    match e {
        TicketingError::NotFound => MessagingError::NotFound,
        other => MessagingError::Unknown(Box::new(other)),
    }
}

fn find_in(state: &State, scope: Scope, id: MessageId) -> Option<&TicketMessage> {
    state
        .messages
        .get(&id.get())
        .map(|m| &m.message)
        .filter(|m| scope.includes(Some(m.company_id)))
}

/// Stores a new message and returns it.
fn insert_message(
    state: &mut State,
    message: impl FnOnce(MessageId) -> TicketMessage,
    idempotency_key: Option<String>,
) -> TicketMessage {
    let id = state.next_id();
    let message = message(MessageId::new(id));
    state.messages.insert(
        id,
        StoredMessage {
            message: message.clone(),
            idempotency_key,
            send_started_at: None,
        },
    );
    message
}

/// The message `author` stored in `company` under the namespaced key `key`.
fn keyed_in<'a>(
    state: &'a State,
    company: CompanyId,
    author: Option<UserId>,
    key: &str,
) -> Option<&'a TicketMessage> {
    state
        .messages
        .values()
        .find(|m| {
            m.message.company_id == company
                && m.message.author_id == author
                && m.idempotency_key.as_deref() == Some(key)
        })
        .map(|m| &m.message)
}

/// Stores an outbound message on `current` as `queued` with its send job, or answers with
/// the earlier message of the same idempotency key; its event goes in `events`, for the
/// caller to append with its own. `now` is the moment the reply is judged and stored.
fn queue_outbound(
    now: DateTime<Utc>,
    state: &mut State,
    current: &Ticket,
    outbound: &NewOutbound,
    events: &mut Vec<NewEvent>,
) -> Result<OutboundOutcome, MessagingError> {
    let key = outbound.idempotency_key.as_ref().map(|k| k.as_str());
    if let Some(key) = key
        && let Some(earlier) = keyed_in(state, current.company_id, outbound.author_id, key)
    {
        return Ok(OutboundOutcome::Replayed(earlier.clone()));
    }
    outbound.admitted_by(current, now)?;
    let created = insert_message(
        state,
        |id| TicketMessage {
            id,
            ticket_id: current.id,
            company_id: current.company_id,
            content: outbound.content.clone(),
            from_customer: false,
            whatsapp_number: current.customer_phone.clone(),
            whatsapp_message_id: None,
            author_id: outbound.author_id,
            delivery_status: DeliveryStatus::Queued,
            error_code: None,
            error_message: None,
            media: outbound.media.clone(),
            template: outbound.template.clone(),
            created_at: now,
            updated_at: now,
            retry: None,
        },
        key.map(str::to_owned),
    );
    for used in outbound.uploads() {
        if let Some(upload) = state.uploads.get_mut(&used.get()) {
            upload.last_used_at = Some(created.created_at);
        }
    }
    let effect = current.on_reply(outbound.author_id.is_some(), created.created_at);
    state
        .facts
        .extend(current.reply_facts(outbound.author_id, created.created_at));
    if let Some(ticket) = state.tickets.get_mut(&current.id.get()) {
        ticket.first_response_at = effect.first_response_at;
        ticket.last_message_at = Some(effect.last_message_at);
        ticket.last_activity_at = effect.last_activity_at;
        ticket.version += 1;
        ticket.updated_at = now;
    }
    events.push(message_events::created(&created));
    state.enqueue(
        Some(current.company_id),
        &Job::Send {
            message_id: created.id,
        },
    );
    Ok(OutboundOutcome::Created(created))
}

/// Records how a send ended on a message that was still waiting for it.
fn finish(
    state: &mut State,
    id: MessageId,
    sid: Option<&str>,
    status: DeliveryStatus,
    code: Option<i32>,
    why: Option<&str>,
) -> Result<(), MessagingError> {
    // One message per provider id and company, as the database's unique key says.
    if let (Some(sid), Some(own)) = (sid, state.messages.get(&id.get())) {
        let company = own.message.company_id;
        if state.messages.values().any(|m| {
            m.message.id != id
                && m.message.company_id == company
                && m.message.whatsapp_message_id.as_deref() == Some(sid)
        }) {
            return Err(MessagingError::unknown(
                "another message already holds this provider id",
            ));
        }
    }
    let Some(stored) = state.messages.get_mut(&id.get()) else {
        return Ok(());
    };
    let m = &mut stored.message;
    if !DeliveryStatus::AWAITING_SEND.contains(&m.delivery_status) {
        return Ok(());
    }
    m.delivery_status = status;
    m.whatsapp_message_id = sid.map(str::to_owned);
    m.error_code = code;
    m.error_message = why.map(str::to_owned);
    m.updated_at = Utc::now();
    let mut current = m.clone();
    let mut events = vec![message_events::status_updated(&current)];
    // Reports that came before this answer apply now, in the order they came.
    if let Some(sid) = sid {
        let (early, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.early_reports)
            .into_iter()
            .partition(|(r, _)| r.company_id == current.company_id && r.message_sid == sid);
        state.early_reports = rest;
        for (report, _) in &early {
            if let Some(next) = current.take_status(report) {
                current = next;
                events.push(message_events::status_updated(&current));
            }
        }
        if let Some(stored) = state.messages.get_mut(&id.get()) {
            stored.message = current;
        }
    }
    state.append(events);
    Ok(())
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn record_inbound(&self, inbound: &Inbound) -> Result<InboundOutcome, MessagingError> {
        let mut state = self.lock();
        if let Some(seen) = state.messages.values().find(|m| {
            m.message.company_id == inbound.company_id
                && m.message.whatsapp_message_id.as_deref() == Some(inbound.message_sid.as_str())
        }) {
            return Ok(InboundOutcome::Duplicate {
                message_id: seen.message.id,
            });
        }
        let (mut ticket, opened_now) =
            match open_ticket_of(&state, inbound.company_id, &inbound.customer) {
                Some(open) => (open.clone(), false),
                None => {
                    let mut opened = insert_ticket(
                        &mut state,
                        &NewTicket {
                            company_id: inbound.company_id,
                            customer_phone: inbound.customer.clone(),
                            customer_name: inbound.customer_name.clone(),
                            channel: inbound.channel,
                            priority: Priority::Medium,
                            category: None,
                            assigned_to: None,
                        },
                    )
                    .map_err(ticketing)?;
                    opened.integration_id = Some(inbound.integration_id);
                    (opened, true)
                }
            };
        // The domain decides whether the message reopens the ticket and calls triage.
        let now = Utc::now();
        let effect = ticket.take_customer_message(opened_now, now, &inbound.body);
        state.facts.extend(effect.facts.iter().cloned());
        let message = insert_message(
            &mut state,
            |id| TicketMessage {
                id,
                ticket_id: ticket.id,
                company_id: inbound.company_id,
                content: inbound.body.clone(),
                from_customer: true,
                whatsapp_number: inbound.customer.clone(),
                whatsapp_message_id: Some(inbound.message_sid.clone()),
                author_id: None,
                delivery_status: DeliveryStatus::Received,
                error_code: None,
                error_message: None,
                media: inbound.media.clone(),
                template: None,
                created_at: now,
                updated_at: now,
                retry: None,
            },
            None,
        );
        ticket.note_customer_message(now, inbound.customer_name.as_deref(), inbound.channel);
        ticket.version += 1;
        ticket.updated_at = now;
        state.tickets.insert(ticket.id.get(), ticket.clone());
        let mut new_events = Vec::with_capacity(2);
        if opened_now {
            new_events.push(ticket_events::created(&ticket));
        } else if let Some(status) = effect.status {
            let changes = TicketChanges {
                status: Some(status),
                ..TicketChanges::default()
            };
            new_events.push(ticket_events::updated(&ticket, &changes));
        }
        new_events.push(message_events::created(&message));
        if effect.rating.is_some() {
            new_events.push(ticket_events::rated(&ticket));
        }
        state.append(new_events);
        if effect.triage {
            state.enqueue(
                Some(ticket.company_id),
                &Job::Triage {
                    ticket_id: ticket.id,
                },
            );
        }
        Ok(InboundOutcome::Stored {
            message,
            ticket,
            new_ticket: opened_now,
        })
    }

    async fn keyed(
        &self,
        company: CompanyId,
        author: Option<UserId>,
        key: &IdempotencyKey,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        Ok(keyed_in(&self.lock(), company, author, key.as_str()).cloned())
    }

    async fn record_outbound(
        &self,
        scope: Scope,
        outbound: &NewOutbound,
    ) -> Result<OutboundOutcome, MessagingError> {
        let mut state = self.lock();
        let Some(current) = state
            .tickets
            .get(&outbound.ticket_id.get())
            .filter(|t| scope.includes(Some(t.company_id)))
            .cloned()
        else {
            return Err(MessagingError::NotFound);
        };
        let mut events = Vec::new();
        let outcome = queue_outbound(Utc::now(), &mut state, &current, outbound, &mut events)?;
        state.append(events);
        Ok(outcome)
    }

    async fn record_triage(
        &self,
        ticket: TicketId,
        result: &TriageResult,
        auto_reply: Option<MessageContent>,
    ) -> Result<Option<TriageRecorded>, MessagingError> {
        let mut state = self.lock();
        let Some(current) = state.tickets.get(&ticket.get()).cloned() else {
            return Ok(None);
        };
        let TriageMerge { mut after, changes } = current.merge_triage(result);
        // One moment for the whole write: the reply is judged due and stored at the same
        // instant, so the window cannot close between the two.
        let now = Utc::now();
        after.version += 1;
        after.updated_at = now;
        state.tickets.insert(ticket.get(), after.clone());
        let mut reply_events = Vec::new();
        let reply = match auto_reply.as_ref().filter(|_| after.awaits_auto_reply(now)) {
            None => None,
            Some(content) => {
                let outbound = NewOutbound {
                    ticket_id: ticket,
                    author_id: None,
                    content: content.as_str().to_owned(),
                    idempotency_key: Some(IdempotencyKey::auto_reply(ticket)),
                    template: None,
                    media: Vec::new(),
                };
                match queue_outbound(now, &mut state, &after, &outbound, &mut reply_events)? {
                    OutboundOutcome::Created(m) => Some(m),
                    // Queued by an earlier run of this triage.
                    OutboundOutcome::Replayed(_) => None,
                }
            }
        };
        if let Some(stored) = state.tickets.get_mut(&ticket.get()) {
            stored.suggested_reply = stored.suggestion_after(reply.is_some()).map(str::to_owned);
        }
        // The events carry the ticket as the unit of work left it, reply included.
        let ticket = state.tickets.get(&ticket.get()).cloned().unwrap_or(after);
        let mut new_events = vec![ticket_events::triage_completed(&ticket, result)];
        if !changes.is_empty() {
            new_events.push(ticket_events::updated(&ticket, &changes));
        }
        new_events.extend(reply_events);
        state.append(new_events);
        Ok(Some(TriageRecorded { ticket, reply }))
    }

    async fn record_survey(
        &self,
        ticket: TicketId,
        question: MessageContent,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        let mut state = self.lock();
        let Some(current) = state.tickets.get(&ticket.get()).cloned() else {
            return Ok(None);
        };
        let now = Utc::now();
        if !current.survey_due(now) {
            return Ok(None);
        }
        let outbound = NewOutbound {
            ticket_id: ticket,
            author_id: None,
            content: question.as_str().to_owned(),
            idempotency_key: Some(IdempotencyKey::survey(ticket)),
            template: None,
            media: Vec::new(),
        };
        let mut events = Vec::new();
        let OutboundOutcome::Created(m) =
            queue_outbound(now, &mut state, &current, &outbound, &mut events)?
        else {
            return Ok(None);
        };
        if let Some(t) = state.tickets.get_mut(&ticket.get()) {
            t.survey_sent_at = Some(m.created_at);
        }
        state.facts.extend(current.survey_facts(m.created_at));
        state.append(events);
        Ok(Some(m))
    }

    async fn apply_status(
        &self,
        report: &StatusReport,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        let mut state = self.lock();
        let Some(stored) = state.messages.values_mut().find(|m| {
            m.message.company_id == report.company_id
                && !m.message.from_customer
                && m.message.whatsapp_message_id.as_deref() == Some(report.message_sid.as_str())
        }) else {
            // Twilio's callback raced the send's answer: kept until that answer names it.
            let now = Utc::now();
            let kept_for = chrono::Duration::from_std(EARLY_REPORT_KEPT_FOR).unwrap_or_default();
            state.early_reports.retain(|(_, at)| now - *at < kept_for);
            state.early_reports.push((report.clone(), now));
            return Ok(None);
        };
        let Some(mut updated) = stored.message.take_status(report) else {
            return Ok(None);
        };
        updated.updated_at = Utc::now();
        stored.message = updated.clone();
        state.append([message_events::status_updated(&updated)]);
        Ok(Some(updated))
    }

    async fn find(
        &self,
        scope: Scope,
        id: MessageId,
    ) -> Result<Option<TicketMessage>, MessagingError> {
        Ok(find_in(&self.lock(), scope, id).cloned())
    }

    async fn list(
        &self,
        scope: Scope,
        ticket: TicketId,
        page: PageRequest,
    ) -> Result<Option<Page<TicketMessage>>, MessagingError> {
        let state = self.lock();
        if !state
            .tickets
            .get(&ticket.get())
            .is_some_and(|t| scope.includes(Some(t.company_id)))
        {
            return Ok(None);
        }
        Ok(Some(page_by_id(
            &state.messages,
            page,
            |m| (m.message.ticket_id == ticket).then_some(&m.message),
            |m| m.id.get(),
        )))
    }

    async fn latest(
        &self,
        tickets: &[(CompanyId, TicketId)],
    ) -> Result<Vec<TicketMessage>, MessagingError> {
        let state = self.lock();
        let mut out = Vec::new();
        for (company, ticket) in tickets {
            let latest = state
                .messages
                .values()
                .filter(|m| m.message.company_id == *company && m.message.ticket_id == *ticket)
                .max_by_key(|m| m.message.id);
            if let Some(m) = latest {
                out.push(m.message.clone());
            }
        }
        Ok(out)
    }

    async fn send_retries(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<(MessageId, omni_messaging::SendRetry)>, MessagingError> {
        let state = self.lock();
        let mut out = Vec::new();
        for &message_id in ids {
            let job = omni_messaging::Job::Send { message_id };
            let key = job.dedupe_key();
            let waiting = state.jobs.values().find(|j| {
                j.kind == job.kind().as_str()
                    && j.dedupe_key == key
                    && j.status == crate::state::JobStatus::Queued
            });
            if let Some(j) = waiting
                && let Some(error) = &j.last_error
            {
                out.push((
                    message_id,
                    omni_messaging::SendRetry {
                        last_error: error.clone(),
                        next_attempt_at: j.run_at,
                        attempts: j.attempts,
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn requeue(&self, scope: Scope, id: MessageId) -> Result<TicketMessage, MessagingError> {
        let mut state = self.lock();
        let Some(current) = find_in(&state, scope, id).cloned() else {
            return Err(MessagingError::NotFound);
        };
        let mut again = current.requeue()?;
        if let Some(ticket) = state.tickets.get(&current.ticket_id.get()) {
            current.resend_admitted_by(ticket, Utc::now())?;
        }
        again.updated_at = Utc::now();
        if let Some(stored) = state.messages.get_mut(&id.get()) {
            stored.message = again.clone();
            // After a reported failure a new series of attempts begins; a message still
            // queued keeps its interrupted attempt on record (it may be at the provider).
            if current.attempts_ended() {
                stored.send_started_at = None;
            }
        }
        // A failed message visibly goes back to queued; a never-sent one stays so.
        if current.delivery_status != again.delivery_status {
            state.append([message_events::status_updated(&again)]);
        }
        state.enqueue(
            Some(again.company_id),
            &Job::Send {
                message_id: again.id,
            },
        );
        Ok(again)
    }

    async fn customer_texts(
        &self,
        ticket: TicketId,
        limit: i64,
    ) -> Result<Vec<String>, MessagingError> {
        let state = self.lock();
        let mut texts: Vec<String> = state
            .messages
            .values()
            .rev()
            .map(|m| &m.message)
            .filter(|m| m.ticket_id == ticket && m.from_customer && !m.content.is_empty())
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|m| m.content.clone())
            .collect();
        texts.reverse();
        Ok(texts)
    }

    async fn delivery(&self, id: MessageId) -> Result<Option<Delivery>, MessagingError> {
        let state = self.lock();
        let Some(message) = find_in(&state, Scope::All, id).cloned() else {
            return Ok(None);
        };
        let ticket = state
            .tickets
            .get(&message.ticket_id.get())
            .ok_or_else(|| MessagingError::unknown("a message's ticket is missing"))?;
        Ok(Some(Delivery {
            integration_id: ticket.integration_id,
            channel: ticket.channel,
            message,
        }))
    }

    async fn begin_send(&self, id: MessageId) -> Result<Option<SendStart>, MessagingError> {
        let mut state = self.lock();
        let Some(stored) = state.messages.get_mut(&id.get()) else {
            return Ok(None);
        };
        Ok(Some(match stored.send_started_at {
            Some(since) => SendStart::Retaken { since },
            None => {
                stored.send_started_at = Some(Utc::now());
                SendStart::First
            }
        }))
    }

    async fn sid_in_use(
        &self,
        company: omni_core::CompanyId,
        sid: &str,
    ) -> Result<bool, MessagingError> {
        Ok(self.lock().messages.values().any(|m| {
            m.message.company_id == company && m.message.whatsapp_message_id.as_deref() == Some(sid)
        }))
    }

    async fn mark_sent(
        &self,
        id: MessageId,
        sid: &str,
        status: DeliveryStatus,
    ) -> Result<(), MessagingError> {
        finish(&mut self.lock(), id, Some(sid), status, None, None)
    }

    async fn mark_failed(
        &self,
        id: MessageId,
        code: Option<i32>,
        why: &str,
    ) -> Result<(), MessagingError> {
        finish(
            &mut self.lock(),
            id,
            None,
            DeliveryStatus::Failed,
            code,
            Some(why),
        )
    }
}
