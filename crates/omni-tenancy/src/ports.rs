use async_trait::async_trait;
use omni_core::{CompanyId, DisplayName, Page, PageRequest, Scope};

use omni_core::IntegrationId;

use crate::{
    Company, CompanySettings, CompanyUpdate, Integration, IntegrationChanges, IntegrationConfig,
    IntegrationSecrets, NewIntegration, SealedSecret, SecretName, SecretString, TenancyError,
    Verification,
};

/// Where companies live. Reads and writes take the caller's [`Scope`]: a company outside
/// it is not found.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CompanyRepository: Send + Sync {
    /// Companies in the scope, oldest first.
    async fn list(&self, scope: Scope, page: PageRequest) -> Result<Page<Company>, TenancyError>;

    /// The company with this id, if the scope includes it.
    async fn find(&self, scope: Scope, id: CompanyId) -> Result<Option<Company>, TenancyError>;

    /// Stores a new company.
    async fn insert(
        &self,
        name: &DisplayName,
        settings: &CompanySettings,
    ) -> Result<Company, TenancyError>;

    /// Applies `changes`; `None` if the company is not in the scope.
    async fn update(
        &self,
        scope: Scope,
        id: CompanyId,
        changes: CompanyUpdate,
    ) -> Result<Option<Company>, TenancyError>;

    /// Deletes the company and everything it owns; false if it is not in the scope.
    async fn delete(&self, scope: Scope, id: CompanyId) -> Result<bool, TenancyError>;
}

/// Where integrations live. Reads and writes take the caller's [`Scope`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IntegrationRepository: Send + Sync {
    /// Integrations in the scope, oldest first.
    async fn list(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Integration>, TenancyError>;

    /// The integration with this id, if the scope includes it.
    async fn find(
        &self,
        scope: Scope,
        id: IntegrationId,
    ) -> Result<Option<Integration>, TenancyError>;

    /// Stores a new integration; [`TenancyError::Conflict`] if its phone number already
    /// belongs to an integration (of any company), or the company has a Vera AI one.
    async fn insert(&self, integration: NewIntegration) -> Result<Integration, TenancyError>;

    /// Replaces an integration's configuration; `None` if it is not in the scope.
    async fn update(
        &self,
        scope: Scope,
        id: IntegrationId,
        changes: IntegrationChanges,
    ) -> Result<Option<Integration>, TenancyError>;

    /// Deletes the integration; false if it is not in the scope.
    async fn delete(&self, scope: Scope, id: IntegrationId) -> Result<bool, TenancyError>;

    /// The integration that owns `phone`, of any company (webhooks are routed by it).
    async fn find_by_phone(
        &self,
        phone: &omni_core::PhoneNumber,
    ) -> Result<Option<Integration>, TenancyError>;

    /// The company's enabled channel integrations (oldest first).
    async fn channels(&self, company: CompanyId) -> Result<Vec<Integration>, TenancyError>;
}

/// Seals secrets for storage and opens them for use (AES-256-GCM in production).
///
/// The company and the secret's name are bound to the ciphertext, so a sealed value copied
/// to another row or field does not open.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait SecretCipher: Send + Sync {
    /// Encrypts `secret` with the current key and a fresh nonce.
    fn seal(
        &self,
        company: CompanyId,
        name: SecretName,
        secret: &SecretString,
    ) -> Result<SealedSecret, TenancyError>;

    /// Decrypts a sealed secret with the key it names.
    fn open(
        &self,
        company: CompanyId,
        name: SecretName,
        sealed: &SealedSecret,
    ) -> Result<SecretString, TenancyError>;
}

/// Asks a provider whether credentials work.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CredentialVerifier: Send + Sync {
    /// Checks `config` with its opened `secrets`; a refusal or an unreachable provider is
    /// an answer (`ok: false`), not an error.
    async fn verify(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> Verification;

    /// Whether the provider account behind `config` owns the number it routes (asked
    /// before a channel integration is enabled, so that no company can claim another's
    /// number).
    async fn owns_number(
        &self,
        config: &IntegrationConfig,
        secrets: &IntegrationSecrets,
    ) -> NumberCheck;
}

/// The provider's answer to "does this account own this number?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberCheck {
    /// It does.
    Owned,
    /// The provider answered: it does not.
    NotOwned,
    /// The provider refused the credentials (its words).
    Refused(String),
    /// The provider could not be asked (why).
    Unreachable(String),
    /// The integration routes no number.
    NotApplicable,
}
