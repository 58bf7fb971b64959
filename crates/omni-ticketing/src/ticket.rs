use chrono::{DateTime, Utc};
use omni_core::{CompanyId, IntegrationId, PhoneNumber, TicketId, UserId};
use serde::Serialize;

use crate::{Channel, Priority, Sentiment, TicketStatus};

/// A customer's conversation with a company, as agents work it.
///
/// Its JSON adds `next_statuses`, the statuses an agent may move it to now
/// ([`TicketStatus::allowed_next`]), so that a UI offers only the moves the state machine
/// takes.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// The ticket's id.
    pub id: TicketId,
    /// The company it belongs to.
    pub company_id: CompanyId,
    /// The channel integration the conversation runs through, if known.
    pub integration_id: Option<IntegrationId>,
    /// The customer's number.
    pub customer_phone: PhoneNumber,
    /// The customer's name as their WhatsApp profile shows it.
    pub customer_name: Option<String>,
    /// WhatsApp or SMS.
    pub channel: Channel,
    /// Where it stands.
    pub status: TicketStatus,
    /// How urgent it is.
    pub priority: Priority,
    /// One of the company's categories; `None` until triaged or set.
    pub category: Option<String>,
    /// The customer's mood, once triaged.
    pub sentiment: Option<Sentiment>,
    /// The mood's strength, -1 (upset) to 1 (pleased).
    pub sentiment_score: Option<f64>,
    /// Categories triage suggests, ranked, with their confidence.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::SuggestedCategory>))]
    pub suggested_categories: serde_json::Value,
    /// The agent working it.
    pub assigned_to: Option<UserId>,
    /// When the last message (either way) was stored.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Until when a free-form reply may go out: on WhatsApp, 24 hours after the customer's
    /// latest message ([`crate::WHATSAPP_REPLY_WINDOW`]), after which only an approved
    /// template may. `None` on WhatsApp while the customer has not written (the window is
    /// closed), and always on SMS, which has no such window.
    pub window_closes_at: Option<DateTime<Utc>>,
    /// What lists sort by: the last message, or creation.
    pub last_activity_at: DateTime<Utc>,
    /// When an agent first answered.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When it was resolved; cleared when it reopens.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it last reopened after being resolved; the time to resolve it counts from
    /// here (from `created_at` if it never reopened).
    pub reopened_at: Option<DateTime<Utc>>,
    /// When the satisfaction question went to the customer (once per ticket).
    pub survey_sent_at: Option<DateTime<Utc>>,
    /// How the customer rated the service, if they did.
    pub rating: Option<crate::Rating>,
    /// Triage's suggested answer to the customer, unless the automatic reply sent it.
    pub suggested_reply: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Grows with every change; a change decided on an older version is decided again.
    pub version: i32,
    /// Fields a person chose, which automatic triage leaves alone.
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub hand_set: HandSet,
}

/// A ticket's JSON: its fields and the moves its status allows.
#[derive(Serialize)]
struct TicketJson<'a> {
    id: TicketId,
    company_id: CompanyId,
    integration_id: Option<IntegrationId>,
    customer_phone: &'a PhoneNumber,
    customer_name: Option<&'a str>,
    channel: Channel,
    status: TicketStatus,
    next_statuses: &'static [TicketStatus],
    priority: Priority,
    category: Option<&'a str>,
    sentiment: Option<Sentiment>,
    sentiment_score: Option<f64>,
    suggested_categories: &'a serde_json::Value,
    assigned_to: Option<UserId>,
    last_message_at: Option<DateTime<Utc>>,
    window_closes_at: Option<DateTime<Utc>>,
    last_activity_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    reopened_at: Option<DateTime<Utc>>,
    survey_sent_at: Option<DateTime<Utc>>,
    rating: Option<&'a crate::Rating>,
    suggested_reply: Option<&'a str>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i32,
}

impl Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TicketJson {
            id: self.id,
            company_id: self.company_id,
            integration_id: self.integration_id,
            customer_phone: &self.customer_phone,
            customer_name: self.customer_name.as_deref(),
            channel: self.channel,
            status: self.status,
            next_statuses: self.status.allowed_next(),
            priority: self.priority,
            category: self.category.as_deref(),
            sentiment: self.sentiment,
            sentiment_score: self.sentiment_score,
            suggested_categories: &self.suggested_categories,
            assigned_to: self.assigned_to,
            last_message_at: self.last_message_at,
            window_closes_at: self.window_closes_at,
            last_activity_at: self.last_activity_at,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            reopened_at: self.reopened_at,
            survey_sent_at: self.survey_sent_at,
            rating: self.rating.as_ref(),
            suggested_reply: self.suggested_reply.as_deref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
        .serialize(serializer)
    }
}

