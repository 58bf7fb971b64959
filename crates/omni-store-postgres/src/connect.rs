use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;

use crate::DbConfig;

/// Opens one connection with the given client configuration (timeouts included), over TLS
/// when the URL's `sslmode` asks for it.
pub(crate) async fn establish(
    pg: tokio_postgres::Config,
    config: &DbConfig,
) -> Result<AsyncPgConnection, ConnectionError> {
    let (client, connection) = pg
        .connect(config.tls())
        .await
        .map_err(|e| ConnectionError::BadConnection(describe(&e)))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// tokio-postgres's error with its causes: alone it says only "db error" or "error
/// performing TLS handshake", which tells an operator nothing.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
