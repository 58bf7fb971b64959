//! One [`CredentialVerifier`] over several providers: each integration is checked by the
//! adapter of its own provider.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{CredentialVerifier, IntegrationConfig, IntegrationSecrets, NumberCheck, Verification};

/// Sends a Twilio integration's check to `twilio` and a Vera AI one's to `vera`, so that
/// each adapter crate implements only its own provider and the service sees one port.
#[derive(Clone)]
pub struct VerifierByProvider {
    twilio: Arc<dyn CredentialVerifier>,
    vera: Arc<dyn CredentialVerifier>,
}

impl VerifierByProvider {
    /// A router over the verifier of each provider.
    pub fn new(twilio: Arc<dyn CredentialVerifier>, vera: Arc<dyn CredentialVerifier>) -> Self {
        Self { twilio, vera }
    }

    fn of(&self, config: &IntegrationConfig) -> &dyn CredentialVerifier {
        match config {
            IntegrationConfig::Twilio(_) => self.twilio.as_ref(),
            IntegrationConfig::Vera(_) => self.vera.as_ref(),
        }
    }
}

#[async_trait]
impl CredentialVerifier for VerifierByProvider {
    async fn verify(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> Verification {
        self.of(config).verify(config, secrets).await
    }

    async fn owns_number(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> NumberCheck {
        self.of(config).owns_number(config, secrets).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IntegrationType, MockCredentialVerifier, ParsedConfig, SecretName};

    fn parsed(
        kind: IntegrationType,
        raw: serde_json::Value,
    ) -> (IntegrationConfig, IntegrationSecrets) {
        let ParsedConfig { config, secrets } = IntegrationConfig::parse(kind, &raw, None).unwrap();
        let secrets =
            IntegrationSecrets::assemble(kind, |name: SecretName| secrets.get(&name).cloned())
                .unwrap();
        (config, secrets)
    }

    fn never() -> Arc<dyn CredentialVerifier> {
        let mut mock = MockCredentialVerifier::new();
        mock.expect_verify().never();
        mock.expect_owns_number().never();
        Arc::new(mock)
    }

    #[tokio::test]
    async fn each_provider_checks_its_own_integrations() {
        let mut twilio = MockCredentialVerifier::new();
        twilio
            .expect_verify()
            .times(1)
            .returning(|_, _| Verification::accepted("twilio"));
        twilio
            .expect_owns_number()
            .times(1)
            .returning(|_, _| NumberCheck::Owned);
        let router = VerifierByProvider::new(Arc::new(twilio), never());
        let (config, secrets) = parsed(
            IntegrationType::TwilioWhatsapp,
            serde_json::json!({
                "account_sid": format!("AC{}", "a".repeat(32)),
                "auth_token": "secret",
                "phone_number": "+5511999990000",
            }),
        );
        assert_eq!(
            router.verify(&config, &secrets).await,
            Verification::accepted("twilio")
        );
        assert_eq!(
            router.owns_number(&config, &secrets).await,
            NumberCheck::Owned
        );

        let mut vera = MockCredentialVerifier::new();
        vera.expect_verify()
            .times(1)
            .returning(|_, _| Verification::accepted("vera"));
        let router = VerifierByProvider::new(never(), Arc::new(vera));
        let (config, secrets) = parsed(
            IntegrationType::VeraAi,
            serde_json::json!({
                "base_url": "https://vera.example.com",
                "api_key": "key",
                "model": "vera-1",
            }),
        );
        assert_eq!(
            router.verify(&config, &secrets).await,
            Verification::accepted("vera")
        );
    }
}
