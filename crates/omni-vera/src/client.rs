use std::time::Duration;

use omni_tenancy::{SecretString, VeraConfig, Verification};
use serde::Deserialize;

/// A client of an OpenAI-compatible API (Vera AI).
#[derive(Debug, Clone)]
pub struct VeraClient {
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct Models {
    data: Vec<Model>,
}

#[derive(Debug, Deserialize)]
struct Model {
    id: String,
}

impl VeraClient {
    /// A client; each request's timeout comes from the integration's `timeout_ms`.
    pub fn new() -> Result<Self, String> {
        // reqwest is built without a default TLS provider; ring is ours (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("omni/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http })
    }

    /// The underlying HTTP client (shared connection pool).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET {base_url}/models` with the API key: the key works and the model is offered.
    pub async fn verify_credentials(
        &self,
        config: &VeraConfig,
        api_key: &SecretString,
    ) -> Verification {
        let answer = self
            .http
            .get(format!("{}/models", config.base_url))
            .bearer_auth(api_key.expose())
            .timeout(Duration::from_millis(u64::from(config.timeout_ms)))
            .send()
            .await;
        let response = match answer {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                };
                return Verification {
                    ok: false,
                    detail: format!("could not reach Vera AI: {why}"),
                };
            }
        };
        let status = response.status();
        if !status.is_success() {
            return Verification {
                ok: false,
                detail: format!("Vera AI refused the key ({status})"),
            };
        }
        match response.json::<Models>().await {
            Ok(models) if models.data.iter().any(|m| m.id == config.model) => Verification {
                ok: true,
                detail: format!("the key works and model `{}` is offered", config.model),
            },
            Ok(_) => Verification {
                ok: false,
                detail: format!("the key works but model `{}` is not offered", config.model),
            },
            Err(_) => Verification {
                ok: false,
                detail: "Vera AI answered something other than a model list".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn config(base_url: String) -> VeraConfig {
        VeraConfig {
            base_url,
            model: "vera-large".into(),
            timeout_ms: 2000,
        }
    }

    #[tokio::test]
    async fn a_good_key_and_an_offered_model_verify() {
        let vera = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .and(header("authorization", "Bearer good-key"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "object": "list", "data": [{"id": "vera-large", "object": "model"}]
            })))
            .mount(&vera)
            .await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&vera)
            .await;
        let client = VeraClient::new().unwrap();
        let cfg = config(format!("{}/v1", vera.uri()));
        assert!(
            client
                .verify_credentials(&cfg, &SecretString::new("good-key".into()))
                .await
                .ok
        );
        let bad = client
            .verify_credentials(&cfg, &SecretString::new("bad-key".into()))
            .await;
        assert!(!bad.ok);
        assert!(bad.detail.contains("401"));
        let mut other_model = cfg.clone();
        other_model.model = "vera-tiny".into();
        assert!(
            !client
                .verify_credentials(&other_model, &SecretString::new("good-key".into()))
                .await
                .ok
        );
    }
}
