use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;

/// Opens one connection with the given client configuration (timeouts included).
///
/// Plain TCP or a Unix socket: TLS to the database is not supported yet, and a URL asking
/// for `sslmode=require` fails here with PostgreSQL's own message.
pub(crate) async fn establish(
    pg: tokio_postgres::Config,
) -> Result<AsyncPgConnection, ConnectionError> {
    let (client, connection) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}
