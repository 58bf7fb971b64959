use std::str::FromStr;
use std::time::Duration;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{TlsParams, connector, take_tls_params};

/// How to reach PostgreSQL and how patient to be with it.
#[derive(Clone)]
pub struct DbConfig {
    pg: tokio_postgres::Config,
    tls: TlsParams,
    connector: MakeRustlsConnect,
    /// Connections kept at most.
    pub pool_size: usize,
    /// Longest wait to open one connection.
    pub connect_timeout: Duration,
    /// Longest wait for a pooled connection when all are busy.
    pub acquire_timeout: Duration,
    /// Longest a single statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
}

/// A database URL that PostgreSQL's client cannot parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid database URL: {0}")]
pub struct InvalidDatabaseUrl(String);

impl InvalidDatabaseUrl {
    pub(crate) fn new(why: String) -> Self {
        Self(why)
    }
}

impl DbConfig {
    /// Parses `url` (`postgres://user:password@host:port/db?...`) with the default limits:
    /// 16 connections, 5 s to connect, 5 s to acquire, 30 s per statement.
    ///
    /// TLS follows libpq: `sslmode` is `disable`, `allow`/`prefer` (the default: encrypted
    /// when the server offers it, certificate unchecked), `require` (encrypted; the chain is
    /// checked when `sslrootcert` names a CA file), `verify-ca` (a trusted CA signed it) or
    /// `verify-full` (and it names the host). `sslrootcert` is a PEM file, or `system` for
    /// the platform's trust store, which is also what the verifying modes use without it.
    pub fn new(url: &str) -> Result<Self, InvalidDatabaseUrl> {
        let (url, tls) = take_tls_params(url)?;
        let mut pg = tokio_postgres::Config::from_str(&url).map_err(|e| {
            // The parser's message never includes the URL, so no password reaches a log.
            InvalidDatabaseUrl(e.to_string())
        })?;
        if pg.get_hosts().is_empty() {
            return Err(InvalidDatabaseUrl("no host".into()));
        }
        if pg.get_dbname().is_none() {
            return Err(InvalidDatabaseUrl("no database name".into()));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("omni");
        }
        pg.ssl_mode(tls.mode);
        let connector = connector(&tls)?;
        Ok(Self {
            pg,
            tls,
            connector,
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        })
    }

    /// The database name.
    pub fn database_name(&self) -> &str {
        self.pg.get_dbname().unwrap_or_default()
    }

    /// The client configuration for a connection with the given statement timeout
    /// (`None`: no limit, for migrations that may build large indexes).
    pub(crate) fn pg_config(&self, statement_timeout: Option<Duration>) -> tokio_postgres::Config {
        let mut pg = self.pg.clone();
        pg.connect_timeout(self.connect_timeout);
        let ms = statement_timeout.map_or(0, |d| d.as_millis());
        let options = match self.pg.get_options() {
            Some(existing) => format!("{existing} -c statement_timeout={ms}"),
            None => format!("-c statement_timeout={ms}"),
        };
        pg.options(&options);
        pg
    }

    /// The TLS connector for every connection to this database.
    pub(crate) fn tls(&self) -> MakeRustlsConnect {
        self.connector.clone()
    }
}

impl std::fmt::Debug for DbConfig {
    // The derived Debug would print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("hosts", &self.pg.get_hosts())
            .field("ports", &self.pg.get_ports())
            .field("dbname", &self.pg.get_dbname())
            .field("user", &self.pg.get_user())
            .field("sslmode", &self.tls.mode)
            .field("verify", &self.tls.verify)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_refuses_garbage() {
        let c = DbConfig::new("postgres://postgres:s3cret@127.0.0.1:5432/omni").unwrap();
        assert_eq!(c.database_name(), "omni");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(DbConfig::new("not a url").is_err());
        assert!(DbConfig::new("postgres://127.0.0.1:notaport/omni").is_err());
        assert!(DbConfig::new("postgres://127.0.0.1:5432").is_err());
    }

    #[test]
    fn statement_timeout_travels_as_a_startup_option() {
        let c = DbConfig::new("postgres://u@h/db?options=-c%20search_path%3Dx").unwrap();
        let pg = c.pg_config(Some(Duration::from_millis(1500)));
        assert_eq!(
            pg.get_options(),
            Some("-c search_path=x -c statement_timeout=1500")
        );
        assert_eq!(
            c.pg_config(None).get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
    }
}
