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
    let companies: Vec<i64> = events.iter().map(|e| e.company_id.get()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let tickets: Vec<Option<i64>> = events
        .iter()
        .map(|e| e.ticket_id.map(|t| t.get()))
        .collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
    InsertEvents {
        companies: &companies,
        types: &types,
        tickets: &tickets,
        payloads: &payloads,
    }
    .execute(conn)
    .await?;
    Ok(())
}
