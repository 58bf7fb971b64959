use deadpool::Runtime;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures_util::FutureExt as _;

use std::sync::Arc;

use crate::connect::establish;
use crate::notifier::{Announce, Notifier};
use crate::routes_cache::PhoneRoutes;
use crate::{DbConfig, StoreError};

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
        // A pooled connection whose server went away is found out before a caller gets it.
        manager_config.recycling_method = RecyclingMethod::Verified;
        // The URL is carried by the setup closure; the manager's copy is never used.
        let manager = AsyncDieselConnectionManager::new_with_config("", manager_config);
        let pool = Pool::builder(manager)
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
            PoolError::Backend(e) => StoreError::Unavailable(e.to_string()),
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
