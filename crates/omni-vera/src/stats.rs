//! Counters of which engine answered and how often Vera failed, for the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

static BUILTIN: AtomicU64 = AtomicU64::new(0);
static VERA: AtomicU64 = AtomicU64::new(0);
static VERA_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Triage results so far, by engine, and Vera's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TriageStats {
    /// Answers of the built-in engine (including fallbacks).
    pub builtin: u64,
    /// Answers of Vera AI.
    pub vera: u64,
    /// Times Vera failed or timed out (after its retry) and the built-in engine answered.
    pub vera_failures: u64,
}

/// Counts an answer of `engine`.
pub fn record_answer(engine: &str) {
    match engine {
        "vera" => VERA.fetch_add(1, Ordering::Relaxed),
        _ => BUILTIN.fetch_add(1, Ordering::Relaxed),
    };
}

pub(crate) fn record_vera_failure() {
    VERA_FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// The counters now.
pub fn triage_stats() -> TriageStats {
    TriageStats {
        builtin: BUILTIN.load(Ordering::Relaxed),
        vera: VERA.load(Ordering::Relaxed),
        vera_failures: VERA_FAILURES.load(Ordering::Relaxed),
    }
}
