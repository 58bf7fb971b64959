//! The ticketing crate's [`TicketRepository`] in memory: every change and its event under
//! one lock.

use async_trait::async_trait;
use chrono::Utc;
use omni_core::{CompanyId, Cursor, FieldError, Page, PageRequest, Scope, TicketId};
use omni_ticketing::{
    AssigneeFilter, HandSet, NewTicket, Ticket, TicketChanges, TicketFilter, TicketRepository,
    TicketStatus, TicketingError, TriageMerge, TriageResult, events as ticket_events,
};

use crate::MemoryStore;
use crate::state::State;

fn not_a_user_of_the_company() -> TicketingError {
    TicketingError::Validation(vec![FieldError::new(
        "assigned_to",
        "is not a user of the ticket's company",
    )])
}

/// The customer's ticket that is not closed, if any (there is at most one).
pub(crate) fn open_ticket_of<'s>(
    state: &'s State,
    company: CompanyId,
    phone: &omni_core::PhoneNumber,
) -> Option<&'s Ticket> {
    state.tickets.values().find(|t| {
        t.company_id == company && &t.customer_phone == phone && t.status != TicketStatus::Closed
    })
}

/// Opens a ticket as the database does: one open ticket per customer of a company, and
/// an assignee from the ticket's company.
pub(crate) fn insert_ticket(state: &mut State, new: &NewTicket) -> Result<Ticket, TicketingError> {
    if !state.companies.contains_key(&new.company_id.get()) {
        return Err(TicketingError::NotFound);
    }
    if let Some(existing) = open_ticket_of(state, new.company_id, &new.customer_phone) {
        return Err(TicketingError::OpenTicketExists {
            existing: existing.id.get(),
        });
    }
    if let Some(user) = new.assigned_to
        && !state.is_user_of(user, new.company_id)
    {
        return Err(not_a_user_of_the_company());
    }
    let now = Utc::now();
    let id = state.next_id();
    let ticket = Ticket {
        id: TicketId::new(id),
        company_id: new.company_id,
        integration_id: None,
        customer_phone: new.customer_phone.clone(),
        customer_name: new.customer_name.clone(),
        channel: new.channel,
        status: TicketStatus::New,
        priority: new.priority,
        category: new.category.clone(),
        sentiment: None,
        sentiment_score: None,
        suggested_categories: serde_json::json!([]),
        assigned_to: new.assigned_to,
        last_message_at: None,
        window_closes_at: None,
        last_activity_at: now,
        first_response_at: None,
        resolved_at: None,
        reopened_at: None,
        survey_sent_at: None,
        suggested_reply: None,
        rating: None,
        created_at: now,
        updated_at: now,
        version: 1,
        hand_set: HandSet::default(),
    };
    state.tickets.insert(id, ticket.clone());
    state.facts.extend(ticket.opening_facts());
    Ok(ticket)
}

/// Whether any of the ticket's messages holds every word of `text` (case-insensitively).
fn mentions(state: &State, ticket: &Ticket, text: &str) -> bool {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return false;
    }
    state
        .messages
        .values()
        .filter(|m| m.message.ticket_id == ticket.id)
        .any(|m| {
            let content = m.message.content.to_lowercase();
            words.iter().all(|w| content.contains(w.as_str()))
        })
}

fn matches(state: &State, filter: &TicketFilter, t: &Ticket) -> bool {
    (filter.statuses.is_empty() || filter.statuses.contains(&t.status))
        && (filter.priorities.is_empty() || filter.priorities.contains(&t.priority))
        && filter
            .category
            .as_ref()
            .is_none_or(|c| t.category.as_ref() == Some(c))
        && match filter.assignee {
            AssigneeFilter::Any => true,
            AssigneeFilter::Nobody => t.assigned_to.is_none(),
            AssigneeFilter::User(user) => t.assigned_to == Some(user),
            // The use case resolves `me`; unresolved, it matches nobody.
            AssigneeFilter::Me => false,
        }
        && filter
            .customer_phone
            .as_ref()
            .is_none_or(|p| &t.customer_phone == p)
        && filter
            .text
            .as_ref()
            .is_none_or(|text| mentions(state, t, text))
}

