use async_trait::async_trait;
use omni_core::{Page, PageRequest, Scope, TicketId};

use crate::{NewTicket, Ticket, TicketChanges, TicketFilter, TicketingError, TriageResult};

/// Where tickets live. Every change is written together with its event (see
/// [`crate::events`]) in one transaction: no change without its event, no event without
/// its change.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TicketRepository: Send + Sync {
    /// Tickets in the scope matching `filter` (whose `Me` is already resolved to a user),
    /// newest activity first.
    async fn list(
        &self,
        scope: Scope,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> Result<Page<Ticket>, TicketingError>;

    /// The ticket with this id, if the scope includes it.
    async fn find(&self, scope: Scope, id: TicketId) -> Result<Option<Ticket>, TicketingError>;

    /// Opens a ticket and appends `ticket.created`. [`TicketingError::OpenTicketExists`] if
    /// the customer has a ticket that is not closed; a validation error if the assignee is
    /// not a user of the company.
    async fn insert(&self, ticket: NewTicket) -> Result<Ticket, TicketingError>;

    /// Applies `changes` to the ticket if it is still at `version`, and appends
    /// `ticket.updated`; `None` if it changed meanwhile (or is gone).
    async fn apply(
        &self,
        scope: Scope,
        id: TicketId,
        version: i32,
        changes: &TicketChanges,
    ) -> Result<Option<Ticket>, TicketingError>;

    /// Writes a triage result on the ticket — category and priority only where no agent set
    /// them by hand — and appends `triage.completed` (and `ticket.updated` when fields
    /// changed). `None` if the ticket is gone.
    async fn apply_triage(
        &self,
        id: TicketId,
        result: &TriageResult,
    ) -> Result<Option<Ticket>, TicketingError>;

    /// Deletes the ticket with its messages and appends `ticket.deleted`; false if it is
    /// not in the scope.
    async fn delete(&self, scope: Scope, id: TicketId) -> Result<bool, TicketingError>;
}
