//! Appending to the event log, inside the caller's transaction.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use omni_core::NewEvent;

use crate::batch_sql::InsertEvents;

/// Appends `events` on `conn` (which the caller holds in a transaction with the change they
/// describe): one insert, whatever their number, prepared once per connection — this runs
/// on every webhook.
/// The caller announces them once committed (`Database::announce`).
pub(crate) async fn append(conn: &mut AsyncPgConnection, events: &[NewEvent]) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    EventColumns::new(events).insert().execute(conn).await?;
    Ok(())
}

/// Events laid out column by column, as the insert takes them.
pub(crate) struct EventColumns<'a> {
    companies: Vec<i64>,
    types: Vec<&'a str>,
    tickets: Vec<Option<i64>>,
    payloads: Vec<&'a serde_json::Value>,
}

impl<'a> EventColumns<'a> {
    pub(crate) fn new(events: &'a [NewEvent]) -> Self {
        Self {
            companies: events.iter().map(|e| e.company_id.get()).collect(),
            types: events.iter().map(|e| e.event_type.as_str()).collect(),
            tickets: events
                .iter()
                .map(|e| e.ticket_id.map(|t| t.get()))
                .collect(),
            payloads: events.iter().map(|e| &e.payload).collect(),
        }
    }

    /// The insert of these events (to run on any connection, pipelined or not).
    pub(crate) fn insert(&self) -> InsertEvents<'_> {
        InsertEvents {
            companies: &self.companies,
            types: &self.types,
            tickets: &self.tickets,
            payloads: &self.payloads,
        }
    }
}