/// The fields of a ticket a person set by hand: triage's later results do not overwrite
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandSet {
    /// The category was chosen by an agent.
    pub category: bool,
    /// The priority was chosen by an agent.
    pub priority: bool,
}

impl HandSet {
    /// The field names, as stored.
    pub const CATEGORY: &'static str = "category";
    /// See [`HandSet::CATEGORY`].
    pub const PRIORITY: &'static str = "priority";

    /// Reads stored field names; names it does not know are ignored.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().fold(Self::default(), |set, name| Self {
            category: set.category || name == Self::CATEGORY,
            priority: set.priority || name == Self::PRIORITY,
        })
    }

    /// The field names, as stored.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.category, Self::CATEGORY),
            (self.priority, Self::PRIORITY),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    /// The set once a person made `changes`.
    pub fn marking(self, changes: &TicketChanges) -> Self {
        Self {
            category: self.category || changes.category.is_some(),
            priority: self.priority || changes.priority.is_some(),
        }
    }
}

/// A ticket about to be opened.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    /// The company.
    pub company_id: CompanyId,
    /// The customer's number.
    pub customer_phone: PhoneNumber,
    /// The customer's name.
    pub customer_name: Option<String>,
    /// WhatsApp or SMS.
    pub channel: Channel,
    /// How urgent it is.
    pub priority: Priority,
    /// One of the company's categories.
    pub category: Option<String>,
    /// The agent to work it.
    pub assigned_to: Option<UserId>,
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange<T> {
    /// The value before.
    pub from: T,
    /// The value after.
    pub to: T,
}

/// What a change does to a ticket: only the fields that really change are `Some`. It is
/// both the instruction to the repository and the `changes` of the `ticket.updated` event.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TicketChanges {
    /// A new status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<FieldChange<TicketStatus>>,
    /// A new priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<FieldChange<Priority>>,
    /// A new category (or none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<FieldChange<Option<String>>>,
    /// A new assignee (or none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<FieldChange<Option<UserId>>>,
    /// Set when the ticket becomes resolved.
    #[serde(skip)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// Set when a resolved ticket reopens (its `resolved_at` is cleared then).
    #[serde(skip)]
    pub reopened_at: Option<DateTime<Utc>>,
    /// The change resolves the ticket and the company asks its customers to rate the
    /// service: the satisfaction question is queued with it.
    #[serde(skip)]
    pub ask_rating: bool,
}

impl TicketChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.priority.is_none()
            && self.category.is_none()
            && self.assigned_to.is_none()
    }
}

/// Records `to` as a change of `from` when they differ.
pub(crate) fn change<T: PartialEq + Clone>(from: &T, to: Option<T>) -> Option<FieldChange<T>> {
    match to {
        Some(to) if to != *from => Some(FieldChange {
            from: from.clone(),
            to,
        }),
        _ => None,
    }
}

/// A WhatsApp ticket opened a minute ago, for the crate's unit tests.
#[cfg(test)]
pub(crate) fn test_ticket() -> Ticket {
    let now = Utc::now();
    Ticket {
        id: TicketId::new(1),
        company_id: CompanyId::new(1),
        integration_id: None,
        customer_phone: "+5511987650001".parse().expect("a valid number"),
        customer_name: None,
        channel: Channel::Whatsapp,
        status: TicketStatus::New,
        priority: Priority::Medium,
        category: None,
        sentiment: None,
        sentiment_score: None,
        suggested_categories: serde_json::json!([]),
        assigned_to: None,
        last_message_at: None,
        window_closes_at: None,
        last_activity_at: now,
        first_response_at: None,
        resolved_at: None,
        reopened_at: None,
        survey_sent_at: None,
        suggested_reply: None,
        rating: None,
        created_at: now - chrono::TimeDelta::minutes(1),
        updated_at: now,
        version: 1,
        hand_set: HandSet::default(),
    }
}
