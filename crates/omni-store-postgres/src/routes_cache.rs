//! Which integration a phone number reaches, remembered for a moment: every webhook asks,
//! and the answer almost never changes.
//!
//! Writes through this process clear it at once (integration insert, update, delete; company
//! delete). Another instance's writes are seen within [`TTL`]: until then a disabled number
//! may still be routed here, or a new one still be unknown (Twilio retries on 404).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use omni_tenancy::Integration;

/// How long an answer is trusted.
pub(crate) const TTL: Duration = Duration::from_secs(2);
/// Numbers remembered at most; past it, everything is forgotten (unknown numbers sent by a
/// stranger must not grow the map without bound).
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct PhoneRoutes {
    entries: RwLock<HashMap<String, (Instant, Option<Integration>)>>,
}

impl PhoneRoutes {
    /// The remembered answer for `phone`, if fresh: `Some(None)` means "no integration".
    pub(crate) fn get(&self, phone: &str) -> Option<Option<Integration>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(phone)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, answer)| answer.clone())
    }

    pub(crate) fn put(&self, phone: &str, answer: Option<Integration>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(phone.to_owned(), (Instant::now(), answer));
    }

    pub(crate) fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
