//! The tenancy crate's [`IntegrationRepository`] in memory. Secrets arrive sealed and stay
//! sealed: like the database, this store never sees a plaintext.

use async_trait::async_trait;
use chrono::Utc;
use omni_core::{CompanyId, IntegrationId, Page, PageRequest, PhoneNumber, Scope};
use omni_tenancy::{
    Integration, IntegrationChanges, IntegrationConfig, IntegrationRepository, IntegrationType,
    NewIntegration, TenancyError,
};

use crate::MemoryStore;
use crate::state::State;
use crate::state::page_by_id;

/// The database's unique constraints on integrations: a phone number belongs to one
/// integration, and a company has at most one Vera integration.
fn check_unique(
    state: &State,
    this: Option<i64>,
    company: CompanyId,
    kind: IntegrationType,
    config: &IntegrationConfig,
) -> Result<(), TenancyError> {
    let others = || {
        state
            .integrations
            .values()
            .filter(|i| Some(i.id.get()) != this)
    };
    if let Some(phone) = config.phone_number()
        && others().any(|i| i.config.phone_number() == Some(phone))
    {
        return Err(TenancyError::Conflict(
            "the phone number already belongs to an integration",
        ));
    }
    if kind == IntegrationType::VeraAi
        && others().any(|i| i.company_id == company && i.kind == IntegrationType::VeraAi)
    {
        return Err(TenancyError::Conflict(
            "the company already has a vera_ai integration",
        ));
    }
    Ok(())
}

#[async_trait]
impl IntegrationRepository for MemoryStore {
    async fn list(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Integration>, TenancyError> {
        Ok(page_by_id(
            &self.lock().integrations,
            page,
            |i| scope.includes(Some(i.company_id)).then_some(i),
            |i| i.id.get(),
        ))
    }

    async fn find(
        &self,
        scope: Scope,
        id: IntegrationId,
    ) -> Result<Option<Integration>, TenancyError> {
        Ok(self
            .lock()
            .integrations
            .get(&id.get())
            .filter(|i| scope.includes(Some(i.company_id)))
            .cloned())
    }

    async fn insert(&self, new: NewIntegration) -> Result<Integration, TenancyError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&new.company_id.get()) {
            return Err(TenancyError::NotFound);
        }
        check_unique(&state, None, new.company_id, new.kind, &new.config)?;
        let now = Utc::now();
        let id = state.next_id();
        let integration = Integration {
            id: IntegrationId::new(id),
            company_id: new.company_id,
            kind: new.kind,
            config: new.config,
            secrets: new.secrets,
            enabled: new.enabled,
            created_at: now,
            updated_at: now,
        };
        state.integrations.insert(id, integration.clone());
        Ok(integration)
    }

    async fn update(
        &self,
        scope: Scope,
        id: IntegrationId,
        changes: IntegrationChanges,
    ) -> Result<Option<Integration>, TenancyError> {
        let mut state = self.lock();
        let Some(current) = state
            .integrations
            .get(&id.get())
            .filter(|i| scope.includes(Some(i.company_id)))
        else {
            return Ok(None);
        };
        check_unique(
            &state,
            Some(id.get()),
            current.company_id,
            current.kind,
            &changes.config,
        )?;
        let Some(integration) = state.integrations.get_mut(&id.get()) else {
            return Ok(None);
        };
        integration.config = changes.config;
        integration.secrets = changes.secrets;
        integration.enabled = changes.enabled;
        integration.updated_at = Utc::now();
        Ok(Some(integration.clone()))
    }

    async fn delete(&self, scope: Scope, id: IntegrationId) -> Result<bool, TenancyError> {
        let mut state = self.lock();
        let in_scope = state
            .integrations
            .get(&id.get())
            .is_some_and(|i| scope.includes(Some(i.company_id)));
        if !in_scope {
            return Ok(false);
        }
        state.integrations.remove(&id.get());
        // Its tickets stay, no longer tied to it (the database's `ON DELETE SET NULL`).
        for ticket in state.tickets.values_mut() {
            if ticket.integration_id == Some(id) {
                ticket.integration_id = None;
            }
        }
        Ok(true)
    }

    async fn find_by_phone(
        &self,
        phone: &PhoneNumber,
    ) -> Result<Option<Integration>, TenancyError> {
        Ok(self
            .lock()
            .integrations
            .values()
            .find(|i| i.config.phone_number() == Some(phone))
            .cloned())
    }

    async fn channels(&self, company: CompanyId) -> Result<Vec<Integration>, TenancyError> {
        Ok(self
            .lock()
            .integrations
            .values()
            .filter(|i| i.company_id == company && i.enabled && i.config.phone_number().is_some())
            .cloned()
            .collect())
    }
}
