//! Omni ticketing: a customer's conversation as a ticket with a status, a priority, a
//! category and an assignee.
//!
//! [`TicketStatus`] carries the one state machine of the product; [`TicketService`] holds
//! the use cases (open, list with filters, read, change, delete) with the assignment rules,
//! over the [`TicketRepository`] port. Every change is described by a domain event
//! ([`events`]) that the repository appends in the same transaction.
#![warn(missing_docs)]

mod enums;
mod error;
pub mod events;
mod filter;
mod history;
mod ports;
mod rating;
mod rules;
mod service;
mod status;
mod ticket;
mod triage;

pub use enums::{Channel, Sentiment, UnknownChannel, UnknownSentiment, WHATSAPP_REPLY_WINDOW};
pub use error::TicketingError;
pub use filter::{AssigneeFilter, TicketFilter};
pub use history::{FactKind, TicketFact, UnknownFactKind, in_backlog};
/// Priority is shared with the company's settings (SLA targets per priority).
pub use omni_core::{Priority, UnknownPriority};
#[cfg(any(test, feature = "mock"))]
pub use ports::MockTicketRepository;
pub use ports::TicketRepository;
pub use rating::{RATING_WINDOW, Rating, read_rating, score_of};
pub use rules::{CustomerMessageEffect, ReplyEffect, ReplyRefused, TriageMerge};
pub use service::{NewTicketInput, TicketService, TicketUpdateInput};
pub use status::{CustomerMessageOutcome, TicketStatus, UnknownTicketStatus};
pub use ticket::{FieldChange, HandSet, NewTicket, Ticket, TicketChanges};
#[cfg(any(test, feature = "mock"))]
pub use triage::MockTriage;
pub use triage::{SuggestedCategory, Triage, TriageError, TriageInput, TriageResult};
