use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omni_core::{MessageId, Page, PageRequest, PhoneNumber, Scope, TicketId};
use std::sync::Arc;

use omni_tenancy::{Integration, IntegrationSecrets, SecretString, VeraConfig};
use omni_ticketing::{Triage, TriageResult};

use crate::{
    Delivery, DeliveryStatus, Inbound, InboundOutcome, MessageContent, MessagingError, NewOutbound,
    OutboundOutcome, StatusReport, TicketMessage, TriageRecorded,
};

/// Where messages live. Each method is one unit of work — one transaction in PostgreSQL,
/// one critical section in memory — that also writes the events (see [`crate::events`]
/// and the ticketing crate's) and the jobs the change implies: the domain decides (the
/// ticket's `take_customer_message`, `accepts_reply` and `on_reply`, the message's
/// `requeue`, [`DeliveryStatus::may_become`]), the store keeps what was decided, and the
/// store's constraints (one open ticket per customer, one message per provider id, one
/// message per idempotency key) come back as typed outcomes, never as raw errors. Every
/// adapter passes the same contract suite (`omni_store_memory::contract`).
///
/// The unit of work is the method rather than a transaction handle the use case holds:
/// a use case never keeps a transaction open across a call to a provider, and a store
/// may batch units (the PostgreSQL store commits concurrent inbound messages together)
/// without the domain knowing.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a customer's message once per `MessageSid`: finds the customer's ticket that
    /// is not closed (reopening it when pending or resolved) or opens one, stores the
    /// message, and enqueues triage for a new or reopened ticket. Concurrent first messages
    /// of one customer end in one ticket.
    async fn record_inbound(&self, inbound: &Inbound) -> Result<InboundOutcome, MessagingError>;

    /// Stores an agent's message as `queued` and enqueues its send job; with an
    /// idempotency key used before, returns the first message instead.
    async fn record_outbound(
        &self,
        scope: Scope,
        outbound: &NewOutbound,
    ) -> Result<OutboundOutcome, MessagingError>;

    /// Writes triage's result on the ticket — category and priority only where no agent set
    /// them by hand ([`omni_ticketing::Ticket::merge_triage`]) — with `triage.completed`
    /// (and `ticket.updated` when fields changed), and, given an `auto_reply`, queues it
    /// with its send job when the ticket awaits one
    /// ([`omni_ticketing::Ticket::awaits_auto_reply`]) and none was queued before (one per
    /// ticket: its idempotency key is [`crate::IdempotencyKey::auto_reply`]). One unit of
    /// work: a triage that ran twice leaves one reply. `None` if the ticket is gone.
    async fn record_triage(
        &self,
        ticket: TicketId,
        result: &TriageResult,
        auto_reply: Option<MessageContent>,
    ) -> Result<Option<TriageRecorded>, MessagingError>;

    /// Queues the satisfaction `question` on the ticket with its send job when it is due
    /// ([`omni_ticketing::Ticket::survey_due`]: resolved, never asked, answerable now) and
    /// stamps `survey_sent_at`, with the facts reports count — one unit of work, so the
    /// question goes once however often the job runs. `None` when not due (or gone).
    async fn record_survey(
        &self,
        ticket: TicketId,
        question: MessageContent,
    ) -> Result<Option<TicketMessage>, MessagingError>;

    /// Moves an outbound message's status forward (never back); `None` when no message of
    /// the company has that sid or the status would not move forward.
    async fn apply_status(
        &self,
        report: &StatusReport,
    ) -> Result<Option<TicketMessage>, MessagingError>;

    /// The message `author` stored in `company` under an idempotency key, if any (what a
    /// retried request answers with).
    async fn keyed(
        &self,
        company: omni_core::CompanyId,
        author: Option<omni_core::UserId>,
        key: &crate::IdempotencyKey,
    ) -> Result<Option<TicketMessage>, MessagingError>;

    /// One message.
    async fn find(
        &self,
        scope: Scope,
        id: MessageId,
    ) -> Result<Option<TicketMessage>, MessagingError>;

    /// A ticket's messages, oldest first; `None` when the ticket is not in the scope.
    async fn list(
        &self,
        scope: Scope,
        ticket: TicketId,
        page: PageRequest,
    ) -> Result<Option<Page<TicketMessage>>, MessagingError>;

    /// The latest message of each of these tickets (each named with its company), in no
    /// particular order; a ticket with no message is left out.
    async fn latest(
        &self,
        tickets: &[(omni_core::CompanyId, TicketId)],
    ) -> Result<Vec<TicketMessage>, MessagingError>;

    /// The pending retries of these messages' sends: for each whose send job failed and
    /// waits to run again, why and when (messages with none are left out).
    async fn send_retries(
        &self,
        ids: &[MessageId],
    ) -> Result<Vec<(MessageId, crate::SendRetry)>, MessagingError>;

    /// Queues a failed or never-sent outbound message again (with a new send job).
    async fn requeue(&self, scope: Scope, id: MessageId) -> Result<TicketMessage, MessagingError>;

    /// The texts of the customer's latest `limit` messages on a ticket, oldest first.
    async fn customer_texts(
        &self,
        ticket: TicketId,
        limit: i64,
    ) -> Result<Vec<String>, MessagingError>;

    /// What the send worker needs; `None` if the message is gone.
    async fn delivery(&self, id: MessageId) -> Result<Option<Delivery>, MessagingError>;

    /// Notes, durably and before the provider is called, that an attempt to send the
    /// message begins; says whether an earlier attempt began and recorded no outcome (its
    /// worker died mid-call), and when the first one began. `None` if the message is gone.
    async fn begin_send(&self, id: MessageId) -> Result<Option<SendStart>, MessagingError>;

    /// Whether a message of `company` already holds the provider id `sid`.
    async fn sid_in_use(
        &self,
        company: omni_core::CompanyId,
        sid: &str,
    ) -> Result<bool, MessagingError>;

    /// Records the provider's acceptance: its sid and status.
    async fn mark_sent(
        &self,
        id: MessageId,
        sid: &str,
        status: DeliveryStatus,
    ) -> Result<(), MessagingError>;

    /// Records a refusal that retrying will not change.
    async fn mark_failed(
        &self,
        id: MessageId,
        code: Option<i32>,
        message: &str,
    ) -> Result<(), MessagingError>;
}

