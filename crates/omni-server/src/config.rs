//! Configuration: built-in defaults, then `omni.toml`, then `OMNI_`-prefixed environment
//! variables (`DATABASE_URL` too), for the profile named by `OMNI_PROFILE`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use omni_store_postgres::DbConfig;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

/// Which defaults apply and how strict start-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A developer's machine: secrets are generated, logs are pretty.
    Development,
    /// Automated tests: like development.
    Testing,
    /// A real deployment: secrets must be given, logs are JSON.
    Production,
}

impl Profile {
    fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Testing => "testing",
            Profile::Production => "production",
        }
    }

    fn parse(s: &str) -> Result<Self, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Profile::Development),
            "testing" | "test" => Ok(Profile::Testing),
            "production" | "prod" => Ok(Profile::Production),
            other => Err(ConfigError(format!(
                "OMNI_PROFILE `{other}` is not one of development, testing, production"
            ))),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Coloured, multi-line, for people.
    Pretty,
    /// One JSON object a line, for log collectors.
    Json,
}

/// The raw shape of the configuration, exactly as the layers spell it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    database: RawDatabase,
    http: RawHttp,
    auth: RawAuth,
    crypto: RawCrypto,
    twilio: RawTwilio,
    cors: RawCors,
    log: RawLog,
    worker: RawWorker,
    ws: RawWs,
    limits: RawLimits,
    outbound: RawOutbound,
    metrics: RawMetrics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    bind: String,
    token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    allowed_hosts: Vec<String>,
    timeout_secs: u64,
    max_body_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    login_per_minute_per_ip: u32,
    login_free_failures: u32,
    login_max_backoff_secs: u64,
    register_per_hour_per_ip: u32,
    api_per_minute_per_user: u32,
    webhooks_per_minute_per_integration: u32,
    invalid_webhooks_per_minute_per_ip: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWs {
    queue_size: usize,
    ping_interval_secs: u64,
    idle_timeout_secs: u64,
    retention_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    enabled: bool,
    concurrency: usize,
    poll_interval_ms: u64,
    lease_secs: u64,
    finished_job_retention_hours: u64,
    upload_retention_days: u64,
    upload_quota_mb: u64,
    triage_concurrency: usize,
    per_company: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: String,
    pool_size: usize,
    connect_timeout_ms: u64,
    acquire_timeout_ms: u64,
    statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    bind: String,
    public_base_url: Option<String>,
    workers: Option<usize>,
    shutdown_timeout_secs: u64,
    trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    jwt_secret: Option<String>,
    token_ttl_secs: u64,
    allow_registration: Option<bool>,
    max_concurrent_hashes: Option<usize>,
    hash_wait_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrypto {
    secret_key: Option<String>,
    previous_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwilio {
    api_base_url: String,
    messaging_base_url: String,
    content_base_url: String,
    media_max_bytes: u64,
    confirm_numbers: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: String,
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            database: RawDatabase {
                url: "postgres://postgres@127.0.0.1:5432/omni".into(),
                pool_size: 32,
                connect_timeout_ms: 5_000,
                acquire_timeout_ms: 5_000,
                statement_timeout_ms: 30_000,
            },
            http: RawHttp {
                bind: "127.0.0.1:8080".into(),
                public_base_url: None,
                workers: None,
                shutdown_timeout_secs: 30,
                trusted_proxies: Vec::new(),
            },
            auth: RawAuth {
                jwt_secret: None,
                token_ttl_secs: 3600,
                allow_registration: None,
                max_concurrent_hashes: None,
                hash_wait_ms: 2_000,
            },
            crypto: RawCrypto {
                secret_key: None,
                previous_keys: Vec::new(),
            },
            twilio: RawTwilio {
                api_base_url: "https://api.twilio.com".into(),
                messaging_base_url: "https://messaging.twilio.com".into(),
                content_base_url: "https://content.twilio.com".into(),
                media_max_bytes: omni_twilio::DEFAULT_MEDIA_MAX_BYTES,
                confirm_numbers: true,
            },
            cors: RawCors {
                allowed_origins: Vec::new(),
            },
            log: RawLog {
                format: None,
                level: "info".into(),
            },
            worker: RawWorker {
                enabled: true,
                concurrency: 32,
                poll_interval_ms: 5_000,
                lease_secs: 15,
                finished_job_retention_hours: 24,
                upload_retention_days: 30,
                upload_quota_mb: omni_messaging::DEFAULT_UPLOAD_QUOTA / (1024 * 1024),
                triage_concurrency: 16,
                per_company: 8,
            },
            limits: RawLimits {
                login_per_minute_per_ip: 30,
                login_free_failures: 5,
                login_max_backoff_secs: 900,
                register_per_hour_per_ip: 20,
                api_per_minute_per_user: 1_200,
                webhooks_per_minute_per_integration: 60_000,
                invalid_webhooks_per_minute_per_ip: 60,
            },
            metrics: RawMetrics {
                bind: "127.0.0.1:9464".into(),
                token: None,
            },
            outbound: RawOutbound {
                allowed_hosts: Vec::new(),
                timeout_secs: 20,
                max_body_bytes: 1024 * 1024,
            },
            ws: RawWs {
                queue_size: 256,
                ping_interval_secs: 20,
                idle_timeout_secs: 60,
                retention_days: 7,
            },
        }
    }
}

