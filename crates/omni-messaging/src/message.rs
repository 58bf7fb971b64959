use chrono::{DateTime, Utc};
use omni_core::{CompanyId, IntegrationId, MessageId, PhoneNumber, TicketId, UploadId, UserId};
use omni_ticketing::{Channel, Ticket};
use serde::{Deserialize, Serialize};

use crate::{DeliveryStatus, MediaLink, MessagingError, TemplateMessage};

/// An attachment, as Omni keeps it: where the file is and what it is. Agents never see
/// `url` (the provider's, behind its credentials): a message's JSON names each attachment
/// by [`TicketMessage::media_url`] instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Where the file is: the provider's URL for a customer's attachment, the https URL an
    /// agent gave; empty for an upload.
    pub url: String,
    /// Its MIME type, when known.
    pub content_type: Option<String>,
    /// The file an agent uploaded to Omni, served to the provider at a signed URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadId>,
}

impl Media {
    /// The public https address of a file an agent attached by link (in a message
    /// `from_customer` or not): Omni's route only redirects there, so a browser may as well
    /// go straight to it. `None` for uploads and customers' files.
    pub fn agent_link(&self, from_customer: bool) -> Option<&str> {
        (!from_customer && self.upload.is_none() && !self.url.is_empty())
            .then_some(self.url.as_str())
    }

    /// A file an agent uploaded.
    pub fn uploaded(upload: &crate::Upload) -> Self {
        Self {
            url: String::new(),
            content_type: Some(upload.content_type.clone()),
            upload: Some(upload.id),
        }
    }

    /// A file at an https URL an agent gave (checked by [`Media::link`]'s caller).
    pub fn link(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            content_type: None,
            upload: None,
        }
    }
}

/// A message of a ticket, either way. Its JSON lists the attachments as [`MediaLink`]s.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketMessage {
    /// The message's id.
    pub id: MessageId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// Its company.
    pub company_id: CompanyId,
    /// The text.
    pub content: String,
    /// Whether the customer wrote it.
    pub from_customer: bool,
    /// The customer's number.
    pub whatsapp_number: PhoneNumber,
    /// Twilio's `MessageSid`, once known.
    pub whatsapp_message_id: Option<String>,
    /// The agent who wrote it (none for the customer or an automatic reply).
    pub author_id: Option<UserId>,
    /// Where it stands.
    pub delivery_status: DeliveryStatus,
    /// Twilio's error code, when it failed.
    pub error_code: Option<i32>,
    /// Twilio's error message, when it failed.
    pub error_message: Option<String>,
    /// Attachments, each shown as Omni's URL for it.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<MediaLink>))]
    pub media: Vec<Media>,
    /// The approved template it sends, if it is one (`content` is then the template's
    /// text as the customer reads it).
    pub template: Option<TemplateMessage>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Why an outbound message still waits, when its last attempt failed and another is
    /// due (filled in on reads; `None` otherwise).
    pub retry: Option<SendRetry>,
}

/// The latest message of a conversation as an inbox lists it: who wrote, the start of the
/// text, how many attachments, where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePreview {
    /// The message's id.
    pub id: MessageId,
    /// Whether the customer wrote it.
    pub from_customer: bool,
    /// Its first [`MessagePreview::LENGTH`] characters (`…` when cut).
    pub content: String,
    /// How many files it carries.
    pub attachments: usize,
    /// Where it stands.
    pub delivery_status: DeliveryStatus,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl MessagePreview {
    /// Characters of the text an inbox shows.
    pub const LENGTH: usize = 140;

    /// The preview of `message`.
    pub fn of(message: &TicketMessage) -> Self {
        let text = message.content.trim();
        let content = match text.char_indices().nth(Self::LENGTH) {
            Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
            None => text.to_owned(),
        };
        Self {
            id: message.id,
            from_customer: message.from_customer,
            content,
            attachments: message.media.len(),
            delivery_status: message.delivery_status,
            created_at: message.created_at,
        }
    }
}

/// An outbound message's send that failed for a reason worth retrying (the provider down,
/// a timeout, a rate limit) and will be tried again.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendRetry {
    /// What went wrong the last time.
    pub last_error: String,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: i32,
}

impl SendRetry {
    /// Characters of `last_error` agents are shown.
    pub const REASON_LENGTH: usize = 200;
}

impl TicketMessage {
    /// Omni's URL for the message's attachment number `n` (from 0):
    /// `/ticket-messages/{id}/media/{n}`, the route that fetches it from the provider.
    pub fn media_url(id: MessageId, n: usize) -> String {
        format!("/ticket-messages/{id}/media/{n}")
    }

    /// The attachments as agents see them.
    pub fn media_links(&self) -> Vec<MediaLink> {
        self.media
            .iter()
            .enumerate()
            .map(|(n, m)| MediaLink {
                content_type: m.content_type.clone(),
                url: Self::media_url(self.id, n),
                link: m.agent_link(self.from_customer).map(str::to_owned),
            })
            .collect()
    }
}

/// The JSON of a message: its fields, with the attachments' links in place of where the
/// provider keeps them (which needs the account's credentials and must not leak).
#[derive(Serialize)]
struct MessageJson<'a> {
    id: MessageId,
    ticket_id: TicketId,
    company_id: CompanyId,
    content: &'a str,
    from_customer: bool,
    whatsapp_number: &'a PhoneNumber,
    whatsapp_message_id: Option<&'a str>,
    author_id: Option<UserId>,
    delivery_status: DeliveryStatus,
    error_code: Option<i32>,
    error_message: Option<&'a str>,
    media: Vec<MediaLink>,
    template: Option<&'a TemplateMessage>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    retry: Option<&'a SendRetry>,
}

