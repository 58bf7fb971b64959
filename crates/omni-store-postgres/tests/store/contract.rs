//! The port contract (from omni-store-memory, which passes it too) against the PostgreSQL
//! adapters, each check on a database of its own.

use std::sync::Arc;

use omni_store_memory::contract::Ports;
use omni_store_postgres::test_db::TestDatabase;
use omni_store_postgres::{
    Database, PgCompanyRepository, PgEventLog, PgIntegrationRepository, PgJobQueue, PgMessageStore,
    PgReportStore, PgTicketRepository, PgUploadStore, PgUserRepository,
};

async fn fresh() -> Ports {
    let test_db = TestDatabase::new().await.unwrap();
    let db = Database::new(test_db.config().unwrap()).unwrap();
    Ports {
        users: Arc::new(PgUserRepository::new(db.clone())),
        companies: Arc::new(PgCompanyRepository::new(db.clone())),
        integrations: Arc::new(PgIntegrationRepository::new(db.clone())),
        tickets: Arc::new(PgTicketRepository::new(db.clone())),
        messages: Arc::new(PgMessageStore::new(db.clone())),
        uploads: Arc::new(PgUploadStore::new(db.clone())),
        jobs: Arc::new(PgJobQueue::new(db.clone())),
        events: Arc::new(PgEventLog::new(db.clone())),
        reports: Arc::new(PgReportStore::new(db)),
        keep_alive: Some(Arc::new(test_db)),
    }
}

omni_store_memory::port_contract_tests!(fresh());
