//! TLS to PostgreSQL: a cluster of this test's own that turns away unencrypted clients,
//! serving a certificate for `localhost` signed by a CA the test makes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use omni_store_postgres::{Database, DbConfig, listen};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::sync::Notify;

/// A throwaway cluster started by `deploy/local-db.sh` with `OMNI_PG_TLS_DIR`, stopped and
/// removed on drop.
struct TlsCluster {
    dir: PathBuf,
    port: u16,
}

impl TlsCluster {
    fn start() -> Self {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();

        let (ca_pem, ca) = certificate_authority("Omni test CA");
        let (other_pem, _) = certificate_authority("Someone else's CA");
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server = params.signed_by(&server_key, &ca).unwrap();
        std::fs::write(certs.join("server.crt"), server.pem()).unwrap();
        std::fs::write(certs.join("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_pem).unwrap();
        std::fs::write(dir.join("other-ca.pem"), other_pem).unwrap();

        // A port nobody holds now; the cluster takes it a moment later.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { dir, port };
        let out = cluster.local_db("url");
        assert!(
            out.status.success(),
            "deploy/local-db.sh could not start a TLS cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    fn local_db(&self, command: &str) -> std::process::Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local-db.sh");
        Command::new(script)
            .arg(command)
            .env_remove("DATABASE_URL")
            .env("OMNI_PG_DIR", self.dir.join("cluster"))
            .env("OMNI_PG_PORT", self.port.to_string())
            .env("OMNI_PG_PROBE", "")
            .env("OMNI_PG_TLS_DIR", self.dir.join("certs"))
            .output()
            .unwrap()
    }

    /// A URL to the cluster's `postgres` database by `host`, with `query` appended.
    fn url(&self, host: &str, query: &str) -> String {
        let query = query
            .replace("{ca}", &self.dir.join("ca.pem").display().to_string())
            .replace(
                "{other}",
                &self.dir.join("other-ca.pem").display().to_string(),
            );
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let _ = self.local_db("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn certificate_authority(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// Opens a pool on `url` and runs one query: the error, if any, as text.
async fn query_through(url: &str) -> Result<(), String> {
    let mut config = DbConfig::new(url).map_err(|e| e.to_string())?;
    config.connect_timeout = Duration::from_secs(5);
    let db = Database::new(config).map_err(|e| e.to_string())?;
    db.ping().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn sslmode_is_honoured_by_the_pool_and_the_listener() {
    let cluster = TlsCluster::start();

    // The cluster turns away a client that does not encrypt: every success below is TLS.
    let plain = query_through(&cluster.url("localhost", "sslmode=disable")).await;
    assert!(
        plain.as_ref().is_err_and(|e| e.contains("no encryption")),
        "an unencrypted client got in: {plain:?}"
    );

    let full = cluster.url("localhost", "sslmode=verify-full&sslrootcert={ca}");
    query_through(&full)
        .await
        .expect("verify-full against our CA, by the certified name");

    // The certificate names localhost, not 127.0.0.1: only verify-full minds.
    let by_address =
        query_through(&cluster.url("127.0.0.1", "sslmode=verify-full&sslrootcert={ca}")).await;
    assert!(
        by_address
            .as_ref()
            .is_err_and(|e| e.contains("certificate")),
        "verify-full accepted a certificate for another name: {by_address:?}"
    );
    query_through(&cluster.url("127.0.0.1", "sslmode=verify-ca&sslrootcert={ca}"))
        .await
        .expect("verify-ca checks the chain, not the name");

    for query in [
        "sslmode=verify-ca&sslrootcert={other}",
        "sslmode=verify-full&sslrootcert={other}",
        "sslmode=require&sslrootcert={other}",
    ] {
        let refused = query_through(&cluster.url("localhost", query)).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("certificate")),
            "{query}: a certificate from a CA not trusted was accepted: {refused:?}"
        );
    }

    // Encryption without a check, as libpq's require and prefer (the default) do.
    query_through(&cluster.url("127.0.0.1", "sslmode=require"))
        .await
        .expect("require encrypts without checking");
    query_through(&cluster.url("127.0.0.1", "application_name=omni-test"))
        .await
        .expect("prefer takes the TLS the server offers");

    // The LISTEN connection goes the same way as the pool.
    let config = DbConfig::new(&full).unwrap();
    let db = Database::new(config.clone()).unwrap();
    let woken = Arc::new(Notify::new());
    let listener = tokio::spawn({
        let woken = woken.clone();
        async move { listen(&config, "tls_test", woken).await }
    });
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // LISTEN may not be in place yet: notify until the listener hears one.
            let mut conn = db.conn().await.unwrap();
            diesel::sql_query("NOTIFY tls_test")
                .execute(&mut conn)
                .await
                .unwrap();
            if tokio::time::timeout(Duration::from_millis(200), woken.notified())
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                !listener.is_finished(),
                "the listener ended: {:?}",
                listener.await
            );
        }
    })
    .await;
    assert!(heard.is_ok(), "no notification reached the TLS listener");
}
