//! What every handler can reach.

use omni_store_postgres::Database;

use crate::config::Config;

/// Shared application state, one per process (cloned into each worker as `web::Data`).
#[derive(Debug)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: Database,
    /// The validated configuration.
    pub config: Config,
}
