//! A database per test: each [`TestDatabase`] is a fresh clone of a template that was
//! migrated once, so tests run in parallel (one process each under nextest) and leave
//! nothing behind.
//!
//! The server comes from `DATABASE_URL` (any database on it; the clones are created beside
//! it), or `postgres://postgres@127.0.0.1:5432/postgres` when unset.

use std::error::Error;

use crate::{DbConfig, run_migrations};

type BoxError = Box<dyn Error + Send + Sync>;

/// Names the template after the migrations it holds, so an edited migration is never
/// served from a stale template.
const TEMPLATE: &str = concat!("omni_template_", env!("OMNI_MIGRATIONS_FINGERPRINT"));
/// Serialises template creation among concurrent test processes ("omni-tpl").
const TEMPLATE_LOCK: i64 = 0x6f6d_6e69_2d74_706c;
const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated database of its own, dropped when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
}

impl TestDatabase {
    /// Clones the migrated template into a new database, creating the template first if
    /// no test has yet.
    pub async fn new() -> Result<Self, BoxError> {
        let server_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned());
        let admin = admin_client(&server_url).await?;
        ensure_template(&admin, &server_url).await?;
        let name = format!("omni_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{TEMPLATE}\""
            ))
            .await?;
        let url = with_database(&server_url, &name)?;
        Ok(Self {
            name,
            url,
            server_url,
        })
    }

    /// A new database with no schema at all, for tests of the migrations themselves.
    pub async fn empty() -> Result<Self, BoxError> {
        let server_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned());
        let admin = admin_client(&server_url).await?;
        let name = format!("omni_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
            .await?;
        let url = with_database(&server_url, &name)?;
        Ok(Self {
            name,
            url,
            server_url,
        })
    }

    /// The host and port of the server holding the database.
    pub fn server_addr(&self) -> Result<(String, u16), BoxError> {
        let (scheme_less, _) = authority(&self.url)?;
        let host_port = scheme_less
            .rsplit_once('@')
            .map_or(scheme_less, |(_, hp)| hp);
        match host_port.rsplit_once(':') {
            Some((host, port)) => Ok((host.to_owned(), port.parse()?)),
            None => Ok((host_port.to_owned(), 5432)),
        }
    }

    /// The database's URL with the server reached at `host:port` instead (a proxy).
    pub fn url_via(&self, host: &str, port: u16) -> Result<String, BoxError> {
        let (auth, rest) = authority(&self.url)?;
        let user = auth
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        Ok(format!("postgres://{user}{host}:{port}{rest}"))
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool configuration for this database.
    pub fn config(&self) -> Result<DbConfig, BoxError> {
        Ok(DbConfig::new(&self.url)?)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be gone or busy: a thread with a
        // runtime of its own drops the database (FORCE ends the server's open connections).
        let server_url = self.server_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || -> Result<(), BoxError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let admin = admin_client(&server_url).await?;
                admin.batch_execute(&sql).await?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

async fn admin_client(server_url: &str) -> Result<tokio_postgres::Client, BoxError> {
    let (client, connection) = server_url
        .parse::<tokio_postgres::Config>()?
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn ensure_template(admin: &tokio_postgres::Client, server_url: &str) -> Result<(), BoxError> {
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await?;
    let result = build_template_if_missing(admin, server_url).await;
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await?;
    result
}

async fn build_template_if_missing(
    admin: &tokio_postgres::Client,
    server_url: &str,
) -> Result<(), BoxError> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEMPLATE])
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    // Built under another name and renamed when complete, so that a run killed halfway
    // never leaves a half-migrated template behind.
    let building = format!("{TEMPLATE}_build");
    // DROP and CREATE DATABASE refuse to run inside a (multi-statement) transaction.
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{building}\""))
        .await?;
    run_migrations(&DbConfig::new(&with_database(server_url, &building)?)?).await?;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&building],
        )
        .await?;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{TEMPLATE}\"; \
             ALTER DATABASE \"{TEMPLATE}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        ))
        .await?;
    // Templates of older migrations are of no further use.
    let stale = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'omni\\_template\\_%' \
             AND datname NOT LIKE $1 || '%'",
            &[&TEMPLATE],
        )
        .await?;
    for row in stale {
        let name: String = row.get(0);
        admin
            .batch_execute(&format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE false"))
            .await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
    }
    Ok(())
}

/// Splits `scheme://authority/rest` into the authority and `/rest`.
fn authority(url: &str) -> Result<(&str, &str), BoxError> {
    let (_, after) = url
        .split_once("://")
        .ok_or("DATABASE_URL must be a postgres:// URL")?;
    Ok(match after.find(['/', '?']) {
        Some(i) => after.split_at(i),
        None => (after, ""),
    })
}

/// `url` with its database name replaced by `name`; `url` must be in URL form.
fn with_database(url: &str, name: &str) -> Result<String, BoxError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("DATABASE_URL must be a postgres:// URL")?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "x").unwrap(),
            "postgres://h/x"
        );
        assert!(with_database("host=h dbname=y", "x").is_err());
    }
}
