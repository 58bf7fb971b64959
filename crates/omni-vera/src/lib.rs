//! Triage adapters for Omni.
//!
//! Two implementations of the ticketing crate's triage port: Vera AI, an OpenAI-compatible
//! chat-completions service reached over HTTP, and a deterministic built-in engine that is
//! the default and the fallback whenever Vera fails. The code lands with the triage issue;
//! the crate exists now so that the workspace's dependency graph is fixed from the start.
