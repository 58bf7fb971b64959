use std::sync::LazyLock;
use std::time::{Duration, Instant};

use figment::Figment;
use omni_core::DisplayName;
use omni_identity::{Email, Password};
use omni_server::app::Application;
use omni_server::config::{Config, LogConfig, LogFormat, Profile};
use omni_server::state::AppState;
use omni_store_postgres::test_db::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};
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
    /// The metrics listener.
    pub metrics_address: String,
    /// The database, owned by the first app on it (dropped with it).
    #[allow(
        dead_code,
        reason = "held so that the database is dropped with the app"
    )]
    pub db: Option<TestDatabase>,
    pub db_url: String,
    pub client: reqwest::Client,
    pub config: Config,
    server: JoinHandle<std::io::Result<()>>,
}

/// A logged-in user: their token and the `user` object the API returned.
#[derive(Debug, Clone)]
pub struct Account {
    pub token: String,
    pub user: Value,
    pub email: String,
    pub password: String,
}

impl Account {
    pub fn id(&self) -> i64 {
        self.user["id"].as_i64().unwrap()
    }

    pub fn company_id(&self) -> i64 {
        self.user["company_id"].as_i64().unwrap()
    }
}

/// A unique suffix, so that e-mails never collide across tests.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path, None, None).await
    }

    /// The metrics listener's `/metrics`, as text.
    pub async fn scrape(&self) -> String {
        let res = self
            .client
            .get(format!("{}/metrics", self.metrics_address))
            .send()
            .await
            .expect("the metrics listener answers");
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    }

    /// Any request, with an optional JSON body and bearer token.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("the server answers")
    }

    /// A request and its status and JSON answer (Null when the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (u16, Value) {
        let res = self.request(method, path, body.as_ref(), Some(token)).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }

    /// Registers a new company; its admin is logged in.
    pub async fn register(&self) -> Account {
        let email = format!("admin-{}@example.com", unique());
        let password = "correct horse battery".to_owned();
        let body = json!({"company_name": format!("Acme {}", unique()), "name": "Ana Admin", "email": email, "password": password});
        let res = self
            .request(Method::POST, "/auth/register", Some(&body), None)
            .await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        Account {
            token: v["access_token"].as_str().unwrap().to_owned(),
            user: v["user"].clone(),
            email,
            password,
        }
    }

    /// Logs in with e-mail and password.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.request(
            Method::POST,
            "/auth/login",
            Some(&json!({"email": email, "password": password})),
            None,
        )
        .await
    }

    /// Adds a user through `admin` and logs them in.
    pub async fn add_user(&self, admin: &Account, role: &str) -> Account {
        let email = format!("{role}-{}@example.com", unique());
        let password = "user password 1".to_owned();
        let body = json!({"email": email, "name": format!("User {role}"), "password": password, "role": role});
        let (status, user) = self
            .call(Method::POST, "/users", Some(body), &admin.token)
            .await;
        assert_eq!(status, 201, "{user}");
        let login: Value = self.login(&email, &password).await.json().await.unwrap();
        Account {
            token: login["access_token"].as_str().unwrap().to_owned(),
            user,
            email,
            password,
        }
    }

    /// A superadmin, made the way an operator does (the use case behind
    /// `omni-server create-superadmin`), logged in.
    pub async fn superadmin(&self) -> Account {
        let email = format!("root-{}@example.com", unique());
        let password = "superadmin password".to_owned();
        let state = AppState::new(self.config.clone()).unwrap();
        state
            .identity
            .create_superadmin(
                Email::parse(&email).unwrap(),
                DisplayName::parse("Root").unwrap(),
                Password::parse(&password).unwrap(),
            )
            .await
            .unwrap();
        let login: Value = self.login(&email, &password).await.json().await.unwrap();
        Account {
            token: login["access_token"].as_str().unwrap().to_owned(),
            user: login["user"].clone(),
            email,
            password,
        }
    }

    /// A plain SQL client on the app's database.
    pub async fn sql(&self) -> tokio_postgres::Client {
        sql_client(&self.db_url).await
    }
}

/// A plain SQL client on the database at `url`.
pub async fn sql_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = url
        .parse::<tokio_postgres::Config>()
        .unwrap()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// reqwest is built with rustls and no default crypto provider; the server's adapters