/// A message for the provider, with the credentials to send it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The integration that sends it.
    pub integration: Integration,
    /// Its secrets in clear.
    pub secrets: IntegrationSecrets,
    /// The customer.
    pub to: PhoneNumber,
    /// Over WhatsApp (else SMS).
    pub whatsapp: bool,
    /// The text.
    pub body: String,
    /// Attachments' URLs.
    pub media_urls: Vec<String>,
    /// The approved template to send in place of `body` (which is then its text as the
    /// customer reads it), if the message is one.
    pub template: Option<crate::TemplateMessage>,
    /// Where the provider reports delivery.
    pub status_callback: String,
}

/// The provider accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for it.
    pub sid: String,
    /// Its status now.
    pub status: DeliveryStatus,
}

/// The provider did not accept a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Trying later may work (network, provider failure, rate limit).
    #[error("temporary failure: {0}")]
    Retryable(String),
    /// It will be refused again (bad number, closed WhatsApp window, bad credentials…).
    #[error("refused ({code:?}): {message}")]
    Permanent {
        /// The provider's error code.
        code: Option<i32>,
        /// The provider's reason.
        message: String,
    },
}

/// Where a message's sending stands as a worker takes it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStart {
    /// No attempt began before this one.
    First,
    /// An attempt began at `since` and recorded no outcome: the provider may have the
    /// message already.
    Retaken {
        /// When the first attempt began.
        since: DateTime<Utc>,
    },
}

/// Sends messages through a provider (Twilio).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ChannelSender: Send + Sync {
    /// Hands one message to the provider.
    async fn send(&self, request: &OutboundRequest) -> Result<Sent, SendError>;

    /// The provider's records of messages like this one — same recipient, sender and
    /// text — that it accepted at or after `since` (an attempt whose outcome was lost),
    /// newest first: the provider takes no idempotency key, so asking is how a message is
    /// never sent twice. One of them may be another message with the same words; the
    /// caller tells them apart by the ids it already holds.
    async fn find_sent(
        &self,
        request: &OutboundRequest,
        since: DateTime<Utc>,
    ) -> Result<Vec<Sent>, SendError>;
}

/// Chooses the triage engine for a company: Vera AI with its configuration when the company
/// has one (falling back to the built-in engine on failure), else the built-in engine.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TriageEngines: Send + Sync {
    /// The engine to use; `vera` is the company's enabled Vera AI configuration and key.
    fn engine(&self, vera: Option<(VeraConfig, SecretString)>) -> Arc<dyn Triage>;
}