impl Serialize for TicketMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MessageJson {
            id: self.id,
            ticket_id: self.ticket_id,
            company_id: self.company_id,
            content: &self.content,
            from_customer: self.from_customer,
            whatsapp_number: &self.whatsapp_number,
            whatsapp_message_id: self.whatsapp_message_id.as_deref(),
            author_id: self.author_id,
            delivery_status: self.delivery_status,
            error_code: self.error_code,
            error_message: self.error_message.as_deref(),
            media: self.media_links(),
            template: self.template.as_ref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            retry: self.retry.as_ref(),
        }
        .serialize(serializer)
    }
}

/// A customer's message, routed to its company.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The company whose number received it.
    pub company_id: CompanyId,
    /// The integration that number belongs to.
    pub integration_id: IntegrationId,
    /// WhatsApp or SMS.
    pub channel: Channel,
    /// Twilio's `MessageSid`: a redelivery carries the same one.
    pub message_sid: String,
    /// The customer.
    pub customer: PhoneNumber,
    /// Their profile name.
    pub customer_name: Option<String>,
    /// The text (already sanitised).
    pub body: String,
    /// Attachments.
    pub media: Vec<Media>,
}

/// What storing a customer's message did.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per webhook and matched at once; boxing buys nothing"
)]
pub enum InboundOutcome {
    /// Stored, on this ticket (new, reopened or continued).
    Stored {
        /// The message.
        message: TicketMessage,
        /// Its ticket after the message.
        ticket: Ticket,
        /// Whether the message opened the ticket.
        new_ticket: bool,
    },
    /// Twilio delivered this `MessageSid` before; nothing was changed.
    Duplicate {
        /// The message stored the first time.
        message_id: MessageId,
    },
}

/// An agent's message about to be stored and queued for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbound {
    /// The ticket answered (its company is the message's).
    pub ticket_id: TicketId,
    /// The agent (none for an automatic reply).
    pub author_id: Option<UserId>,
    /// The text.
    pub content: String,
    /// The request's idempotency key: a client's `Idempotency-Key`, or Omni's own.
    pub idempotency_key: Option<crate::IdempotencyKey>,
    /// The approved template it sends (checked against the catalog), if it is one.
    pub template: Option<TemplateMessage>,
    /// Its attachments (uploads of its company, https links).
    pub media: Vec<Media>,
}

impl NewOutbound {
    /// The uploads it attaches (what its store marks as used).
    pub fn uploads(&self) -> impl Iterator<Item = UploadId> + '_ {
        self.media.iter().filter_map(|m| m.upload)
    }

    /// Whether `ticket` takes this message at `now`: free text only within the channel's
    /// customer-service window ([`Ticket::accepts_reply`]), a template whenever the ticket
    /// takes replies ([`Ticket::accepts_template`]); and on WhatsApp, one attachment per
    /// message (Twilio sends WhatsApp the first and drops the rest).
    pub fn admitted_by(&self, ticket: &Ticket, now: DateTime<Utc>) -> Result<(), MessagingError> {
        match self.template {
            Some(_) => ticket.accepts_template()?,
            None => ticket.accepts_reply(now)?,
        }
        if ticket.channel == Channel::Whatsapp && self.media.len() > MAX_WHATSAPP_ATTACHMENTS {
            return Err(MessagingError::Validation(vec![
                omni_core::FieldError::new(
                    "media_ids",
                    "a WhatsApp message carries one attachment: send the others in messages of \
                 their own",
                ),
            ]));
        }
        Ok(())
    }
}

/// How many attachments one WhatsApp message carries.
pub const MAX_WHATSAPP_ATTACHMENTS: usize = 1;

/// What recording triage's result did ([`crate::MessageStore::record_triage`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TriageRecorded {
    /// The ticket as triage left it.
    pub ticket: omni_ticketing::Ticket,
    /// The automatic reply queued with it, if one was asked for and was due now.
    pub reply: Option<TicketMessage>,
}

/// What storing an agent's message did.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboundOutcome {
    /// Stored and queued now.
    Created(TicketMessage),
    /// The same author used the key before (on whatever ticket): the message stored
    /// then.
    Replayed(TicketMessage),
}

/// A delivery report, routed to its company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The company whose number sent the message.
    pub company_id: CompanyId,
    /// Twilio's `MessageSid`.
    pub message_sid: String,
    /// The new status.
    pub status: DeliveryStatus,
    /// Twilio's error code.
    pub error_code: Option<i32>,
    /// Twilio's error message.
    pub error_message: Option<String>,
}

/// How long a delivery report that names no message yet is kept for the send's answer
/// that will record its sid (Twilio can report before Omni has that answer). Longer than
/// any send takes; short enough that reports on messages Omni never sent (sent from
/// Twilio's console, say) do not pile up.
pub const EARLY_REPORT_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What the send worker needs to deliver a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The message.
    pub message: TicketMessage,
    /// The integration of its ticket, if the ticket came through one.
    pub integration_id: Option<IntegrationId>,
    /// WhatsApp or SMS.
    pub channel: Channel,
}
