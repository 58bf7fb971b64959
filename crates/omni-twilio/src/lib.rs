//! Twilio adapter for Omni.
//!
//! A REST client for Twilio's API (reqwest, Basic auth with the account SID and auth
//! token). Today it checks credentials (`GET /2010-04-01/Accounts/{sid}.json`); sending
//! messages, status callbacks and webhook signatures land with the WhatsApp issue.
#![warn(missing_docs)]

mod client;
mod error;
mod sender;
mod signature;
mod webhook;

pub use client::{Account, NumberOwnership, SendRequest, SentMessage, TwilioClient};
pub use error::TwilioError;
pub use signature::{
    SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, SignatureAlgorithm, SignatureValidator,
};
pub use webhook::{
    InboundMedia, InboundMessage, RawForm, StatusCallback, Webhook, WebhookError, WebhookForm,
};