/// install ring, and so must a test that builds a client before starting one.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
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
    init_tls();
    let figment = customize(
        Config::defaults()
            .merge(("database.url", url))
            .merge(("database.connect_timeout_ms", 1000))
            .merge(("database.acquire_timeout_ms", 1000))
            .merge(("http.bind", "127.0.0.1:0"))
            .merge(("http.workers", 2))
            .merge(("http.shutdown_timeout_secs", 1))
            .merge(("http.public_base_url", "https://omni.test"))
            // The fakes of Vera listen on loopback, which the outbound guard refuses.
            .merge(("outbound.allowed_hosts", ["127.0.0.1"]))
            .merge(("metrics.bind", "127.0.0.1:0")),
    );
    let config =
        Config::from_figment(Profile::Testing, &figment).expect("a valid test configuration");
    let app = Application::build(config.clone()).expect("the server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        db: Some(db),
        db_url: url.to_owned(),
        config,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        server,
    }
}

/// A second server on the database of `first` (another instance, or a restart).
pub async fn spawn_app_beside(
    first: &TestApp,
    customize: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    let mut figment = Config::defaults();
    for (key, value) in [
        ("database.url", first.db_url.clone()),
        ("http.bind", "127.0.0.1:0".to_owned()),
        ("http.public_base_url", "https://omni.test".to_owned()),
        (
            "twilio.api_base_url",
            first.config.twilio_api_base_url.clone(),
        ),
    ] {
        figment = figment.merge((key, value));
    }
    let figment = customize(
        figment
            .merge(("outbound.allowed_hosts", ["127.0.0.1"]))
            .merge(("metrics.bind", "127.0.0.1:0"))
            .merge(("http.workers", 2))
            .merge(("http.shutdown_timeout_secs", 1)),
    );
    let mut config =
        Config::from_figment(Profile::Testing, &figment).expect("a valid test configuration");
    // The same keys as the first instance, as a real deployment shares them.
    config.auth = first.config.auth.clone();
    config.crypto_key = first.config.crypto_key.clone();
    let app = Application::build(config.clone()).expect("the server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        db: None,
        db_url: first.db_url.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        config,
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

/// A fake of Twilio's `IncomingPhoneNumbers?PhoneNumber=` that says the account owns every
/// number asked about, except those with `99999` in them (another company's).
pub struct OwnsEveryNumber;

impl wiremock::Respond for OwnsEveryNumber {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let numbers: Vec<Value> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "PhoneNumber")
            .map(|(_, v)| v.into_owned())
            .filter(|n| !n.contains("99999"))
            .map(|n| json!({"sid": "PN0123", "phone_number": n}))
            .collect();
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": numbers, "page": 0, "page_size": 50
        }))
    }
}

/// Mounts [`OwnsEveryNumber`] on a fake Twilio (before any catch-all of the test's).
pub async fn twilio_owns_numbers(twilio: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex(
            r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/IncomingPhoneNumbers\.json$",
        ))
        .respond_with(OwnsEveryNumber)
        .with_priority(1)
        .mount(twilio)
        .await;
}

/// The `omni-server` binary serving on `db` (its worker's lease 5 s), killed when dropped.
pub struct Instance {
    child: std::process::Child,
    pub address: String,
    pub port: u16,
}

impl Instance {
    /// Starts it on `port` (a free one when `None`) with these JWT and encryption keys,
    /// Twilio at `twilio`; returns once it answers `/health/ready`.
    pub async fn start(
        db: &str,
        twilio: &str,
        secrets: &(String, String),
        port: Option<u16>,
    ) -> Self {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let dir = std::env::temp_dir().join(format!("omni-crash-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_omni-server"))
            .arg("serve")
            .env_clear()
            .current_dir(dir)
            .envs([
                ("DATABASE_URL", db),
                ("OMNI_HTTP__BIND", &format!("127.0.0.1:{port}")),
                ("OMNI_HTTP__PUBLIC_BASE_URL", "https://omni.test"),
                ("OMNI_METRICS__BIND", "127.0.0.1:0"),
                ("OMNI_TWILIO__API_BASE_URL", twilio),
                ("OMNI_AUTH__JWT_SECRET", &secrets.0),
                ("OMNI_CRYPTO__SECRET_KEY", &secrets.1),
                ("OMNI_WORKER__LEASE_SECS", "5"),
                ("OMNI_LOG__LEVEL", "warn"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .unwrap();
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("{address}/health/ready"))
            .send()
            .await
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(started.elapsed() < Duration::from_secs(20), "no instance");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            address,
            port,
        }
    }

    /// SIGKILL: no graceful stop, no job given back.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
