//! Omni messaging: the messages of a ticket, inbound from customers and outbound from
//! agents, and their delivery.
//!
//! [`MessagingService`] holds the use cases: a customer's message arrives (stored once,
//! whatever Twilio redelivers), an agent answers (stored `queued` and sent by a durable
//! job), a delivery report moves a message's status forward only, a failed message is sent
//! again. The ports are [`MessageStore`] (which writes each change with its events and jobs
//! in one transaction), [`ChannelSender`], [`WebhookVerifier`] and [`MediaFetcher`] (Twilio in production).
#![warn(missing_docs)]

mod content;
mod delivery_status;
mod error;
pub mod events;
mod idempotency;
mod job_reads;
mod jobs;
mod media;
mod message;
mod message_rules;
mod ports;
mod service;
mod survey_job;
mod template;
mod template_replies;
mod triage_job;
mod upload;
mod uploads;
mod webhook;

pub use content::{MAX_CHARS, MAX_WHATSAPP_CHARS, MessageContent};
pub use delivery_status::{DeliveryStatus, UnknownDeliveryStatus};
pub use error::MessagingError;
pub use idempotency::{IdempotencyKey, InvalidIdempotencyKey};
#[cfg(any(test, feature = "mock"))]
pub use jobs::MockJobQueue;
pub use jobs::{ClaimedJob, InvalidJob, Job, JobCount, JobHandler, JobKind, JobQueue, QueueError};
#[cfg(any(test, feature = "mock"))]
pub use media::MockMediaFetcher;
pub use media::{
    Attachment, MediaBody, MediaError, MediaFetcher, MediaLink, MediaRequest, MediaStream,
};
pub use message::{
    Delivery, EARLY_REPORT_KEPT_FOR, Inbound, InboundOutcome, MAX_WHATSAPP_ATTACHMENTS, Media,
    MessagePreview, NewOutbound, OutboundOutcome, SendRetry, StatusReport, TicketMessage,
    TriageRecorded,
};
pub use ports::{
    ChannelSender, MessageStore, OutboundRequest, SendError, SendStart, Sent, TriageEngines,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockChannelSender, MockMessageStore, MockTriageEngines};
pub use service::{DeliverError, MessagingPorts, MessagingService};
pub use survey_job::SurveyJob;
#[cfg(any(test, feature = "mock"))]
pub use template::MockTemplateCatalog;
pub use template::{
    MAX_TEMPLATE_CHARS, MAX_VARIABLE_CHARS, Template, TemplateCatalog, TemplateError,
    TemplateMessage, placeholders,
};
pub use template_replies::TEMPLATES_KEPT_FOR;
pub use triage_job::TriageJob;
pub use upload::{
    DEFAULT_UPLOAD_QUOTA, LinkSigner, MAX_ATTACHMENTS, MAX_FILE_BYTES, MAX_IMAGE_BYTES, MediaKind,
    NewUpload, Upload, UploadRefused, UploadStore, mime_essence,
};
#[cfg(any(test, feature = "mock"))]
pub use upload::{MockLinkSigner, MockUploadStore};
pub use uploads::{Attachments, MAX_LINK_CHARS, ReplyBody, UPLOAD_LINK_TTL, https_link};
#[cfg(any(test, feature = "mock"))]
pub use webhook::MockWebhookVerifier;
pub use webhook::{
    CustomerMessage, ProviderStatus, SignedWebhook, VerifiedWebhook, WebhookRefusal,
    WebhookVerifier,
};
