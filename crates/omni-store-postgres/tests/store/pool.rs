use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use omni_store_postgres::test_db::TestDatabase;
use omni_store_postgres::{Database, DbConfig, StoreError};

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[tokio::test]
async fn connections_carry_the_statement_timeout() {
    let db = TestDatabase::new().await.unwrap();
    let mut config = DbConfig::new(db.url()).unwrap();
    config.statement_timeout = Duration::from_millis(250);
    let database = Database::new(config).unwrap();
    database.ping().await.unwrap();

    let mut conn = database.conn().await.unwrap();
    let shown: Setting = diesel::sql_query("SELECT current_setting('statement_timeout') AS value")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(shown.value, "250ms");
    let slow = diesel::sql_query("SELECT pg_sleep(2)")
        .execute(&mut conn)
        .await;
    let err = slow.expect_err("the statement is cancelled");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    // The connection is still usable after the cancellation.
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_reported_quickly() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let mut config = DbConfig::new("postgres://postgres@127.0.0.1:1/omni").unwrap();
    config.connect_timeout = Duration::from_millis(500);
    config.acquire_timeout = Duration::from_millis(500);
    let database = Database::new(config).unwrap();
    let started = Instant::now();
    let err = database.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_pool_never_exceeds_its_size() {
    let db = TestDatabase::new().await.unwrap();
    let mut config = DbConfig::new(db.url()).unwrap();
    config.pool_size = 2;
    config.acquire_timeout = Duration::from_millis(300);
    let database = Database::new(config).unwrap();
    let a = database.conn().await.unwrap();
    let b = database.conn().await.unwrap();
    let third = database.conn().await;
    assert!(matches!(third, Err(StoreError::Unavailable(_))));
    assert_eq!(database.pool_status(), (2, 0));
    drop((a, b));
    database.ping().await.unwrap();
}
