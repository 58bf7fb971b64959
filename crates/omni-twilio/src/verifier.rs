//! The tenancy crate's [`CredentialVerifier`] for Twilio integrations: the account must
//! be active, and must own the number it routes.

use async_trait::async_trait;
use omni_tenancy::{
    CredentialVerifier, IntegrationConfig, IntegrationSecrets, NumberCheck, Verification,
};

use crate::{NumberOwnership, TwilioClient};

const NOT_TWILIO: &str = "not a Twilio integration";

#[async_trait]
impl CredentialVerifier for TwilioClient {
    async fn verify(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> Verification {
        match (config, secrets.twilio()) {
            (IntegrationConfig::Twilio(c), Some(s)) => {
                self.verify_credentials(c, &s.auth_token).await
            }
            _ => Verification::refused(NOT_TWILIO),
        }
    }

    async fn owns_number(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> NumberCheck {
        match (config, secrets.twilio()) {
            (IntegrationConfig::Twilio(c), Some(s)) => {
                match TwilioClient::owns_number(self, c, &s.auth_token).await {
                    NumberOwnership::Owned => NumberCheck::Owned,
                    NumberOwnership::NotOwned => NumberCheck::NotOwned,
                    NumberOwnership::Refused(why) => NumberCheck::Refused(why),
                    NumberOwnership::Unreachable(why) => NumberCheck::Unreachable(why),
                }
            }
            (IntegrationConfig::Twilio(_), None) => NumberCheck::Refused(NOT_TWILIO.into()),
            _ => NumberCheck::NotApplicable,
        }
    }
}