/// A secret value: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated configuration of one Omni process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The profile in force.
    pub profile: Profile,
    /// How to reach PostgreSQL.
    pub database: DbConfig,
    /// The HTTP listener.
    pub http: HttpConfig,
    /// Token issuing.
    pub auth: AuthConfig,
    /// The key that encrypts integration secrets at rest.
    pub crypto_key: Secret<[u8; 32]>,
    /// Keys that sealed secrets before the last rotation; they still open them.
    pub crypto_previous_keys: Vec<Secret<[u8; 32]>>,
    /// Twilio's REST base URL (tests point it at a fake).
    pub twilio_api_base_url: String,
    /// Twilio's Messaging API base URL (Messaging Services' senders).
    pub twilio_messaging_base_url: String,
    /// Twilio's Content API base URL (the catalog of WhatsApp templates).
    pub twilio_content_base_url: String,
    /// The largest customer attachment passed on to agents, in bytes.
    pub twilio_media_max_bytes: u64,
    /// Whether enabling a Twilio integration asks Twilio that the account owns the number
    /// (off only to try Omni without a Twilio account; refused in production).
    pub twilio_confirm_numbers: bool,
    /// Origins of the agent UIs allowed to call the API from a browser.
    pub cors_allowed_origins: Vec<String>,
    /// Log format and default level.
    pub log: LogConfig,
    /// The job worker.
    pub worker: WorkerConfig,
    /// WebSocket delivery.
    pub ws: WsConfig,
    /// Brute-force limits on the auth routes.
    pub limits: LimitsConfig,
    /// The guard on requests to tenant-chosen hosts.
    pub outbound: omni_outbound::OutboundConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Things start-up should tell the operator once logging is up.
    pub notices: Vec<String>,
}

/// The HTTP listener's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The URL Twilio calls, without a trailing slash; signatures are checked against it.
    pub public_base_url: String,
    /// Worker threads; `None`: one per core.
    pub workers: Option<usize>,
    /// How long in-flight requests may finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::client_addr::TrustedProxies,
}

/// Token settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The HS256 key.
    pub jwt_secret: Secret<Vec<u8>>,
    /// How long an access token lives.
    pub token_ttl: Duration,
    /// Whether anyone may create a company with `POST /auth/register`.
    pub allow_registration: bool,
    /// Password hashes run at once (default: one per core).
    pub max_concurrent_hashes: usize,
    /// How long a request waits for a hashing turn before a 503.
    pub hash_wait: Duration,
}

/// The background job worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Whether this process runs jobs (an instance may serve HTTP only).
    pub enabled: bool,
    /// Send jobs run at once.
    pub concurrency: usize,
    /// Triage jobs run at once, in a lane of their own (a slow Vera delays no reply).
    pub triage_concurrency: usize,
    /// Jobs of one company run at once in each lane.
    pub per_company: usize,
    /// How often to look for jobs when no notification arrives (a safety net).
    pub poll_interval: Duration,
    /// How long a job is held before another worker may take it over.
    pub lease: Duration,
    /// How long finished (done or dead) jobs are kept before they are pruned.
    pub finished_job_retention: Duration,
    /// How long files agents upload to send are kept.
    pub upload_retention: Duration,
    /// The most bytes of uploads one company keeps.
    pub upload_quota_bytes: u64,
}

