use std::sync::Arc;

use omni_core::{CompanyId, DisplayName, Page, PageRequest};
use omni_identity::Principal;

use crate::{
    Company, CompanyRepository, CompanySettings, CompanyUpdate, SettingsPatch, TenancyError,
};

/// The company use cases and their role rules: the superadmin creates and deletes
/// companies; a company's admin (or the superadmin) changes its name and settings; everyone
/// sees their own company.
#[derive(Clone)]
pub struct CompanyService {
    companies: Arc<dyn CompanyRepository>,
}

impl CompanyService {
    /// The use cases over this repository.
    pub fn new(companies: Arc<dyn CompanyRepository>) -> Self {
        Self { companies }
    }

    /// The companies the caller may see.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Principal,
        page: PageRequest,
    ) -> Result<Page<Company>, TenancyError> {
        self.companies.list(caller.scope(), page).await
    }

    /// One company the caller may see.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, company_id = %id))]
    pub async fn get(&self, caller: &Principal, id: CompanyId) -> Result<Company, TenancyError> {
        self.companies
            .find(caller.scope(), id)
            .await?
            .ok_or(TenancyError::NotFound)
    }

    /// Creates a company (superadmin only); settings not given take their defaults.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn create(
        &self,
        caller: &Principal,
        name: DisplayName,
        settings: Option<SettingsPatch>,
    ) -> Result<Company, TenancyError> {
        if !caller.is_superadmin() {
            return Err(TenancyError::Forbidden(
                "only a superadmin creates companies",
            ));
        }
        let settings = CompanySettings::default()
            .apply(settings.unwrap_or_default())
            .map_err(TenancyError::Validation)?;
        self.companies.insert(&name, &settings).await
    }

    /// Renames a company or changes its settings (merged into the current ones).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, company_id = %id))]
    pub async fn update(
        &self,
        caller: &Principal,
        id: CompanyId,
        name: Option<DisplayName>,
        settings: Option<SettingsPatch>,
    ) -> Result<Company, TenancyError> {
        let scope = caller.scope();
        let current = self
            .companies
            .find(scope, id)
            .await?
            .ok_or(TenancyError::NotFound)?;
        if !caller.administers(id) {
            return Err(TenancyError::Forbidden(
                "only the company's admins change it",
            ));
        }
        let settings = match settings {
            Some(patch) => Some(
                current
                    .settings
                    .apply(patch)
                    .map_err(TenancyError::Validation)?,
            ),
            None => None,
        };
        if name.is_none() && settings.is_none() {
            return Ok(current);
        }
        self.companies
            .update(scope, id, CompanyUpdate { name, settings })
            .await?
            .ok_or(TenancyError::NotFound)
    }

    /// Deletes a company and its whole tenant (superadmin only).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, company_id = %id))]
    pub async fn delete(&self, caller: &Principal, id: CompanyId) -> Result<(), TenancyError> {
        let scope = caller.scope();
        if self.companies.find(scope, id).await?.is_none() {
            return Err(TenancyError::NotFound);
        }
        if !caller.is_superadmin() {
            return Err(TenancyError::Forbidden(
                "only a superadmin deletes companies",
            ));
        }
        if self.companies.delete(scope, id).await? {
            Ok(())
        } else {
            Err(TenancyError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use mockall::predicate::eq;
    use omni_core::{Scope, UserId};
    use omni_identity::Role;

    use super::*;
    use crate::MockCompanyRepository;

    const A: CompanyId = CompanyId::new(1);
    const B: CompanyId = CompanyId::new(2);

    fn company(id: CompanyId) -> Company {
        Company {
            id,
            name: DisplayName::parse("Acme").unwrap(),
            settings: CompanySettings::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn who(role: Role, company: Option<CompanyId>) -> Principal {
        Principal {
            user_id: UserId::new(1),
            company_id: company,
            role,
        }
    }

    fn repo() -> MockCompanyRepository {
        let mut r = MockCompanyRepository::new();
        r.expect_find()
            .returning(|scope, id| Ok(scope.includes(Some(id)).then(|| company(id))));
        r
    }

    #[tokio::test]
    async fn only_the_superadmin_creates_and_deletes_companies() {
        let mut r = repo();
        r.expect_insert().returning(|_, s| {
            Ok(Company {
                settings: s.clone(),
                ..company(B)
            })
        });
        r.expect_delete()
            .with(eq(Scope::All), eq(A))
            .returning(|_, _| Ok(true));
        let s = CompanyService::new(Arc::new(r));
        let name = || DisplayName::parse("New").unwrap();
        for role in [Role::Admin, Role::Agent] {
            assert!(matches!(
                s.create(&who(role, Some(A)), name(), None).await,
                Err(TenancyError::Forbidden(_))
            ));
            assert!(matches!(
                s.delete(&who(role, Some(A)), A).await,
                Err(TenancyError::Forbidden(_))
            ));
        }
        let root = who(Role::Superadmin, None);
        let created = s
            .create(
                &root,
                name(),
                Some(SettingsPatch {
                    auto_reply: Some(false),
                    ..SettingsPatch::default()
                }),
            )
            .await
            .unwrap();
        assert!(!created.settings.auto_reply);
        s.delete(&root, A).await.unwrap();
    }

    #[tokio::test]
    async fn others_companies_are_not_found() {
        let s = CompanyService::new(Arc::new(repo()));
        for role in [Role::Admin, Role::Agent] {
            let caller = who(role, Some(A));
            assert!(s.get(&caller, A).await.is_ok());
            assert!(matches!(
                s.get(&caller, B).await,
                Err(TenancyError::NotFound)
            ));
            assert!(matches!(
                s.update(&caller, B, None, None).await,
                Err(TenancyError::NotFound)
            ));
            assert!(matches!(
                s.delete(&caller, B).await,
                Err(TenancyError::NotFound)
            ));
        }
    }

    #[tokio::test]
    async fn admins_change_their_company_and_agents_do_not() {
        let mut r = repo();
        r.expect_update()
            .withf(|scope, id, u| {
                *scope == Scope::Company(A)
                    && *id == A
                    && u.settings
                        .as_ref()
                        .is_some_and(|s| s.locale == crate::Locale::En && s.auto_reply)
            })
            .returning(|_, id, u| {
                Ok(Some(Company {
                    settings: u.settings.unwrap_or_default(),
                    ..company(id)
                }))
            });
        let s = CompanyService::new(Arc::new(r));
        let patch = || {
            Some(SettingsPatch {
                locale: Some(crate::Locale::En),
                ..SettingsPatch::default()
            })
        };
        assert!(matches!(
            s.update(&who(Role::Agent, Some(A)), A, None, patch()).await,
            Err(TenancyError::Forbidden(_))
        ));
        let updated = s
            .update(&who(Role::Admin, Some(A)), A, None, patch())
            .await
            .unwrap();
        assert_eq!(updated.settings.locale, crate::Locale::En);
        let bad = SettingsPatch {
            categories: Some(vec![]),
            ..SettingsPatch::default()
        };
        assert!(matches!(
            s.update(&who(Role::Admin, Some(A)), A, None, Some(bad))
                .await,
            Err(TenancyError::Validation(_))
        ));
    }

    #[tokio::test]
    async fn lists_follow_the_callers_scope() {
        let mut r = MockCompanyRepository::new();
        r.expect_list()
            .with(eq(Scope::Company(A)), eq(PageRequest::default()))
            .returning(|_, _| {
                Ok(Page {
                    data: vec![company(A)],
                    next_cursor: None,
                })
            });
        r.expect_list()
            .with(eq(Scope::All), eq(PageRequest::default()))
            .returning(|_, _| {
                Ok(Page {
                    data: vec![company(A), company(B)],
                    next_cursor: None,
                })
            });
        let s = CompanyService::new(Arc::new(r));
        assert_eq!(
            s.list(&who(Role::Agent, Some(A)), PageRequest::default())
                .await
                .unwrap()
                .data
                .len(),
            1
        );
        assert_eq!(
            s.list(&who(Role::Superadmin, None), PageRequest::default())
                .await
                .unwrap()
                .data
                .len(),
            2
        );
    }
}
