//! The read side of the event log: what the WebSocket hub follows and replays from.

use std::time::Duration;

use async_trait::async_trait;

use crate::{CompanyId, Event};

/// The event log cannot be read now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    /// Its store cannot be reached.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("event log failed: {0}")]
    Unknown(String),
}

/// The log of domain events, in the order they committed.
///
/// Events are *appended* by the stores in the same transaction as the change they describe,
/// so that no change is published without its event nor an event without its change; this
/// port reads them back. Positions are event ids: they only grow.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync {
    /// The newest event's id (0 when the log is empty).
    async fn latest_id(&self) -> Result<i64, EventLogError>;

    /// Up to `limit` events of every company after `cursor`, oldest first.
    async fn after(&self, cursor: i64, limit: i64) -> Result<Vec<Event>, EventLogError>;

    /// Up to `limit` of one company's events with `since < id <= upto`, oldest first.
    async fn company_between(
        &self,
        company: CompanyId,
        since: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<Event>, EventLogError>;

    /// The newest id retention has deleted: a replay from before it is incomplete.
    async fn pruned_through(&self) -> Result<i64, EventLogError>;

    /// Deletes events older than `retention`; returns how many.
    async fn prune(&self, retention: Duration) -> Result<usize, EventLogError>;
}
