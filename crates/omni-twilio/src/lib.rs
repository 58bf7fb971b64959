//! Twilio adapter for Omni.
//!
//! A REST client for Twilio's API (reqwest, Basic auth with the account SID and auth
//! token). Today it checks credentials (`GET /2010-04-01/Accounts/{sid}.json`); sending
//! messages, status callbacks and webhook signatures land with the WhatsApp issue.
#![warn(missing_docs)]

mod client;
mod error;

pub use client::{Account, TwilioClient};
pub use error::TwilioError;
