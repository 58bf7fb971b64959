//! What every background job reads first: the ticket it names and that ticket's company,
//! across companies (a job has no caller). A read that fails means "run again later"; a
//! row that is gone means there is nothing left to do.

use omni_core::{CompanyId, Scope, TicketId};
use omni_tenancy::{Company, CompanyRepository};
use omni_ticketing::{Ticket, TicketRepository};

use crate::DeliverError;

/// A failure to run again later, described by `e`.
pub(crate) fn later(e: impl std::fmt::Display) -> DeliverError {
    DeliverError(e.to_string())
}

/// The ticket a job is about; `None` once it is gone.
pub(crate) async fn ticket(
    tickets: &dyn TicketRepository,
    id: TicketId,
) -> Result<Option<Ticket>, DeliverError> {
    tickets.find(Scope::All, id).await.map_err(later)
}

/// The company a job's ticket belongs to; `None` once it is gone.
pub(crate) async fn company(
    companies: &dyn CompanyRepository,
    id: CompanyId,
) -> Result<Option<Company>, DeliverError> {
    companies.find(Scope::All, id).await.map_err(later)
}
