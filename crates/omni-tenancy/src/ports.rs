use async_trait::async_trait;
use omni_core::{CompanyId, DisplayName, Page, PageRequest, Scope};

use crate::{Company, CompanySettings, CompanyUpdate, TenancyError};

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
