//! The tenancy crate's [`CompanyRepository`] in memory.

use async_trait::async_trait;
use chrono::Utc;
use omni_core::{CompanyId, DisplayName, Page, PageRequest, Scope};
use omni_tenancy::{Company, CompanyRepository, CompanySettings, CompanyUpdate, TenancyError};

use crate::MemoryStore;
use crate::state::page_by_id;

#[async_trait]
impl CompanyRepository for MemoryStore {
    async fn list(&self, scope: Scope, page: PageRequest) -> Result<Page<Company>, TenancyError> {
        Ok(page_by_id(
            &self.lock().companies,
            page,
            |c| scope.includes(Some(c.id)).then_some(c),
            |c| c.id.get(),
        ))
    }

    async fn find(&self, scope: Scope, id: CompanyId) -> Result<Option<Company>, TenancyError> {
        if !scope.includes(Some(id)) {
            return Ok(None);
        }
        Ok(self.lock().companies.get(&id.get()).cloned())
    }

    async fn insert(
        &self,
        name: &DisplayName,
        settings: &CompanySettings,
    ) -> Result<Company, TenancyError> {
        let mut state = self.lock();
        let now = Utc::now();
        let id = state.next_id();
        let company = Company {
            id: CompanyId::new(id),
            name: name.clone(),
            settings: settings.clone(),
            created_at: now,
            updated_at: now,
        };
        state.companies.insert(id, company.clone());
        Ok(company)
    }

    async fn update(
        &self,
        scope: Scope,
        id: CompanyId,
        changes: CompanyUpdate,
    ) -> Result<Option<Company>, TenancyError> {
        if !scope.includes(Some(id)) {
            return Ok(None);
        }
        let mut state = self.lock();
        let Some(company) = state.companies.get_mut(&id.get()) else {
            return Ok(None);
        };
        if let Some(name) = changes.name {
            company.name = name;
        }
        if let Some(settings) = changes.settings {
            company.settings = settings;
        }
        company.updated_at = Utc::now();
        Ok(Some(company.clone()))
    }

    async fn delete(&self, scope: Scope, id: CompanyId) -> Result<bool, TenancyError> {
        if !scope.includes(Some(id)) {
            return Ok(false);
        }
        let mut state = self.lock();
        if state.companies.remove(&id.get()).is_none() {
            return Ok(false);
        }
        // Everything the company owned goes with it, as the database's cascades do.
        let owned = Some(id);
        state.users.retain(|_, (u, _)| u.company_id != owned);
        state.integrations.retain(|_, i| i.company_id != id);
        state.tickets.retain(|_, t| t.company_id != id);
        state.uploads.retain(|_, u| u.upload.company_id != id);
        state.facts.retain(|f| f.company_id != id);
        state.messages.retain(|_, m| m.message.company_id != id);
        state.events.retain(|_, e| e.company_id != id);
        state.jobs.retain(|_, j| j.company_id != owned);
        let users: std::collections::HashSet<_> = state.users.values().map(|(u, _)| u.id).collect();
        state.revoked.retain(|_, (user, _)| users.contains(user));
        state
            .ws_tickets
            .retain(|_, t| users.contains(&t.grant.user_id));
        Ok(true)
    }
}
