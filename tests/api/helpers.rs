use std::sync::LazyLock;
use std::time::Duration;

use figment::Figment;
use omni_server::app::Application;
use omni_server::config::{Config, LogConfig, LogFormat, Profile};
use omni_store_postgres::test_db::TestDatabase;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

static TRACING: LazyLock<()> = LazyLock::new(|| {
    let log = LogConfig {
        format: LogFormat::Pretty,
        level: "info,omni_server=debug".into(),
    };
    if std::env::var_os("TEST_LOG").is_some() {
        omni_server::telemetry::init(&log, std::io::stdout);
    } else {
        omni_server::telemetry::init(&log, std::io::sink);
    }
});

/// A running server and the database behind it; both go away when this is dropped.
pub struct TestApp {
    pub address: String,
    #[allow(
        dead_code,
        reason = "keeps the database alive; the next issues query it"
    )]
    pub db: TestDatabase,
    pub client: reqwest::Client,
    server: JoinHandle<std::io::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the server answers")
    }
}

/// The server on a fresh, migrated database.
pub async fn spawn_app() -> TestApp {
    let db = TestDatabase::new().await.expect("a test database");
    let url = db.url().to_owned();
    spawn_app_on(db, &url, |f| f).await
}

/// The server on `db`, reached at `url` (a proxy, say), with configuration overrides.
pub async fn spawn_app_on(
    db: TestDatabase,
    url: &str,
    customize: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    LazyLock::force(&TRACING);
    let figment = customize(
        Config::defaults()
            .merge(("database.url", url))
            .merge(("database.connect_timeout_ms", 1000))
            .merge(("database.acquire_timeout_ms", 1000))
            .merge(("http.bind", "127.0.0.1:0"))
            .merge(("http.workers", 2))
            .merge(("http.shutdown_timeout_secs", 1)),
    );
    let config =
        Config::from_figment(Profile::Testing, &figment).expect("a valid test configuration");
    let app = Application::build(config).expect("the server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        server,
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, to play an outage.
pub struct TcpProxy {
    pub port: u16,
    upstream: (String, u16),
    task: Option<JoinHandle<()>>,
}

impl TcpProxy {
    pub async fn start(upstream: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Self {
            port,
            upstream,
            task: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            // Owned by this task: aborting it drops every open connection too.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Refuses new connections and cuts the open ones.
    pub fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Accepts connections again on the same port.
    pub async fn restore(&mut self) {
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                // The aborted task may not have released the port yet.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }
}
