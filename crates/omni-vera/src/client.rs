use std::time::Duration;

use omni_outbound::GuardedClient;
use omni_tenancy::{SecretString, VeraConfig, Verification};
use serde::Deserialize;

/// A client of an OpenAI-compatible API (Vera AI). Its host is a tenant's choice, so every
/// request goes through the outbound guard.
#[derive(Debug, Clone)]
pub struct VeraClient {
    http: GuardedClient,
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
    /// A client over the guarded one; each request's timeout is the integration's
    /// `timeout_ms`, within the guard's cap.
    pub fn new(http: GuardedClient) -> Self {
        Self { http }
    }

    /// The guarded HTTP client (shared connection pool).
    pub(crate) fn http(&self) -> &GuardedClient {
        &self.http
    }

    /// `GET {base_url}/models` with the API key: the key works and the model is offered.
    /// The answer is one of three and never repeats what the host said: a tenant chooses
    /// `base_url`, and the answer must not tell them what listens there.
    pub async fn verify_credentials(
        &self,
        config: &VeraConfig,
        api_key: &SecretString,
    ) -> Verification {
        let unreachable = || Verification::unreachable("Vera AI could not be reached");
        let request = self
            .http
            .get(&format!("{}/models", config.base_url))
            .bearer_auth(api_key.expose())
            .timeout(Duration::from_millis(u64::from(config.timeout_ms)));
        let response = match self.http.send(request).await {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "Vera AI verification got no answer");
                return unreachable();
            }
        };
        let status = response.status();
        if status == 401 || status == 403 {
            return Verification::refused("Vera AI refused the API key");
        }
        if !status.is_success() {
            return unreachable();
        }
        match response.json::<Models>().await {
            Ok(models) if models.data.iter().any(|m| m.id == config.model) => {
                Verification::accepted(format!(
                    "the key works and model `{}` is offered",
                    config.model
                ))
            }
            Ok(_) => Verification::refused(format!("model `{}` is not offered", config.model)),
            Err(_) => unreachable(),
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
        let client = VeraClient::new(crate::test_client());
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
        assert_eq!(bad.outcome, omni_tenancy::VerificationOutcome::Refused);
        assert!(!bad.detail.contains("401"), "{}", bad.detail);
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
