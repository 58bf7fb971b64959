//! The core crate's [`EventLog`] in memory: what the WebSocket hub follows and replays.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use omni_core::{CompanyId, Event, EventLog, EventLogError};

use crate::MemoryStore;

fn take(limit: i64) -> usize {
    usize::try_from(limit).unwrap_or(0)
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn latest_id(&self) -> Result<i64, EventLogError> {
        Ok(self.lock().events.keys().next_back().copied().unwrap_or(0))
    }

    async fn after(&self, cursor: i64, limit: i64) -> Result<Vec<Event>, EventLogError> {
        Ok(self
            .lock()
            .events
            .range(cursor.saturating_add(1)..)
            .take(take(limit))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn company_between(
        &self,
        company: CompanyId,
        since: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<Event>, EventLogError> {
        if upto <= since {
            return Ok(Vec::new());
        }
        Ok(self
            .lock()
            .events
            .range(since.saturating_add(1)..=upto)
            .map(|(_, e)| e)
            .filter(|e| e.company_id == company)
            .take(take(limit))
            .cloned()
            .collect())
    }

    async fn pruned_through(&self) -> Result<i64, EventLogError> {
        Ok(self.lock().pruned_through)
    }

    async fn prune(&self, retention: Duration) -> Result<usize, EventLogError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        let mut state = self.lock();
        let old: Vec<i64> = state
            .events
            .iter()
            .filter(|(_, e)| e.occurred_at < cutoff)
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            state.events.remove(id);
        }
        if let Some(max) = old.iter().max() {
            state.pruned_through = state.pruned_through.max(*max);
        }
        Ok(old.len())
    }
}
