use std::sync::Arc;

use omni_core::{CompanyId, FieldError, Page, PageRequest, PhoneNumber, Scope, TicketId, UserId};
use omni_identity::{Principal, Role};
use omni_tenancy::{CompanyRepository, CompanySettings, TenancyError};

use crate::ticket::change;
use crate::{
    AssigneeFilter, Channel, NewTicket, Priority, Ticket, TicketChanges, TicketFilter,
    TicketRepository, TicketStatus, TicketingError,
};

/// How many times a change is decided again when the ticket keeps changing under it.
const MAX_ATTEMPTS: usize = 5;

/// A ticket an agent opens (`POST /tickets`).
#[derive(Debug, Clone)]
pub struct NewTicketInput {
    /// The customer's number.
    pub customer_phone: PhoneNumber,
    /// The customer's name.
    pub customer_name: Option<String>,
    /// WhatsApp (default) or SMS.
    pub channel: Option<Channel>,
    /// Medium when omitted.
    pub priority: Option<Priority>,
    /// One of the company's categories.
    pub category: Option<String>,
    /// The agent to work it.
    pub assigned_to: Option<UserId>,
    /// The company (superadmin only; everyone else's is their own).
    pub company_id: Option<CompanyId>,
}

/// A change to a ticket (`PUT /tickets/:id`); `None` keeps a field, `Some(None)` clears
/// the category or the assignee.
#[derive(Debug, Clone, Default)]
pub struct TicketUpdateInput {
    /// A new status, through the state machine.
    pub status: Option<TicketStatus>,
    /// A new priority.
    pub priority: Option<Priority>,
    /// A new category, or none.
    pub category: Option<Option<String>>,
    /// A new assignee, or none.
    pub assigned_to: Option<Option<UserId>>,
}

/// The ticket use cases.
///
/// Concurrent changes to one ticket: each change is decided on the version it read and
/// applied only to that version; if another change landed first, it is decided again on
/// the new version. So the last write wins per field, no field written by the other change
/// is lost, and the state machine holds against the ticket as it really is.
///
/// The state machine is the service's, whatever the store:
///
/// ```
/// # use std::sync::Arc;
/// # use omni_core::DisplayName;
/// # use omni_identity::{Email, PasswordHash, Principal, UserRepository};
/// use omni_ticketing::{NewTicketInput, TicketService, TicketStatus, TicketUpdateInput, TicketingError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = omni_store_memory::MemoryStore::new();
/// let service = TicketService::new(Arc::new(store.clone()), Arc::new(store.clone()));
/// # let admin = store.create_company_with_admin(&DisplayName::parse("Loja")?,
/// #     &Email::parse("a@loja.example")?, &DisplayName::parse("Ana")?, &PasswordHash::new("h".into())).await?;
/// let caller = Principal::of(&admin);
/// let ticket = service
///     .create(&caller, NewTicketInput {
///         customer_phone: "+5511987650001".parse()?,
///         customer_name: None, channel: None, priority: None, category: None,
///         assigned_to: None, company_id: None,
///     })
///     .await?;
/// let close = |status| TicketUpdateInput { status: Some(status), ..Default::default() };
/// service.update(&caller, ticket.id, close(TicketStatus::Closed)).await?;
/// // Closed is final: the customer's next message opens a new ticket.
/// let reopen = service.update(&caller, ticket.id, close(TicketStatus::Open)).await;
/// assert!(matches!(reopen, Err(TicketingError::InvalidTransition { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TicketService {
    tickets: Arc<dyn TicketRepository>,
    companies: Arc<dyn CompanyRepository>,
}

fn invalid(field: &str, message: impl Into<String>) -> TicketingError {
    TicketingError::Validation(vec![FieldError::new(field, message)])
}

fn tenancy(e: TenancyError) -> TicketingError {
    match e {
        TenancyError::Unavailable(cause) => TicketingError::Unavailable(cause),
        other => TicketingError::Unknown(other.to_string()),
    }
}

impl TicketService {
    /// The use cases over these ports.
    pub fn new(tickets: Arc<dyn TicketRepository>, companies: Arc<dyn CompanyRepository>) -> Self {
        Self { tickets, companies }
    }