/// Where Prometheus scrapes.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// The metrics listener's own address (keep it off the public network); port 0 picks
    /// a free one.
    pub bind: SocketAddr,
    /// When set, `/metrics` is also served on the API listener to this bearer token.
    pub token: Option<Secret<String>>,
}

/// Rate limits of the auth routes (attempts; 0 switches a limit off).
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Login attempts per minute from one IP address.
    pub login_per_minute_per_ip: u32,
    /// Failed logins of one (e-mail, client) pair before each further one doubles the
    /// wait (0: no back-off).
    pub login_free_failures: u32,
    /// The longest back-off after failed logins.
    pub login_max_backoff: Duration,
    /// Registrations per hour from one IP address.
    pub register_per_hour_per_ip: u32,
    /// Authenticated API requests per minute per user.
    pub api_per_minute_per_user: u32,
    /// Correctly signed webhooks per minute per integration (generous: Twilio bursts).
    pub webhooks_per_minute_per_integration: u32,
    /// Webhooks with a bad signature or an unknown number per minute per client address.
    pub invalid_webhooks_per_minute_per_ip: u32,
}

/// WebSocket settings.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Frames a connection may have waiting; a client slower than that is closed (1008).
    pub queue_size: usize,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// How long a silent peer is kept.
    pub idle_timeout: Duration,
    /// How long events are kept for replay.
    pub retention: Duration,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Pretty or JSON.
    pub format: LogFormat,
    /// The default filter when `RUST_LOG` is unset.
    pub level: String,
}

/// Configuration that cannot run: its message is one line naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

/// The sections of the configuration. Only `OMNI_<SECTION>__…` variables are read as keys,
/// so that other `OMNI_` variables (`OMNI_PROFILE`, `OMNI_SUPERADMIN_PASSWORD`, the local
/// database script's `OMNI_PG_*`) never trip the unknown-key check; within a section an
/// unknown key is still an error.
const SECTIONS: &[&str] = &[
    "database", "http", "auth", "crypto", "twilio", "cors", "log", "worker", "ws", "limits",
    "outbound", "metrics",
];

