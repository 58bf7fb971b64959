use omni_core::{PhoneNumber, UserId};

use crate::{Priority, TicketStatus};

/// Whose tickets a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssigneeFilter {
    /// Anyone's or no one's.
    #[default]
    Any,
    /// Unassigned tickets only.
    Nobody,
    /// The caller's own (`assigned_to=me`).
    Me,
    /// One user's.
    User(UserId),
}

/// The filters of `GET /tickets`; empty lists and `None` mean "any".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TicketFilter {
    /// Any of these statuses.
    pub statuses: Vec<TicketStatus>,
    /// Any of these priorities.
    pub priorities: Vec<Priority>,
    /// This category.
    pub category: Option<String>,
    /// Whose tickets.
    pub assignee: AssigneeFilter,
    /// This customer's tickets.
    pub customer_phone: Option<PhoneNumber>,
    /// Words that some message of the ticket contains (Portuguese and English stems).
    pub text: Option<String>,
}
