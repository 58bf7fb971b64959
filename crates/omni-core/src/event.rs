use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CompanyId, EventId, TicketId};

/// The kinds of change the event log records and the WebSocket hub pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A ticket was opened, by a customer's message or by an agent.
    #[serde(rename = "ticket.created")]
    TicketCreated,
    /// Fields of a ticket changed; the payload names them.
    #[serde(rename = "ticket.updated")]
    TicketUpdated,
    /// A ticket was deleted (with its messages).
    #[serde(rename = "ticket.deleted")]
    TicketDeleted,
    /// A message was added to a ticket, inbound or outbound.
    #[serde(rename = "message.created")]
    MessageCreated,
    /// Twilio reported a new delivery status for an outbound message.
    #[serde(rename = "message.status_updated")]
    MessageStatusUpdated,
    /// Automatic triage finished for a ticket.
    #[serde(rename = "triage.completed")]
    TriageCompleted,
    /// The customer rated the service on a resolved ticket.
    #[serde(rename = "ticket.rated")]
    TicketRated,
}

/// A text that names no [`EventType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

impl EventType {
    /// Every event type, in a stable order.
    pub const ALL: [EventType; 7] = [
        EventType::TicketCreated,
        EventType::TicketUpdated,
        EventType::TicketDeleted,
        EventType::MessageCreated,
        EventType::MessageStatusUpdated,
        EventType::TriageCompleted,
        EventType::TicketRated,
    ];

    /// The wire name, e.g. `ticket.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.created",
            EventType::TicketUpdated => "ticket.updated",
            EventType::TicketDeleted => "ticket.deleted",
            EventType::MessageCreated => "message.created",
            EventType::MessageStatusUpdated => "message.status_updated",
            EventType::TriageCompleted => "triage.completed",
            EventType::TicketRated => "ticket.rated",
        }
    }
}

impl std::str::FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event about to be appended to the log, in the same transaction as its change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The tenant whose agents may see it.
    pub company_id: CompanyId,
    /// What happened.
    pub event_type: EventType,
    /// The ticket it concerns, if any.
    pub ticket_id: Option<TicketId>,
    /// The frame's `data`: the changed resource or the changed fields.
    pub payload: serde_json::Value,
}

/// An event as stored in the log (and as WebSocket frames carry it); `id` orders events
/// of a company.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the log; later events have larger ids.
    pub id: EventId,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The tenant whose agents may see it.
    pub company_id: CompanyId,
    /// The ticket it concerns, if any.
    pub ticket_id: Option<TicketId>,
    /// The changed resource or the changed fields.
    #[serde(rename = "data")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// When the change was committed.
    pub occurred_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert!("ticket.exploded".parse::<EventType>().is_err());
    }

    #[test]
    fn an_event_serialises_as_the_websocket_frame() {
        let e = Event {
            id: EventId::new(42),
            event_type: EventType::MessageCreated,
            company_id: CompanyId::new(1),
            ticket_id: Some(TicketId::new(7)),
            payload: serde_json::json!({"content": "oi"}),
            occurred_at: DateTime::from_timestamp(0, 0).unwrap(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": 42, "type": "message.created", "company_id": 1, "ticket_id": 7,
                "data": {"content": "oi"}, "occurred_at": "1970-01-01T00:00:00Z"
            })
        );
    }
}
