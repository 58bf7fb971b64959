//! The PostgreSQL adapter against a real PostgreSQL: each test has its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod constraints;
mod contract;
mod migrations;
mod pool;
mod reports;
mod schema;
mod tls;

use omni_store_postgres::test_db::TestDatabase;

/// A plain client on the test database, for SQL the tests write by hand.
pub async fn client(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = db
        .url()
        .parse::<tokio_postgres::Config>()
        .unwrap()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Every row of a simple query, each column as text (NULL as `∅`), joined by `|`.
pub async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("∅").to_owned())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect()
}
