//! Twilio adapter for Omni.
//!
//! A REST client for Twilio's API (reqwest, Basic auth with the account SID and auth
//! token) that checks credentials and number ownership, sends messages (the messaging
//! crate's `ChannelSender`) and fetches customers' attachments (its `MediaFetcher`) and lists approved WhatsApp
//! templates through the Content API (its `TemplateCatalog`); readers of the forms Twilio posts (inbound messages, status
//! callbacks); and the webhook signature check (`TwilioSignatures`, the messaging crate's
//! `WebhookVerifier`), agreeing with Twilio's own helper library.
#![warn(missing_docs)]

mod client;
mod content;
mod error;
mod error_codes;
mod media;
mod sender;
mod signature;
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test fixtures")]
mod test_support;
mod verifier;
mod webhook;
mod webhook_port;

pub use client::{
    Account, DEFAULT_MEDIA_MAX_BYTES, MessageRecord, NumberOwnership, SendRequest, SentMessage,
    TwilioClient,
};
pub use error::TwilioError;
pub use error_codes::describe as describe_error_code;
pub use signature::{
    SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, SignatureAlgorithm, SignatureValidator,
};
pub use webhook::{
    InboundMedia, InboundMessage, RawForm, StatusCallback, Webhook, WebhookError, WebhookForm,
};
pub use webhook_port::TwilioSignatures;
