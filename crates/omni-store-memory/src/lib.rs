//! Every Omni storage port in memory: one [`MemoryStore`] whose clones share one state, so
//! the ticket a message opens, the events it emits and the jobs it implies are visible
//! through every port at once — as they are through the PostgreSQL adapters.
//!
//! For embedders who want Omni's domain without a database (tests, demos, a single-process
//! tool) and for the domain crates' own tests and examples. Nothing survives the process.
//!
//! Each port method takes the one lock once and makes all of its changes under it, so a
//! method is a unit of work exactly as a PostgreSQL transaction is: the message, the
//! ticket it moves, their events and their jobs appear together or not at all. The rules
//! are the domain's (`Ticket::take_customer_message`, `Ticket::accepts_reply`,
//! `TicketMessage::requeue`, …); this crate only keeps what they decide, and enforces the
//! same uniqueness and ownership constraints the database does.
//!
//! ```
//! use std::sync::Arc;
//! use omni_store_memory::MemoryStore;
//! use omni_ticketing::TicketRepository;
//!
//! let store = MemoryStore::new();
//! let tickets: Arc<dyn TicketRepository> = Arc::new(store.clone());
//! # let _ = tickets;
//! ```
//!
//! With the `contract` feature, [`contract`] holds the suite of behaviours every storage
//! adapter must show; this crate runs it against itself and the PostgreSQL adapter runs it
//! against a real database.

mod companies;
#[cfg(feature = "contract")]
pub mod contract;
mod event_log;
mod integrations;
mod jobs;
mod messages;
mod reports;
mod state;
mod tickets;
mod uploads;
mod users;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

// The README's Rust blocks are an embedder's first code: they compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

use state::State;

/// The in-memory store: implements `UserRepository`, `CompanyRepository`,
/// `IntegrationRepository`, `TicketRepository`, `MessageStore`, `UploadStore`, `JobQueue`,
/// `EventLog` and `ReportStore`.
/// Cheap to clone; clones share their state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state, locked. No method panics while holding it, so a poisoned lock still holds
    /// a consistent state and is taken as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
