//! Appending to the event log, inside the caller's transaction.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use omni_core::NewEvent;

use crate::schema::events;

/// Appends `events` on `conn` (which the caller holds in a transaction with the change they
/// describe): one multi-row insert, whatever their number — this runs on every webhook.
/// The caller announces them once committed (`Database::announce`).
pub(crate) async fn append(conn: &mut AsyncPgConnection, events: &[NewEvent]) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                events::company_id.eq(e.company_id.get()),
                events::event_type.eq(e.event_type.as_str()),
                events::ticket_id.eq(e.ticket_id.map(|t| t.get())),
                events::payload.eq(&e.payload),
            )
        })
        .collect();
    diesel::insert_into(events::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}
