//! The guarded client: reqwest with a resolver that drops forbidden addresses, no proxy,
//! no redirects, a total timeout and a cap on what it reads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{OutboundError, OutboundPolicy};

/// How a guarded client is built.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Where requests may go.
    pub policy: OutboundPolicy,
    /// The longest one request may take, connection and body included.
    pub timeout: Duration,
    /// The most bytes of a response body that are read.
    pub max_body_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            policy: OutboundPolicy::default(),
            timeout: Duration::from_secs(20),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The one client for hosts a tenant chose. Cloning it shares its connection pool.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    http: reqwest::Client,
    config: Arc<OutboundConfig>,
}

/// Resolves with the system resolver, then keeps only the addresses the policy allows, so
/// the address connected to is the one checked (a rebinding answer gains nothing).
struct GuardedResolver {
    policy: OutboundPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let host_allowed = policy.allows_host(&host);
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| host_allowed || policy.allows_ip(a.ip()))
                .collect();
            if allowed.is_empty() {
                tracing::info!(host = %host, "outbound request refused: no public address");
                return Err(
                    Box::new(OutboundError::Blocked("the host has no public address"))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl GuardedClient {
    /// A client following `config`.
    pub fn new(config: OutboundConfig) -> Result<Self, OutboundError> {
        // reqwest is built without a default TLS provider; ring is ours (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("omni/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: config.policy.clone(),
            }))
            // An environment proxy would connect for us, past the resolver's check.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| OutboundError::Unknown(e.to_string()))?;
        Ok(Self {
            http,
            config: Arc::new(config),
        })
    }

    /// The longest one request may take.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Sends a request built on this client's `reqwest::Client` (see [`GuardedClient::get`]
    /// and [`GuardedClient::post`]) after checking its URL; a request may shorten the
    /// timeout, never lengthen it.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<GuardedResponse, OutboundError> {
        let mut request = request
            .build()
            .map_err(|e| OutboundError::Unknown(e.to_string()))?;
        self.config.policy.check_url(request.url())?;
        let cap = self.config.timeout;
        let timeout = request.timeout().map_or(cap, |t| (*t).min(cap));
        *request.timeout_mut() = Some(timeout);
        let response = self.http.execute(request).await.map_err(|e| classify(&e))?;
        Ok(GuardedResponse {
            inner: response,
            max_body_bytes: self.config.max_body_bytes,
        })
    }

    /// A GET to send with [`GuardedClient::send`].
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.get(url)
    }

    /// A POST to send with [`GuardedClient::send`].
    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.post(url)
    }
}

/// A response whose body is read up to the configured cap.
#[derive(Debug)]
pub struct GuardedResponse {
    inner: reqwest::Response,
    max_body_bytes: usize,
}

impl GuardedResponse {
    /// The HTTP status.
    pub fn status(&self) -> reqwest::StatusCode {
        self.inner.status()
    }

    /// The body, or [`OutboundError::TooLarge`] as soon as it passes the cap.
    pub async fn bytes(mut self) -> Result<Vec<u8>, OutboundError> {
        if self
            .inner
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(OutboundError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = self.inner.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(OutboundError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The body read as JSON.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, OutboundError> {
        let body = self.bytes().await?;
        serde_json::from_slice(&body).map_err(|_| OutboundError::Malformed)
    }
}

fn classify(e: &reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    // The resolver's refusal travels inside reqwest's connect error.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(OutboundError::Blocked(why)) = err.downcast_ref::<OutboundError>() {
            return OutboundError::Blocked(why);
        }
        source = err.source();
    }
    OutboundError::Unreachable
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::AllowRule;

    fn client(allowed: &[&str], max_body_bytes: usize) -> GuardedClient {
        GuardedClient::new(OutboundConfig {
            policy: OutboundPolicy {
                require_https: false,
                allowed: allowed
                    .iter()
                    .map(|a| AllowRule::parse(a).unwrap())
                    .collect(),
            },
            timeout: Duration::from_secs(2),
            max_body_bytes,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed_even_through_a_name() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("hi"))
            .mount(&server)
            .await;
        let port = server.address().port();
        let guarded = client(&[], 1024);
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let err = guarded.send(guarded.get(&url)).await.unwrap_err();
            assert!(matches!(err, OutboundError::Blocked(_)), "{url}: {err:?}");
        }
        let open = client(&["127.0.0.1"], 1024);
        let res = open
            .send(open.get(&format!("http://localhost:{port}/")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap(), b"hi");
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_bodies_are_capped() {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::path("/redirect"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", "http://169.254.169.254/"),
            )
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
            .mount(&server)
            .await;
        let guarded = client(&["127.0.0.1"], 1024);
        let res = guarded
            .send(guarded.get(&format!("{}/redirect", server.uri())))
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let big = guarded
            .send(guarded.get(&format!("{}/big", server.uri())))
            .await
            .unwrap();
        assert!(matches!(big.bytes().await, Err(OutboundError::TooLarge)));
    }

    #[tokio::test]
    async fn a_slow_host_times_out_within_the_cap() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let guarded = client(&["127.0.0.1"], 1024);
        let started = std::time::Instant::now();
        // Asking for longer than the cap gets the cap.
        let err = guarded
            .send(guarded.get(&server.uri()).timeout(Duration::from_secs(60)))
            .await
            .unwrap_err();
        assert_eq!(err, OutboundError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
