//! The tenancy crate's [`CredentialVerifier`] for Vera AI integrations: the key must be
//! accepted at the configured base URL. Vera routes no number.

use async_trait::async_trait;
use omni_tenancy::{
    CredentialVerifier, IntegrationConfig, IntegrationSecrets, NumberCheck, Verification,
};

use crate::VeraClient;

#[async_trait]
impl CredentialVerifier for VeraClient {
    async fn verify(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> Verification {
        match (config, secrets.vera()) {
            (IntegrationConfig::Vera(c), Some(s)) => self.verify_credentials(c, &s.api_key).await,
            _ => Verification::refused("not a Vera AI integration"),
        }
    }

    async fn owns_number(&self, _: &IntegrationConfig, _: &IntegrationSecrets) -> NumberCheck {
        NumberCheck::NotApplicable
    }
}
