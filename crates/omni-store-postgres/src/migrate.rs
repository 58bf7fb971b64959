use diesel::RunQueryDsl as _;
use diesel::sql_types::BigInt;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connect::establish;
use crate::{DbConfig, StoreError};

/// Every migration of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The advisory-lock key serialising migrations across instances ("omni-mig" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f6d_6e69_2d6d_6967;

/// Applies every pending migration and returns the versions it applied.
///
/// Several instances may call this at once: each takes a session-level advisory lock
/// first, so one migrates while the others wait and then find nothing left to do. The
/// connection has no statement timeout, since building an index may take a while.
pub async fn run_migrations(config: &DbConfig) -> Result<Vec<String>, StoreError> {
    let conn = establish(config.pg_config(None), config).await?;
    // diesel_migrations is synchronous; the wrapper drives the async connection from a
    // blocking thread so that no runtime worker is stalled.
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .execute(&mut conn)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| StoreError::Migration(e.to_string()));
        // Closing the session would release the lock too; unlocking says so explicitly.
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK)
            .execute(&mut conn)?;
        applied
    })
    .await
    .map_err(|e| StoreError::Migration(format!("migration task failed: {e}")))?
}
