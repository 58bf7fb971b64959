//! What the adapter's tests share: a Twilio integration of one account, and its secrets.

use std::collections::BTreeMap;

use chrono::Utc;
use omni_core::{CompanyId, IntegrationId};
use omni_tenancy::{
    Integration, IntegrationConfig, IntegrationSecrets, IntegrationType, SecretString,
    TwilioConfig, TwilioSecrets,
};

/// The account of the tests.
pub(crate) const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// An enabled integration of kind `kind` on the account `SID`, number `+14155550100`.
pub(crate) fn integration(kind: IntegrationType) -> Integration {
    Integration {
        id: IntegrationId::new(1),
        company_id: CompanyId::new(1),
        kind,
        config: IntegrationConfig::Twilio(TwilioConfig {
            account_sid: SID.into(),
            phone_number: "+14155550100".parse().unwrap(),
            messaging_service_sid: None,
        }),
        secrets: BTreeMap::new(),
        enabled: true,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

/// Its auth token, `token`, in clear.
pub(crate) fn secrets() -> IntegrationSecrets {
    IntegrationSecrets::Twilio(TwilioSecrets {
        auth_token: SecretString::new("token".into()),
    })
}