impl Config {
    /// Loads the configuration from the process environment and the given (or default,
    /// `omni.toml`) file, which may be absent.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let profile = match std::env::var("OMNI_PROFILE") {
            Ok(p) => Profile::parse(&p)?,
            Err(_) => Profile::Development,
        };
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("OMNI_CONFIG").map(Into::into))
            .unwrap_or_else(|| "omni.toml".into());
        let figment = Self::defaults()
            .merge(Toml::file(file).nested())
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(
                Env::prefixed("OMNI_")
                    .filter(|key| {
                        key.as_str().split_once("__").is_some_and(|(section, _)| {
                            SECTIONS.contains(&section.to_ascii_lowercase().as_str())
                        })
                    })
                    .split("__"),
            );
        Self::from_figment(profile, &figment)
    }

    /// The built-in defaults, as the first layer of a figment.
    pub fn defaults() -> Figment {
        Figment::new().merge(Serialized::defaults(Raw::default()))
    }

    /// Extracts and validates the configuration of `profile` from `figment` (for tests and
    /// embedders that layer their own providers on [`Config::defaults`]).
    pub fn from_figment(profile: Profile, figment: &Figment) -> Result<Self, ConfigError> {
        let raw: Raw = figment
            .clone()
            .select(profile.as_str())
            .extract()
            .map_err(|e| ConfigError(first_line(&e.to_string())))?;
        Self::validate(profile, raw)
    }

    fn validate(profile: Profile, raw: Raw) -> Result<Self, ConfigError> {
        let mut notices = Vec::new();

        let mut database = DbConfig::new(&raw.database.url)
            .map_err(|e| ConfigError(format!("database.url: {e}")))?;
        if raw.database.pool_size == 0 {
            return Err(ConfigError("database.pool_size must be at least 1".into()));
        }
        database.pool_size = raw.database.pool_size;
        database.connect_timeout = positive_ms(
            "database.connect_timeout_ms",
            raw.database.connect_timeout_ms,
        )?;
        database.acquire_timeout = positive_ms(
            "database.acquire_timeout_ms",
            raw.database.acquire_timeout_ms,
        )?;
        database.statement_timeout = positive_ms(
            "database.statement_timeout_ms",
            raw.database.statement_timeout_ms,
        )?;

        let bind: SocketAddr = raw.http.bind.parse().map_err(|_| {
            ConfigError(format!(
                "http.bind `{}` is not an address like 127.0.0.1:8080",
                raw.http.bind
            ))
        })?;
        let public_base_url = match raw.http.public_base_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => http_url("http.public_base_url", &url)?,
            // Twilio signs the URL it calls: behind a proxy, guessing it from the bind
            // address makes every webhook fail its signature check.
            None if profile == Profile::Production => {
                return Err(ConfigError(
                    "http.public_base_url is required in production (set OMNI_HTTP__PUBLIC_BASE_URL to the URL Twilio calls)".into(),
                ));
            }
            None => format!("http://{bind}"),
        };
        let trusted_proxies = raw
            .http
            .trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError(format!(
                            "http.trusted_proxies: `{p}` is not an address or CIDR range"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw.http.workers == Some(0) {
            return Err(ConfigError("http.workers must be at least 1".into()));
        }

        let jwt_secret = match raw.auth.jwt_secret.filter(|s| !s.is_empty()) {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError(
                    "auth.jwt_secret must be at least 32 characters (OMNI_AUTH__JWT_SECRET)".into(),
                ));
            }
            Some(s) => s.into_bytes(),
            None if profile == Profile::Production => {
                return Err(ConfigError(
                    "auth.jwt_secret is required in production (set OMNI_AUTH__JWT_SECRET)".into(),
                ));
            }
            None => {
                notices.push(
                    "auth.jwt_secret is not set: generated a random one; tokens will not survive a restart".into(),
                );
                random_bytes::<48>().to_vec()
            }
        };
        if raw.auth.token_ttl_secs == 0 {
            return Err(ConfigError("auth.token_ttl_secs must be at least 1".into()));
        }

        let crypto_key = match raw.crypto.secret_key.filter(|s| !s.is_empty()) {
            Some(s) => BASE64
                .decode(s.trim())
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .ok_or_else(|| {
                    ConfigError(
                        "crypto.secret_key must be 32 bytes in base64 (OMNI_CRYPTO__SECRET_KEY)"
                            .into(),
                    )
                })?,
            None if profile == Profile::Production => {
                return Err(ConfigError(
                    "crypto.secret_key is required in production (set OMNI_CRYPTO__SECRET_KEY)"
                        .into(),
                ));
            }
            None => {
                notices.push(
                    "crypto.secret_key is not set: generated a random one; integration secrets stored now will not decrypt after a restart".into(),
                );
                random_bytes::<32>()
            }
        };

        let crypto_previous_keys = raw
            .crypto
            .previous_keys
            .iter()
            .map(|k| {
                aes_key(k).map(Secret).ok_or_else(|| {
                    ConfigError("crypto.previous_keys must each be 32 bytes in base64".into())
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let twilio_api_base_url = http_url("twilio.api_base_url", &raw.twilio.api_base_url)?;
        let twilio_messaging_base_url =
            http_url("twilio.messaging_base_url", &raw.twilio.messaging_base_url)?;
        let twilio_content_base_url =
            http_url("twilio.content_base_url", &raw.twilio.content_base_url)?;
        if !raw.twilio.confirm_numbers && profile == Profile::Production {
            return Err(ConfigError(
                "twilio.confirm_numbers=false lets any company claim any number: it is for trying \
                 Omni without a Twilio account, not for production"
                    .into(),
            ));
        }
        if raw.twilio.media_max_bytes == 0 {
            return Err(ConfigError(
                "twilio.media_max_bytes must be at least 1 (bytes)".into(),
            ));
        }
        for origin in &raw.cors.allowed_origins {
            if origin == "*" {
                return Err(ConfigError(
                    "cors.allowed_origins may not hold `*`: name each agent-UI origin".into(),
                ));
            }
            http_url("cors.allowed_origins", origin)?;
        }

        let lease = Duration::from_secs(raw.worker.lease_secs.max(5));
        let outbound = outbound(profile, &raw.outbound)?;

        let metrics = MetricsConfig {
            bind: raw.metrics.bind.parse().map_err(|_| {
                ConfigError(format!(
                    "metrics.bind `{}` is not an address like 127.0.0.1:9464",
                    raw.metrics.bind
                ))
            })?,
            token: match raw.metrics.token.filter(|t| !t.is_empty()) {
                Some(t) if t.len() < 32 => {
                    return Err(ConfigError(
                        "metrics.token must be at least 32 characters (OMNI_METRICS__TOKEN)".into(),
                    ));
                }
                t => t.map(Secret),
            },
        };

        Ok(Config {
            profile,
            outbound,
            metrics,
            database,
            http: HttpConfig {
                bind,
                public_base_url,
                workers: raw.http.workers,
                shutdown_timeout: Duration::from_secs(raw.http.shutdown_timeout_secs),
                trusted_proxies: crate::client_addr::TrustedProxies::new(trusted_proxies),
            },
            auth: AuthConfig {
                jwt_secret: Secret(jwt_secret),
                token_ttl: Duration::from_secs(raw.auth.token_ttl_secs),
                // Open sign-up is a choice an operator makes, not a default in production.
                allow_registration: raw
                    .auth
                    .allow_registration
                    .unwrap_or(profile != Profile::Production),
                max_concurrent_hashes: raw
                    .auth
                    .max_concurrent_hashes
                    .unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
                    })
                    .max(1),
                hash_wait: positive_ms("auth.hash_wait_ms", raw.auth.hash_wait_ms)?,
            },
            crypto_key: Secret(crypto_key),
            crypto_previous_keys,
            twilio_api_base_url,
            twilio_messaging_base_url,
            twilio_content_base_url,
            twilio_media_max_bytes: raw.twilio.media_max_bytes,
            twilio_confirm_numbers: raw.twilio.confirm_numbers,
            cors_allowed_origins: raw.cors.allowed_origins,
            log: LogConfig {
                format: raw.log.format.unwrap_or(match profile {
                    Profile::Production => LogFormat::Json,
                    Profile::Development | Profile::Testing => LogFormat::Pretty,
                }),
                level: raw.log.level,
            },
            worker: WorkerConfig {
                enabled: raw.worker.enabled,
                concurrency: raw.worker.concurrency.max(1),
                triage_concurrency: raw.worker.triage_concurrency.max(1),
                per_company: raw.worker.per_company.max(1),
                poll_interval: positive_ms("worker.poll_interval_ms", raw.worker.poll_interval_ms)?,
                lease,
                finished_job_retention: Duration::from_secs(
                    raw.worker.finished_job_retention_hours.max(1) * 3600,
                ),
                upload_retention: Duration::from_secs(
                    raw.worker.upload_retention_days.clamp(1, 36_500) * 86_400,
                ),
                upload_quota_bytes: raw
                    .worker
                    .upload_quota_mb
                    .clamp(1, 1024 * 1024)
                    .saturating_mul(1024 * 1024),
            },
            limits: LimitsConfig {
                login_per_minute_per_ip: raw.limits.login_per_minute_per_ip,
                login_free_failures: raw.limits.login_free_failures,
                login_max_backoff: Duration::from_secs(raw.limits.login_max_backoff_secs.max(1)),
                register_per_hour_per_ip: raw.limits.register_per_hour_per_ip,
                api_per_minute_per_user: raw.limits.api_per_minute_per_user,
                webhooks_per_minute_per_integration: raw.limits.webhooks_per_minute_per_integration,
                invalid_webhooks_per_minute_per_ip: raw.limits.invalid_webhooks_per_minute_per_ip,
            },
            ws: WsConfig {
                queue_size: raw.ws.queue_size.max(1),
                ping_interval: Duration::from_secs(raw.ws.ping_interval_secs.max(1)),
                idle_timeout: Duration::from_secs(raw.ws.idle_timeout_secs.max(2)),
                retention: Duration::from_secs(raw.ws.retention_days.max(1) * 86_400),
            },
            notices,
        })
    }
}