    /// Tickets the caller may see, filtered, newest activity first.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Principal,
        mut filter: TicketFilter,
        page: PageRequest,
    ) -> Result<Page<Ticket>, TicketingError> {
        if filter.assignee == AssigneeFilter::Me {
            filter.assignee = AssigneeFilter::User(caller.user_id);
        }
        self.tickets.list(caller.scope(), &filter, page).await
    }

    /// One ticket.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %id))]
    pub async fn get(&self, caller: &Principal, id: TicketId) -> Result<Ticket, TicketingError> {
        self.tickets
            .find(caller.scope(), id)
            .await?
            .ok_or(TicketingError::NotFound)
    }

    /// The company a ticket the caller opens belongs to: their own (`asked` may name it),
    /// or, for a superadmin, the one `asked` names.
    pub fn company_for(
        caller: &Principal,
        asked: Option<CompanyId>,
    ) -> Result<CompanyId, TicketingError> {
        match (caller.role, caller.company_id, asked) {
            (Role::Superadmin, _, Some(company)) => Ok(company),
            (Role::Superadmin, _, None) => Err(invalid("company_id", "is required")),
            (_, Some(own), None) => Ok(own),
            (_, Some(own), Some(asked)) if asked == own => Ok(own),
            (_, Some(_), Some(_)) => Err(invalid(
                "company_id",
                "must be your own company (or omitted)",
            )),
            (_, None, _) => Err(TicketingError::Forbidden("tickets belong to a company")),
        }
    }

    /// Opens a ticket for a customer (status `new`).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn create(
        &self,
        caller: &Principal,
        input: NewTicketInput,
    ) -> Result<Ticket, TicketingError> {
        let company_id = Self::company_for(caller, input.company_id)?;
        let settings = self.settings(company_id).await?;
        if let Some(category) = &input.category {
            check_category(&settings, category)?;
        }
        let ticket = NewTicket {
            company_id,
            customer_phone: input.customer_phone,
            customer_name: input.customer_name,
            channel: input.channel.unwrap_or(Channel::Whatsapp),
            priority: input.priority.unwrap_or(Priority::Medium),
            category: input.category,
            assigned_to: input.assigned_to,
        };
        self.tickets.insert(ticket).await
    }

    /// Changes a ticket's status, priority, category or assignee.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %id))]
    pub async fn update(
        &self,
        caller: &Principal,
        id: TicketId,
        input: TicketUpdateInput,
    ) -> Result<Ticket, TicketingError> {
        let scope = caller.scope();
        let mut settings: Option<CompanySettings> = None;
        for _ in 0..MAX_ATTEMPTS {
            let current = self
                .tickets
                .find(scope, id)
                .await?
                .ok_or(TicketingError::NotFound)?;
            // Categories are the company's; resolving may ask the customer to rate.
            let needs_settings = matches!(input.category, Some(Some(_)))
                || input.status == Some(TicketStatus::Resolved);
            if settings.is_none() && needs_settings {
                settings = Some(self.settings(current.company_id).await?);
            }
            let changes = decide(caller, &current, &input, settings.as_ref())?;
            if changes.is_empty() {
                return Ok(current);
            }
            if let Some(updated) = self
                .tickets
                .apply(scope, id, current.version, &changes)
                .await?
            {
                return Ok(updated);
            }
        }
        Err(TicketingError::Contended)
    }

    /// Deletes a ticket with its messages (admins).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %id))]
    pub async fn delete(&self, caller: &Principal, id: TicketId) -> Result<(), TicketingError> {
        if caller.role == Role::Agent {
            // Agents see the ticket, so refusing says nothing about its existence.
            return Err(TicketingError::Forbidden("only admins delete tickets"));
        }
        if self.tickets.delete(caller.scope(), id).await? {
            Ok(())
        } else {
            Err(TicketingError::NotFound)
        }
    }

    /// Takes back a ticket the caller has just opened when what was to go with it (its
    /// first message) could not be stored: only while nothing has happened on it
    /// ([`Ticket::is_untouched`]), so nobody's work is lost. Says whether it was removed.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, ticket_id = %id))]
    pub async fn withdraw(&self, caller: &Principal, id: TicketId) -> Result<bool, TicketingError> {
        let Some(ticket) = self.tickets.find(caller.scope(), id).await? else {
            return Ok(false);
        };
        if !ticket.is_untouched() {
            return Ok(false);
        }
        self.tickets.delete(caller.scope(), id).await
    }

    async fn settings(&self, company: CompanyId) -> Result<CompanySettings, TicketingError> {
        Ok(self
            .companies
            .find(Scope::All, company)
            .await
            .map_err(tenancy)?
            .ok_or(TicketingError::NotFound)?
            .settings)
    }
}

fn check_category(settings: &CompanySettings, category: &str) -> Result<(), TicketingError> {
    if settings.has_category(category) {
        return Ok(());
    }
    let names: Vec<&str> = settings
        .categories
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Err(invalid(
        "category",
        format!(
            "must be one of the company's categories: {}",
            names.join(", ")
        ),
    ))
}

/// The changes `input` makes to `current`, by `caller`'s rights; pure, so that it can be
/// decided again on a newer version of the ticket.
fn decide(
    caller: &Principal,
    current: &Ticket,
    input: &TicketUpdateInput,
    settings: Option<&CompanySettings>,
) -> Result<TicketChanges, TicketingError> {
    let mut changes = TicketChanges::default();
    if let Some(to) = input.status {
        if !current.status.can_become(to) {
            return Err(TicketingError::InvalidTransition {
                from: current.status,
                to,
                allowed: current.status.allowed_next(),
            });
        }
        changes = current.status_change(to, chrono::Utc::now());
        changes.ask_rating = changes.status.is_some()
            && to == TicketStatus::Resolved
            && current.survey_sent_at.is_none()
            && settings.is_some_and(|s| s.csat.enabled);
    }
    changes.priority = change(&current.priority, input.priority);
    if let Some(category) = &input.category {
        if let (Some(name), Some(settings)) = (category, settings) {
            check_category(settings, name)?;
        }
        changes.category = change(&current.category, Some(category.clone()));
    }
    if let Some(assignee) = input.assigned_to {
        if assignee != current.assigned_to {
            may_assign(caller, current.assigned_to, assignee)?;
        }
        changes.assigned_to = change(&current.assigned_to, Some(assignee));
    }
    Ok(changes)
}

/// Admins assign anyone; an agent may take an unassigned ticket, or hand on (or let go of)
/// one they hold — not take one another agent holds.
fn may_assign(
    caller: &Principal,
    holder: Option<UserId>,
    to: Option<UserId>,
) -> Result<(), TicketingError> {
    if caller.role != Role::Agent {
        return Ok(());
    }
    let me = Some(caller.user_id);
    let taking_a_free_one = holder.is_none() && to == me;
    let holding_it = holder == me;
    if taking_a_free_one || holding_it {
        Ok(())
    } else {
        Err(TicketingError::Forbidden(
            "an agent may take an unassigned ticket or hand on their own; only admins reassign others'",
        ))
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
