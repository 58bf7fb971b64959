//! A `LISTEN` connection kept up for as long as the process runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use omni_store_postgres::{DbConfig, listen};
use tokio::sync::{Notify, watch};

/// Keeps a `LISTEN channel` connection up, reconnecting with back-off (reset after a
/// connection that lasted); `wake` is notified on every notification and after every
/// (re)connection, so the listener's owner catches up on what it may have missed.
pub async fn listen_forever(
    db: DbConfig,
    channel: &'static str,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = Instant::now();
        tokio::select! {
            result = listen(&db, channel, wake.clone()) => {
                if let Err(e) = result {
                    tracing::warn!(channel, error = %e, "notifications lost; reconnecting");
                }
            }
            _ = stopped.changed() => return,
        }
        wake.notify_one();
        if connected.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_millis(200);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
