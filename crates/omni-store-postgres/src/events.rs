//! Appending to the event log, inside the caller's transaction.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use omni_core::NewEvent;

use crate::schema::events;

/// Appends `event` on `conn` (which the caller holds in a transaction with the change the
/// event describes).
pub(crate) async fn append(conn: &mut AsyncPgConnection, event: &NewEvent) -> QueryResult<()> {
    diesel::insert_into(events::table)
        .values((
            events::company_id.eq(event.company_id.get()),
            events::event_type.eq(event.event_type.as_str()),
            events::ticket_id.eq(event.ticket_id.map(|t| t.get())),
            events::payload.eq(&event.payload),
        ))
        .execute(conn)
        .await?;
    // Delivered at commit (and once per transaction: PostgreSQL folds equal notifications):
    // every instance's WebSocket hub then reads what is new.
    diesel::sql_query("SELECT pg_notify('omni_events', '')")
        .execute(conn)
        .await?;
    Ok(())
}