#[async_trait]
impl TicketRepository for MemoryStore {
    async fn list(
        &self,
        scope: Scope,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> Result<Page<Ticket>, TicketingError> {
        let state = self.lock();
        let mut rows: Vec<&Ticket> = state
            .tickets
            .values()
            .filter(|t| scope.includes(Some(t.company_id)))
            .filter(|t| match page.cursor {
                Some(Cursor { at: Some(at), id }) => (t.last_activity_at, t.id.get()) < (at, id),
                _ => true,
            })
            .filter(|t| matches(&state, filter, t))
            .collect();
        rows.sort_by_key(|t| std::cmp::Reverse((t.last_activity_at, t.id)));
        rows.truncate(usize::from(page.limit.get()) + 1);
        let tickets = rows.into_iter().cloned().collect();
        Ok(Page::from_overfetch(tickets, page.limit, |t| Cursor {
            at: Some(t.last_activity_at),
            id: t.id.get(),
        }))
    }

    async fn find(&self, scope: Scope, id: TicketId) -> Result<Option<Ticket>, TicketingError> {
        Ok(self
            .lock()
            .tickets
            .get(&id.get())
            .filter(|t| scope.includes(Some(t.company_id)))
            .cloned())
    }

    async fn insert(&self, new: NewTicket) -> Result<Ticket, TicketingError> {
        let mut state = self.lock();
        let ticket = insert_ticket(&mut state, &new)?;
        state.append([ticket_events::created(&ticket)]);
        Ok(ticket)
    }

    async fn apply(
        &self,
        scope: Scope,
        id: TicketId,
        version: i32,
        changes: &TicketChanges,
    ) -> Result<Option<Ticket>, TicketingError> {
        let mut state = self.lock();
        let Some(current) = state
            .tickets
            .get(&id.get())
            .filter(|t| scope.includes(Some(t.company_id)) && t.version == version)
        else {
            return Ok(None);
        };
        if let Some(Some(user)) = changes.assigned_to.as_ref().map(|c| c.to)
            && !state.is_user_of(user, current.company_id)
        {
            return Err(not_a_user_of_the_company());
        }
        let Some(ticket) = state.tickets.get_mut(&id.get()) else {
            return Ok(None);
        };
        if let Some(c) = &changes.status {
            ticket.status = c.to;
        }
        if let Some(at) = changes.reopened_at {
            ticket.reopened_at = Some(at);
            ticket.resolved_at = None;
        }
        if let Some(c) = &changes.priority {
            ticket.priority = c.to;
        }
        if let Some(c) = &changes.category {
            ticket.category.clone_from(&c.to);
        }
        if let Some(c) = &changes.assigned_to {
            ticket.assigned_to = c.to;
        }
        if let Some(at) = changes.resolved_at {
            ticket.resolved_at = Some(at);
        }
        ticket.hand_set = ticket.hand_set.marking(changes);
        ticket.version += 1;
        ticket.updated_at = Utc::now();
        let ticket = ticket.clone();
        state.append([ticket_events::updated(&ticket, changes)]);
        let at = changes
            .resolved_at
            .or(changes.reopened_at)
            .unwrap_or(ticket.updated_at);
        state.facts.extend(ticket.change_facts(changes, at));
        if changes.ask_rating {
            state.enqueue(
                Some(ticket.company_id),
                &omni_messaging::Job::Survey {
                    ticket_id: ticket.id,
                },
            );
        }
        Ok(Some(ticket))
    }

    async fn apply_triage(
        &self,
        id: TicketId,
        result: &TriageResult,
    ) -> Result<Option<Ticket>, TicketingError> {
        let mut state = self.lock();
        let Some(ticket) = state.tickets.get_mut(&id.get()) else {
            return Ok(None);
        };
        let TriageMerge { mut after, changes } = ticket.merge_triage(result);
        after.version += 1;
        after.updated_at = Utc::now();
        *ticket = after.clone();
        let mut new_events = vec![ticket_events::triage_completed(&after, result)];
        if !changes.is_empty() {
            new_events.push(ticket_events::updated(&after, &changes));
        }
        state.append(new_events);
        Ok(Some(after))
    }

    async fn delete(&self, scope: Scope, id: TicketId) -> Result<bool, TicketingError> {
        let mut state = self.lock();
        let in_scope = state
            .tickets
            .get(&id.get())
            .is_some_and(|t| scope.includes(Some(t.company_id)));
        if !in_scope {
            return Ok(false);
        }
        let Some(ticket) = state.tickets.remove(&id.get()) else {
            return Ok(false);
        };
        state.messages.retain(|_, m| m.message.ticket_id != id);
        state.append([ticket_events::deleted(&ticket)]);
        state.facts.extend(ticket.deletion_facts(Utc::now()));
        Ok(true)
    }
}
