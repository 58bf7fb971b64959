//! Triage adapters for Omni.
//!
//! Vera AI is an OpenAI-compatible service reached over HTTP, at a `base_url` each company
//! chooses: every request goes through `omni-outbound`'s guarded client. The triage port has
//! two implementations here: Vera, and a deterministic built-in engine that is the default
//! and the fallback.
#![warn(missing_docs)]

mod builtin;
mod client;
mod engines;
mod stats;
mod vera;
mod verifier;

pub use builtin::{BuiltinTriage, normalise};
pub use client::VeraClient;
pub use engines::VeraEngines;
pub use stats::{TriageStats, record_answer, triage_stats};
pub use vera::{FallbackTriage, VeraTriage};

/// A guarded client that lets tests reach their local fake Vera.
#[cfg(test)]
pub(crate) fn test_client() -> omni_outbound::GuardedClient {
    omni_outbound::GuardedClient::new(omni_outbound::OutboundConfig {
        policy: omni_outbound::OutboundPolicy {
            require_https: false,
            allowed: vec![omni_outbound::AllowRule::Net(
                "127.0.0.0/8".parse().unwrap(),
            )],
        },
        ..Default::default()
    })
    .unwrap()
}
