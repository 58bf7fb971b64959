//! PostgreSQL adapters for Omni.
//!
//! The only crate that knows SQL: the connection pool, the embedded migrations (applied
//! under an advisory lock so that several instances may start at once), the diesel schema
//! and, as the issues land, the repository, job-queue and event-log adapters of the domain
//! crates' ports.
#![warn(missing_docs)]

mod batch_sql;
mod companies;
mod config;
mod connect;
mod database;
mod error;
mod errors;
mod event_log;
mod events;
mod facts;
mod inbound_batch;
mod integrations;
mod jobs;
mod listen;
mod messages;
mod migrate;
mod notifier;
mod reports;
mod routes_cache;
pub mod schema;
mod send_batch;
mod status_batch;
#[cfg(feature = "test-support")]
pub mod test_db;
mod tickets;
mod tls;
mod triage_write;
mod uploads;
mod users;

pub use companies::PgCompanyRepository;
pub use config::{DbConfig, InvalidDatabaseUrl};
pub use database::{Database, PooledConnection};
pub use error::StoreError;
pub use event_log::{EVENTS_CHANNEL, PgEventLog};
pub use integrations::PgIntegrationRepository;
pub use jobs::{JOBS_CHANNEL, PgJobQueue};
pub use listen::listen;
pub use messages::PgMessageStore;
pub use migrate::{MIGRATIONS, run_migrations};
pub use reports::PgReportStore;
pub use tickets::PgTicketRepository;
pub use uploads::PgUploadStore;
pub use users::PgUserRepository;
