//! Omni tenancy: companies and the integrations that connect them to channels and AI.
//!
//! Every tenant-owned row of Omni belongs to a [`Company`]. A company's
//! [`CompanySettings`] hold its locale, whether triage answers customers automatically,
//! the categories tickets are sorted into, and what its reports count by: its
//! [`Timezone`], [`BusinessHours`] and [`Sla`] targets, and the satisfaction survey
//! ([`CsatSettings`]). [`CompanyService`] holds the use cases with
//! their role rules over the [`CompanyRepository`] port. Integrations carry a typed
//! configuration per [`IntegrationType`]; their secrets are write-only.
#![warn(missing_docs)]

mod business_hours;
mod company;
mod error;
mod integration;
mod integration_config;
mod integration_entity;
mod integration_secrets;
mod integration_service;
mod ports;
mod secret;
mod service;
mod settings;
mod sla;
mod timezone;
mod verifier_by_provider;

pub use business_hours::{BusinessHours, DayHoursInput, WEEKDAYS};
pub use company::{Company, CompanyUpdate};
pub use error::TenancyError;
pub use integration::{IntegrationType, UnknownIntegrationType};
pub use integration_config::{IntegrationConfig, ParsedConfig, TwilioConfig, VeraConfig};
pub use integration_entity::{
    Integration, IntegrationChanges, NewIntegration, Verification, VerificationOutcome,
};
pub use integration_secrets::{IntegrationSecrets, SecretName, TwilioSecrets, VeraSecrets};
pub use integration_service::{IntegrationInput, IntegrationService, IntegrationUpdateInput};
pub use ports::{
    CompanyRepository, CredentialVerifier, IntegrationRepository, NumberCheck, SecretCipher,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{
    MockCompanyRepository, MockCredentialVerifier, MockIntegrationRepository, MockSecretCipher,
};
pub use secret::{SealedSecret, SecretString};
pub use service::CompanyService;
pub use settings::{Category, CompanySettings, CsatSettings, Locale, SettingsPatch, UnknownLocale};
pub use sla::{Sla, SlaTarget};
pub use timezone::{Timezone, UnknownTimezone};
pub use verifier_by_provider::VerifierByProvider;
