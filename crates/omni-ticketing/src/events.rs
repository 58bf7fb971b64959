//! The events ticket changes produce, as the WebSocket frames' `data` carries them.

use omni_core::{EventType, NewEvent};
use serde_json::json;

use crate::{Ticket, TicketChanges, TriageResult};

/// `ticket.created`: `{ticket}`.
pub fn created(ticket: &Ticket) -> NewEvent {
    NewEvent {
        company_id: ticket.company_id,
        event_type: EventType::TicketCreated,
        ticket_id: Some(ticket.id),
        payload: json!({ "ticket": ticket }),
    }
}

/// `ticket.updated`: `{ticket, changes: {field: {from, to}}}` — the ticket after the
/// change, and only the fields that changed.
pub fn updated(ticket: &Ticket, changes: &TicketChanges) -> NewEvent {
    NewEvent {
        company_id: ticket.company_id,
        event_type: EventType::TicketUpdated,
        ticket_id: Some(ticket.id),
        payload: json!({ "ticket": ticket, "changes": changes }),
    }
}

/// `ticket.deleted`: `{ticket_id}`.
pub fn deleted(ticket: &Ticket) -> NewEvent {
    NewEvent {
        company_id: ticket.company_id,
        event_type: EventType::TicketDeleted,
        ticket_id: Some(ticket.id),
        payload: json!({ "ticket_id": ticket.id }),
    }
}

/// `ticket.rated`: `{ticket}` — its `rating` holds the score, the comment and when.
pub fn rated(ticket: &Ticket) -> NewEvent {
    NewEvent {
        company_id: ticket.company_id,
        event_type: EventType::TicketRated,
        ticket_id: Some(ticket.id),
        payload: json!({ "ticket": ticket }),
    }
}

/// `triage.completed`: `{ticket_id, result}`.
pub fn triage_completed(ticket: &Ticket, result: &TriageResult) -> NewEvent {
    NewEvent {
        company_id: ticket.company_id,
        event_type: EventType::TriageCompleted,
        ticket_id: Some(ticket.id),
        payload: json!({ "ticket_id": ticket.id, "result": result }),
    }
}