/// The outbound guard: https only in production, whatever else is configured. A job that
/// waits on a host keeps its lease by renewing it, so the timeout need not fit in one.
fn outbound(
    profile: Profile,
    raw: &RawOutbound,
) -> Result<omni_outbound::OutboundConfig, ConfigError> {
    let allowed = raw
        .allowed_hosts
        .iter()
        .map(|h| {
            omni_outbound::AllowRule::parse(h)
                .map_err(|e| ConfigError(format!("outbound.allowed_hosts: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout = Duration::from_secs(raw.timeout_secs);
    if raw.timeout_secs == 0 {
        return Err(ConfigError(
            "outbound.timeout_secs must be at least 1".into(),
        ));
    }
    if raw.max_body_bytes < 1024 {
        return Err(ConfigError(
            "outbound.max_body_bytes must be at least 1024".into(),
        ));
    }
    Ok(omni_outbound::OutboundConfig {
        policy: omni_outbound::OutboundPolicy {
            require_https: profile == Profile::Production,
            allowed,
        },
        timeout,
        max_body_bytes: raw.max_body_bytes,
    })
}

fn aes_key(base64: &str) -> Option<[u8; 32]> {
    BASE64
        .decode(base64.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
}

fn positive_ms(key: &str, ms: u64) -> Result<Duration, ConfigError> {
    if ms == 0 {
        return Err(ConfigError(format!("{key} must be at least 1")));
    }
    Ok(Duration::from_millis(ms))
}

/// Checks that `url` is an absolute http(s) URL and drops a trailing slash.
fn http_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_owned())
        }
        _ => Err(ConfigError(format!("{key} `{url}` is not an http(s) URL"))),
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
// figment's Jail API returns its (large) error type from the closure; that is its design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in(jail: &Jail) -> Result<Config, ConfigError> {
        let _ = jail;
        Config::load(None)
    }

    #[test]
    fn development_defaults_generate_secrets() {
        Jail::expect_with(|jail| {
            let c = load_in(jail).unwrap();
            assert_eq!(c.profile, Profile::Development);
            assert_eq!(c.http.bind.to_string(), "127.0.0.1:8080");
            assert_eq!(c.http.public_base_url, "http://127.0.0.1:8080");
            assert_eq!(c.auth.token_ttl, Duration::from_secs(3600));
            assert!(c.auth.allow_registration);
            assert!(!c.outbound.policy.require_https);
            assert_eq!(c.log.format, LogFormat::Pretty);
            assert_eq!(c.twilio_api_base_url, "https://api.twilio.com");
            assert_eq!(c.notices.len(), 2);
            Ok(())
        });
    }

    #[test]
    fn production_names_the_missing_secret() {
        Jail::expect_with(|jail| {
            jail.set_env("OMNI_PROFILE", "production");
            jail.set_env("OMNI_HTTP__PUBLIC_BASE_URL", "https://omni.example.com");
            let e = load_in(jail).unwrap_err().to_string();
            assert!(e.contains("OMNI_AUTH__JWT_SECRET"), "{e}");
            jail.set_env("OMNI_AUTH__JWT_SECRET", "x".repeat(40));
            let e = load_in(jail).unwrap_err().to_string();
            assert!(e.contains("OMNI_CRYPTO__SECRET_KEY"), "{e}");
            jail.set_env("OMNI_CRYPTO__SECRET_KEY", BASE64.encode([7u8; 32]));
            let c = load_in(jail).unwrap();
            assert!(
                !c.auth.allow_registration,
                "sign-up is off by default in production"
            );
            assert!(
                c.outbound.policy.require_https,
                "tenant URLs are https in production"
            );
            assert_eq!(c.log.format, LogFormat::Json);
            assert_eq!(c.crypto_key.expose(), &[7u8; 32]);
            assert!(c.notices.is_empty());
            assert!(!format!("{c:?}").contains(&"x".repeat(40)));
            jail.set_env("OMNI_HTTP__PUBLIC_BASE_URL", "");
            let e = load_in(jail).unwrap_err().to_string();
            assert!(e.contains("OMNI_HTTP__PUBLIC_BASE_URL"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn numbers_go_unconfirmed_only_outside_production() {
        Jail::expect_with(|jail| {
            jail.set_env("OMNI_TWILIO__CONFIRM_NUMBERS", "false");
            assert!(!load_in(jail).unwrap().twilio_confirm_numbers);
            jail.set_env("OMNI_PROFILE", "production");
            jail.set_env("OMNI_HTTP__PUBLIC_BASE_URL", "https://omni.example.com");
            jail.set_env("OMNI_AUTH__JWT_SECRET", "x".repeat(40));
            jail.set_env("OMNI_CRYPTO__SECRET_KEY", BASE64.encode([7u8; 32]));
            let e = load_in(jail).unwrap_err().to_string();
            assert!(e.contains("twilio.confirm_numbers"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_and_database_url_is_accepted() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "omni.toml",
                r#"
                [default.http]
                bind = "0.0.0.0:9000"
                public_base_url = "https://omni.example.com/"
                [default.auth]
                token_ttl_secs = 600
                [production.auth]
                token_ttl_secs = 60
                "#,
            )?;
            jail.set_env("DATABASE_URL", "postgres://a@db1/one");
            let c = load_in(jail).unwrap();
            assert_eq!(c.http.bind.port(), 9000);
            assert_eq!(c.http.public_base_url, "https://omni.example.com");
            assert_eq!(c.auth.token_ttl, Duration::from_secs(600));
            assert_eq!(c.database.database_name(), "one");
            jail.set_env("OMNI_DATABASE__URL", "postgres://a@db2/two");
            jail.set_env("OMNI_HTTP__BIND", "127.0.0.1:0");
            let c = load_in(jail).unwrap();
            assert_eq!(c.database.database_name(), "two");
            assert_eq!(c.http.bind.port(), 0);
            // Every section can be set from the environment.
            jail.set_env("OMNI_LIMITS__LOGIN_PER_MINUTE_PER_IP", "7");
            jail.set_env("OMNI_WORKER__CONCURRENCY", "3");
            jail.set_env("OMNI_WS__QUEUE_SIZE", "9");
            let c = load_in(jail).unwrap();
            assert_eq!(c.limits.login_per_minute_per_ip, 7);
            assert_eq!(c.worker.concurrency, 3);
            assert_eq!(c.ws.queue_size, 9);
            // Other OMNI_ variables are not configuration keys.
            jail.set_env("OMNI_PG_DIR", "/tmp/x");
            jail.set_env("OMNI_SUPERADMIN_PASSWORD", "secret");
            assert!(load_in(jail).is_ok());
            Ok(())
        });
    }

    #[test]
    fn the_example_production_file_is_valid() {
        Jail::expect_with(|jail| {
            let example = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../deploy/omni.example.toml"
            ))
            .expect("deploy/omni.example.toml");
            jail.create_file("omni.toml", &example)?;
            jail.set_env("OMNI_PROFILE", "production");
            jail.set_env("OMNI_AUTH__JWT_SECRET", "x".repeat(40));
            jail.set_env("OMNI_CRYPTO__SECRET_KEY", BASE64.encode([1u8; 32]));
            let c = load_in(jail).unwrap();
            assert_eq!(c.http.public_base_url, "https://omni.example.com");
            assert!(!c.auth.allow_registration);
            assert_eq!(c.worker.concurrency, 32);
            assert_eq!(c.cors_allowed_origins, ["https://agents.example.com"]);
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_one_clear_line() {
        Jail::expect_with(|jail| {
            for (key, value, expect) in [
                ("OMNI_DATABASE__URL", "::nonsense::", "database.url"),
                ("OMNI_HTTP__BIND", "localhost", "http.bind"),
                ("OMNI_DATABASE__POOL_SIZE", "many", "pool_size"),
                ("OMNI_CRYPTO__SECRET_KEY", "c2hvcnQ=", "crypto.secret_key"),
                (
                    "OMNI_CORS__ALLOWED_ORIGINS",
                    "[\"*\"]",
                    "cors.allowed_origins",
                ),
                ("OMNI_HTTP__BNID", "x", "bnid"),
                (
                    "OMNI_HTTP__TRUSTED_PROXIES",
                    "[\"10.0.0.0/99\"]",
                    "http.trusted_proxies",
                ),
                (
                    "OMNI_OUTBOUND__ALLOWED_HOSTS",
                    "[\"not a host!\"]",
                    "outbound.allowed_hosts",
                ),
                ("OMNI_OUTBOUND__TIMEOUT_SECS", "0", "outbound.timeout_secs"),
                ("OMNI_LOG__FORMAT", "xml", "format"),
                ("OMNI_PROFILE", "staging", "OMNI_PROFILE"),
            ] {
                jail.clear_env();
                jail.set_env(key, value);
                let e = load_in(jail).unwrap_err().to_string();
                assert!(
                    e.to_lowercase().contains(&expect.to_lowercase()),
                    "{key}: {e}"
                );
                assert!(!e.contains('\n'), "{key}: {e}");
            }
            Ok(())
        });
    }
}
