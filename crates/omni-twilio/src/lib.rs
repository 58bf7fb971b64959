//! Twilio adapter for Omni.
//!
//! Implements the messaging crate's channel port against Twilio's REST API (reqwest),
//! validates `X-Twilio-Signature` on webhooks and parses inbound messages and status
//! callbacks into typed values. The first code lands with the WhatsApp issue; the crate
//! exists now so that the workspace's dependency graph is fixed from the start.
