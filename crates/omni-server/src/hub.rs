//! The WebSocket hub of one instance: learns of committed events through PostgreSQL
//! `LISTEN/NOTIFY` (so several instances need no other broker), reads them from the event
//! log in id order, and fans each out to its company's connections through bounded queues.
//!
//! Ids are given out when events are inserted, not when they commit, so a lower id can
//! become visible after a higher one. The hub therefore delivers only the unbroken run of
//! ids after its cursor, and waits for a hole to fill; a hole still open after
//! [`GAP_WAIT`] is an id burnt by a rolled-back transaction and is skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use omni_core::EventLog;
use omni_core::{CompanyId, Event};
use omni_store_postgres::{DbConfig, EVENTS_CHANNEL};
use tokio::sync::{Notify, mpsc, watch};

/// How long a hole in the ids may stay open before it is taken for a rolled-back insert.
pub const GAP_WAIT: Duration = Duration::from_secs(3);
/// Events read per query.
const BATCH: i64 = 1000;

/// A frame ready to send: the event id (to drop duplicates at the replay seam) and its JSON,
/// shared by every connection it goes to (cloning it copies nothing).
pub type Frame = (i64, ByteString);

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Connections open now.
    pub connected: AtomicI64,
    /// Frames sent to clients.
    pub delivered: AtomicU64,
    /// Connections closed because they could not keep up.
    pub slow_closed: AtomicU64,
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Frame>,
    slow: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    cursor: i64,
    next_id: u64,
    subscribers: HashMap<CompanyId, Vec<Subscriber>>,
}

/// One instance's fan-out.
pub struct Hub {
    state: Mutex<State>,
    log: Arc<dyn EventLog>,
    queue_size: usize,
    /// Counters for `/metrics`.
    pub stats: HubStats,
}

/// A connection's live feed.
pub struct Subscription {
    /// Frames, in id order.
    pub frames: mpsc::Receiver<Frame>,
    /// Set when the hub dropped the connection for being too slow.
    pub slow: Arc<AtomicBool>,
    /// Its id in the hub.
    pub id: u64,
}

impl Hub {
    /// A hub reading `log`, with `queue_size` frames of room per connection.
    pub fn new(log: Arc<dyn EventLog>, queue_size: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            log,
            queue_size,
            stats: HubStats::default(),
        }
    }

    /// The event log.
    pub fn log(&self) -> &dyn EventLog {
        self.log.as_ref()
    }

    /// Registers a connection of `company`. Returns its feed and the cursor at that moment:
    /// every event up to the cursor is in the log for replay, every later one will come
    /// through the feed — the seam has no gap and no overlap.
    pub fn subscribe(&self, company: CompanyId) -> (Subscription, i64) {
        let (tx, rx) = mpsc::channel(self.queue_size);
        let slow = Arc::new(AtomicBool::new(false));
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.next_id += 1;
        let id = state.next_id;
        state
            .subscribers
            .entry(company)
            .or_default()
            .push(Subscriber {
                id,
                tx,
                slow: slow.clone(),
            });
        self.stats.connected.fetch_add(1, Ordering::Relaxed);
        (
            Subscription {
                frames: rx,
                slow,
                id,
            },
            state.cursor,
        )
    }

    /// Forgets a connection.
    pub fn unsubscribe(&self, company: CompanyId, id: u64) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(list) = state.subscribers.get_mut(&company) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                state.subscribers.remove(&company);
            }
        }
        self.stats.connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// Ends every connection's feed (they close with 1001 "going away"): shutting down.
    pub fn close_all(&self) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .subscribers
            .clear();
    }

    /// The cursor: every event up to it has been handed to the connections.
    pub fn cursor(&self) -> i64 {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .cursor
    }

    fn publish(&self, events: &[Event]) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in events {
            if let Some(list) = state.subscribers.get_mut(&event.company_id) {
                let Ok(json) = serde_json::to_string(event) else {
                    continue;
                };
                let frame = ByteString::from(json);
                list.retain(|s| match s.tx.try_send((event.id.get(), frame.clone())) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        // Dropping the sender ends the connection's feed; it closes with
                        // 1008 and the client catches up with `since`.
                        s.slow.store(true, Ordering::Relaxed);
                        self.stats.slow_closed.fetch_add(1, Ordering::Relaxed);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
            }
            state.cursor = state.cursor.max(event.id.get());
        }
    }

    fn set_cursor(&self, cursor: i64) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.cursor = state.cursor.max(cursor);
    }

    /// Runs the fan-out until `stopped`: starts at the newest event, then follows the log.
    pub async fn run(self: Arc<Self>, db: DbConfig, mut stopped: watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        tokio::spawn(crate::listener::listen_forever(
            db,
            EVENTS_CHANNEL,
            wake.clone(),
            stopped.clone(),
        ));
        loop {
            match self.log.latest_id().await {
                Ok(latest) => {
                    self.set_cursor(latest);
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "event log unreachable; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => return,
            }
        }
        let mut gap_since: Option<Instant> = None;
        loop {
            let mut cursor = self.cursor();
            match self.log.after(cursor, BATCH).await {
                Ok(events) => {
                    let mut deliver = Vec::with_capacity(events.len());
                    for event in events {
                        let id = event.id.get();
                        if id != cursor + 1 {
                            let waited = *gap_since.get_or_insert_with(Instant::now);
                            if waited.elapsed() < GAP_WAIT {
                                break;
                            }
                            tracing::debug!(
                                from = cursor + 1,
                                to = id - 1,
                                "skipping event ids that never committed"
                            );
                        }
                        gap_since = None;
                        cursor = id;
                        deliver.push(event);
                    }
                    let full = deliver.len() as i64 == BATCH;
                    self.publish(&deliver);
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the event log"),
            }
            let tick = if gap_since.is_some() {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(1)
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
                _ = stopped.changed() => return,
            }
        }
    }
}
