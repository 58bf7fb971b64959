//! The events message changes produce.

use omni_core::{EventType, NewEvent};
use serde_json::json;

use crate::TicketMessage;

/// `message.created`: `{message}`.
pub fn created(message: &TicketMessage) -> NewEvent {
    NewEvent {
        company_id: message.company_id,
        event_type: EventType::MessageCreated,
        ticket_id: Some(message.ticket_id),
        payload: json!({ "message": message }),
    }
}

/// `message.status_updated`: `{message}` with its new status.
pub fn status_updated(message: &TicketMessage) -> NewEvent {
    NewEvent {
        company_id: message.company_id,
        event_type: EventType::MessageStatusUpdated,
        ticket_id: Some(message.ticket_id),
        payload: json!({ "message": message }),
    }
}
