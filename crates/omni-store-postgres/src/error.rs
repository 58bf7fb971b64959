/// What can go wrong talking to PostgreSQL, as far as callers need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time: the server is down, unreachable or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused or failed a query.
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    /// Applying or reverting a migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        if crate::errors::lost_connection(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Query(e)
        }
    }
}
