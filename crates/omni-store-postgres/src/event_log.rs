//! Reading and pruning the event log behind WebSocket delivery and replay.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use omni_core::{CompanyId, Event, EventId, EventLog, EventLogError, EventType, TicketId};

use crate::schema::{event_log_state, events};
use crate::{Database, StoreError};

/// The channel `NOTIFY` announces new events on.
pub const EVENTS_CHANNEL: &str = "omni_events";

/// The event log in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgEventLog {
    db: Database,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
struct EventRow {
    id: i64,
    company_id: i64,
    event_type: String,
    ticket_id: Option<i64>,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
}

fn to_events(rows: Vec<EventRow>) -> Vec<Event> {
    rows.into_iter()
        .filter_map(|r| {
            let Ok(event_type) = r.event_type.parse::<EventType>() else {
                tracing::warn!(id = r.id, kind = %r.event_type, "skipping an event of an unknown type");
                return None;
            };
            Some(Event {
                id: EventId::new(r.id),
                event_type,
                company_id: CompanyId::new(r.company_id),
                ticket_id: r.ticket_id.map(TicketId::new),
                payload: r.payload,
                occurred_at: r.created_at,
            })
        })
        .collect()
}

fn log_error(e: StoreError) -> EventLogError {
    match e {
        StoreError::Unavailable(why) => EventLogError::Unavailable(why),
        other => EventLogError::Unknown(other.to_string()),
    }
}

impl PgEventLog {
    /// The log over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventLog for PgEventLog {
    async fn latest_id(&self) -> Result<i64, EventLogError> {
        self.newest().await.map_err(log_error)
    }

    async fn after(&self, cursor: i64, limit: i64) -> Result<Vec<Event>, EventLogError> {
        self.all_after(cursor, limit).await.map_err(log_error)
    }

    async fn company_between(
        &self,
        company: CompanyId,
        since: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<Event>, EventLogError> {
        self.of_company(company, since, upto, limit)
            .await
            .map_err(log_error)
    }

    async fn pruned_through(&self) -> Result<i64, EventLogError> {
        self.pruned().await.map_err(log_error)
    }

    async fn prune(&self, retention: Duration) -> Result<usize, EventLogError> {
        self.delete_older(retention).await.map_err(log_error)
    }
}

impl PgEventLog {
    /// The newest event id (0 when the log is empty).
    async fn newest(&self) -> Result<i64, StoreError> {
        let mut conn = self.db.conn().await?;
        let id: Option<i64> = events::table
            .select(diesel::dsl::max(events::id))
            .first(&mut conn)
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// Events of every company after `cursor`, oldest first.
    async fn all_after(&self, cursor: i64, limit: i64) -> Result<Vec<Event>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows = events::table
            .filter(events::id.gt(cursor))
            .order(events::id.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(to_events(rows))
    }

    /// One company's events with `since < id <= upto`, oldest first.
    async fn of_company(
        &self,
        company: CompanyId,
        since: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let mut conn = self.db.conn().await?;
        let rows = events::table
            .filter(events::company_id.eq(company.get()))
            .filter(events::id.gt(since))
            .filter(events::id.le(upto))
            .order(events::id.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(&mut conn)
            .await?;
        Ok(to_events(rows))
    }

    /// The newest id the retention job has pruned.
    async fn pruned(&self) -> Result<i64, StoreError> {
        let mut conn = self.db.conn().await?;
        Ok(event_log_state::table
            .select(event_log_state::pruned_through)
            .first(&mut conn)
            .await
            .optional()?
            .unwrap_or(0))
    }

    /// Deletes events older than `retention` (in batches) and records how far it pruned.
    /// Returns how many it deleted.
    async fn delete_older(&self, retention: Duration) -> Result<usize, StoreError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        let mut deleted = 0;
        loop {
            let mut conn = self.db.conn().await?;
            let batch: Vec<i64> = conn
                .transaction(async |conn| {
                    #[derive(QueryableByName)]
                    struct Pruned {
                        #[diesel(sql_type = diesel::sql_types::BigInt)]
                        id: i64,
                    }
                    let ids: Vec<i64> = diesel::sql_query(
                        "DELETE FROM events WHERE id IN \
                           (SELECT id FROM events WHERE created_at < $1 ORDER BY id LIMIT 5000) RETURNING id",
                    )
                    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
                    .load::<Pruned>(conn)
                    .await?
                    .into_iter()
                    .map(|p| p.id)
                    .collect();
                    if let Some(max) = ids.iter().max() {
                        diesel::sql_query("UPDATE event_log_state SET pruned_through = greatest(pruned_through, $1)")
                            .bind::<diesel::sql_types::BigInt, _>(*max)
                            .execute(conn)
                            .await?;
                    }
                    Ok::<_, diesel::result::Error>(ids)
                })
                .await?;
            deleted += batch.len();
            if batch.len() < 5000 {
                return Ok(deleted);
            }
        }
    }
}
