//! Outbound HTTP to hosts a tenant chooses (a Vera AI `base_url`, later media URLs), through
//! one guarded client: `https` only in production; after DNS, no loopback, private,
//! link-local, CGNAT, multicast, unspecified or ULA address (nor an IPv6 spelling of one);
//! no proxy, no redirects; a total timeout; bodies read up to a cap. An operator may allow
//! given hosts or ranges ([`AllowRule`]); nothing turns the guard off.

mod client;
mod policy;

pub use client::{GuardedClient, GuardedResponse, OutboundConfig};
pub use policy::{AllowRule, OutboundPolicy, is_internal};

/// Why an outbound request did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL or every address of its host is one the guard refuses.
    #[error("refused by the outbound guard: {0}")]
    Blocked(&'static str),
    /// No connection, or it broke.
    #[error("the host could not be reached")]
    Unreachable,
    /// No complete answer within the time allowed.
    #[error("the host did not answer in time")]
    Timeout,
    /// The answer is larger than the cap.
    #[error("the answer is larger than allowed")]
    TooLarge,
    /// The answer is not the JSON expected.
    #[error("the answer is not the JSON expected")]
    Malformed,
    /// Anything else (a client that cannot be built).
    #[error("outbound request failed: {0}")]
    Unknown(String),
}
