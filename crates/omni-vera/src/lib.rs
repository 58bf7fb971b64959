//! Triage adapters for Omni.
//!
//! Vera AI is an OpenAI-compatible service reached over HTTP. Today this crate checks a
//! `vera_ai` integration's credentials; the triage port's two implementations (Vera, and a
//! deterministic built-in engine that is the default and the fallback) land with the triage
//! issue.
#![warn(missing_docs)]

mod builtin;
mod client;
mod stats;
mod vera;

pub use builtin::{BuiltinTriage, normalise};
pub use client::VeraClient;
pub use stats::{TriageStats, record_answer, triage_stats};
pub use vera::{FallbackTriage, VeraTriage};
