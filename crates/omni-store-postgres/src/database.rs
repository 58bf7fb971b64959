use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{Hook, HookError, HookResult};
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::PoolError;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError as DeadpoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures_util::FutureExt as _;

use std::sync::Arc;

use crate::connect::establish;
use crate::notifier::{Announce, Notifier};
use crate::routes_cache::PhoneRoutes;
use crate::{DbConfig, StoreError};

/// How long a pooled connection may sit unused before it is verified at checkout: a
/// server restart or an idle-connection reaper (a proxy's, a firewall's) is most likely to
/// have ended a connection that has been idle.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(10);

/// Asks a connection idle longer than [`VERIFY_AFTER_IDLE`] whether its server is still
/// there; one that does not answer within `timeout` is dropped (the pool takes another).
async fn verify_if_idle(
    conn: &mut AsyncPgConnection,
    idle: Duration,
    timeout: Duration,
) -> HookResult<PoolError> {
    if idle < VERIFY_AFTER_IDLE {
        return Ok(());
    }
    match tokio::time::timeout(timeout, diesel::sql_query("SELECT 1").execute(conn)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(HookError::message(format!(
            "an idle connection failed: {e}"
        ))),
        Err(_) => Err(HookError::message("an idle connection did not answer")),
    }
}

/// A connection borrowed from the pool; it returns there when dropped.
pub type PooledConnection = Object<AsyncPgConnection>;

/// The application's handle on PostgreSQL: a pool of diesel-async connections.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool<AsyncPgConnection>,
    config: DbConfig,
    notifier: Arc<Notifier>,
    routes: Arc<PhoneRoutes>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Builds the pool without connecting: the server starts (and answers `/health/live`)
    /// even while PostgreSQL is still coming up; connections open on first use.
    pub fn new(config: DbConfig) -> Result<Self, StoreError> {
        let pg = config.pg_config(Some(config.statement_timeout));
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        let setup = config.clone();
        manager_config.custom_setup = Box::new(move |_url| {
            let (pg, setup) = (pg.clone(), setup.clone());
            async move { establish(pg, &setup).await }.boxed()
        });
        // A connection whose socket closed is dropped at checkout (diesel-async's
        // `is_broken`); one that sat idle is asked `SELECT 1` first (`verify_if_idle`).
        // One just in use is handed out as it is — a round trip per checkout would be the
        // busiest statement of the service — and, should its server have gone since, the
        // caller's query fails as unavailable (503), never as a 500.
        manager_config.recycling_method = RecyclingMethod::Fast;
        // The URL is carried by the setup closure; the manager's copy is never used.
        let manager = AsyncDieselConnectionManager::new_with_config("", manager_config);
        let verify_timeout = config.connect_timeout;
        let pool = Pool::builder(manager)
            .pre_recycle(Hook::async_fn(move |conn, metrics| {
                Box::pin(verify_if_idle(conn, metrics.last_used(), verify_timeout))
            }))
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            config,
            notifier: Arc::default(),
            routes: Arc::default(),
        })
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// Borrows a connection, waiting at most the configured acquire timeout.
    pub async fn conn(&self) -> Result<PooledConnection, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            DeadpoolError::Backend(e) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    /// Proves the database answers a query now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok(())
    }

    /// Wakes every instance's listeners of `what`; call after the commit that wrote it.
    pub(crate) fn announce(&self, what: Announce) {
        self.notifier.announce(self, what);
    }

    /// Phone number → integration answers shared by every repository on this pool.
    pub(crate) fn routes(&self) -> &PhoneRoutes {
        &self.routes
    }

    /// Connections open now, and how many of them are idle.
    pub fn pool_status(&self) -> (usize, usize) {
        let status = self.pool.status();
        (status.size, status.available)
    }
}
