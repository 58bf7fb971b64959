//! Routes a credentials check to the adapter of the integration's provider.

use std::collections::BTreeMap;

use async_trait::async_trait;
use omni_tenancy::{
    CredentialVerifier, IntegrationConfig, NumberCheck, SecretString, Verification,
};
use omni_twilio::{NumberOwnership, TwilioClient};
use omni_vera::VeraClient;

/// Twilio integrations are checked against Twilio, Vera AI ones against Vera.
pub struct ProviderVerifier {
    /// Twilio's REST client.
    pub twilio: TwilioClient,
    /// Vera AI's client.
    pub vera: VeraClient,
}

#[async_trait]
impl CredentialVerifier for ProviderVerifier {
    async fn verify(
        &self,
        config: &IntegrationConfig,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Verification {
        let missing = |name: &str| Verification::refused(format!("the {name} secret is not set"));
        match config {
            IntegrationConfig::Twilio(c) => match secrets.get("auth_token") {
                Some(token) => self.twilio.verify_credentials(c, token).await,
                None => missing("auth_token"),
            },
            IntegrationConfig::Vera(c) => match secrets.get("api_key") {
                Some(key) => self.vera.verify_credentials(c, key).await,
                None => missing("api_key"),
            },
        }
    }

    async fn owns_number(
        &self,
        config: &IntegrationConfig,
        secrets: &BTreeMap<String, SecretString>,
    ) -> NumberCheck {
        match config {
            IntegrationConfig::Twilio(c) => match secrets.get("auth_token") {
                Some(token) => match self.twilio.owns_number(c, token).await {
                    NumberOwnership::Owned => NumberCheck::Owned,
                    NumberOwnership::NotOwned => NumberCheck::NotOwned,
                    NumberOwnership::Refused(why) => NumberCheck::Refused(why),
                    NumberOwnership::Unreachable(why) => NumberCheck::Unreachable(why),
                },
                None => NumberCheck::Refused("the auth_token secret is not set".into()),
            },
            IntegrationConfig::Vera(_) => NumberCheck::NotApplicable,
        }
    }
}
