use omni_core::FieldError;

use crate::TicketStatus;

/// Why a ticketing use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TicketingError {
    /// No such ticket visible to the caller.
    #[error("ticket not found")]
    NotFound,
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The state machine does not allow this move.
    #[error("a {from} ticket cannot become {to}")]
    InvalidTransition {
        /// The ticket's status now.
        from: TicketStatus,
        /// The status asked for.
        to: TicketStatus,
        /// Where it may go from here.
        allowed: &'static [TicketStatus],
    },
    /// The customer already has a ticket that is not closed.
    #[error("the customer already has an open ticket ({existing})")]
    OpenTicketExists {
        /// That ticket's id.
        existing: i64,
    },
    /// The ticket kept changing under us; the client may retry.
    #[error("the ticket changed concurrently too many times; retry")]
    Contended,
    /// Fields of the request are invalid.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// The store cannot be reached now.
    #[error("ticket store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("ticket store failed: {0}")]
    Unknown(String),
}
