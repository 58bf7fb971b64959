//! `LISTEN` on a channel: wakes a waiter on every `NOTIFY`.

use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::poll_fn;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use crate::connect::describe;
use crate::{DbConfig, StoreError};

/// Listens on `channel` and calls `notify.notify_one()` for each notification, until the
/// connection ends (the caller reconnects and catches up on what it missed meanwhile).
pub async fn listen(
    config: &DbConfig,
    channel: &str,
    notify: Arc<Notify>,
) -> Result<(), StoreError> {
    let (client, mut connection) = config
        .pg_config(None)
        .connect(config.tls())
        .await
        .map_err(|e| StoreError::Unavailable(describe(&e)))?;
    let mut messages = poll_fn(move |cx| connection.poll_message(cx));
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<Result<(), StoreError>>();
    let pump = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => notify.notify_one(),
                Ok(_) => {}
                Err(e) => {
                    let _ = done_tx.send(Err(StoreError::Unavailable(e.to_string())));
                    return;
                }
            }
        }
        let _ = done_tx.send(Ok(()));
    });
    // Channel names are identifiers; ours is a constant, quoted all the same.
    let listened = client
        .batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "")))
        .await;
    if let Err(e) = listened {
        pump.abort();
        return Err(StoreError::Unavailable(e.to_string()));
    }
    let result = (&mut done_rx).await.unwrap_or(Ok(()));
    drop(client);
    result
}
