use omni_core::{CompanyId, Scope, UserId};

use crate::{Role, User};

/// The authenticated caller of a use case, as the database knows them now (not as an old
/// token remembers them): a demoted admin is an agent from their next request on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// Who is calling.
    pub user_id: UserId,
    /// Their company; `None` for a superadmin.
    pub company_id: Option<CompanyId>,
    /// What they may do.
    pub role: Role,
}

impl Principal {
    /// The caller described by a stored user.
    pub fn of(user: &User) -> Self {
        Self {
            user_id: user.id,
            company_id: user.company_id,
            role: user.role,
        }
    }

    /// Whether the caller operates the platform.
    pub fn is_superadmin(&self) -> bool {
        self.role == Role::Superadmin
    }

    /// Whether the caller may administer `company` (its users, integrations, settings).
    pub fn administers(&self, company: CompanyId) -> bool {
        match self.role {
            Role::Superadmin => true,
            Role::Admin => self.company_id == Some(company),
            Role::Agent => false,
        }
    }

    /// The tenants whose rows the caller may see.
    pub fn scope(&self) -> Scope {
        match (self.role, self.company_id) {
            (Role::Superadmin, _) => Scope::All,
            (_, Some(company)) => Scope::Company(company),
            // A non-superadmin always has a company (the database enforces it); should
            // one ever lack it, they see nothing rather than everything.
            (_, None) => Scope::Company(CompanyId::new(0)),
        }
    }
}
