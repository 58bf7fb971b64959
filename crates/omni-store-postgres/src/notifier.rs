//! `NOTIFY` after commit, not inside the transaction.
//!
//! A transaction that notifies takes PostgreSQL's one notification-queue lock at commit and
//! holds it through its WAL flush, so every notifying commit in the cluster waits for the one
//! before it: concurrent webhooks could not share an fsync. Here the changes commit without
//! it, and one task per process sends the wake-ups afterwards — several commits' worth in
//! one statement, with `synchronous_commit` off (a wake-up need not survive a crash: the
//! rows it announces already did, and listeners poll as a safety net).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel_async::SimpleAsyncConnection as _;
use tokio::sync::Notify;

use crate::Database;
use crate::event_log::EVENTS_CHANNEL;
use crate::jobs::JOBS_CHANNEL;

/// Wake-ups are sent at most this often: under load, every batch's commit would otherwise
/// cost a notifying transaction here and an event-log read in every hub. Agents see events
/// at most this much later.
const INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// What committed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Announce {
    /// Events (for WebSocket hubs).
    Events,
    /// Jobs (for workers).
    Jobs,
}

#[derive(Debug, Default)]
pub(crate) struct Notifier {
    events: AtomicBool,
    jobs: AtomicBool,
    poke: Notify,
    started: AtomicBool,
}

impl Notifier {
    /// Marks `what` to be announced and wakes the sender (started on first use, on the
    /// caller's runtime).
    pub(crate) fn announce(self: &Arc<Self>, db: &Database, what: Announce) {
        match what {
            Announce::Events => self.events.store(true, Ordering::Release),
            Announce::Jobs => self.jobs.store(true, Ordering::Release),
        }
        if !self.started.swap(true, Ordering::AcqRel) {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(send_forever(self.clone(), db.clone()));
                }
                // No runtime, no sender: listeners still poll.
                Err(_) => self.started.store(false, Ordering::Release),
            }
        }
        self.poke.notify_one();
    }
}

async fn send_forever(notifier: Arc<Notifier>, db: Database) {
    loop {
        notifier.poke.notified().await;
        let events = notifier.events.swap(false, Ordering::AcqRel);
        let jobs = notifier.jobs.swap(false, Ordering::AcqRel);
        if !events && !jobs {
            continue;
        }
        let mut sql = String::from("BEGIN; SET LOCAL synchronous_commit = off;");
        for (wanted, channel) in [(events, EVENTS_CHANNEL), (jobs, JOBS_CHANNEL)] {
            if wanted {
                sql.push_str(&format!(" SELECT pg_notify('{channel}', '');"));
            }
        }
        sql.push_str(" COMMIT;");
        let sent = match db.conn().await {
            Ok(mut conn) => conn.batch_execute(&sql).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            // Listeners find the rows on their next poll; nothing is lost.
            tracing::debug!(error = %e, "could not send notifications");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
