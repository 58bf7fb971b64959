use crate::CompanyId;

/// Which tenants' rows a repository call may touch.
///
/// Use cases derive it from the caller (a superadmin sees every company, anyone else only
/// their own); repositories apply it to every query, so a row of another tenant is simply
/// not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every company: the platform operator.
    All,
    /// One company.
    Company(CompanyId),
}

impl Scope {
    /// Whether a row of `company` is visible in this scope.
    pub fn includes(self, company: Option<CompanyId>) -> bool {
        match self {
            Scope::All => true,
            Scope::Company(own) => company == Some(own),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_scope_sees_only_its_company() {
        let a = CompanyId::new(1);
        let b = CompanyId::new(2);
        assert!(Scope::All.includes(Some(b)));
        assert!(Scope::All.includes(None));
        assert!(Scope::Company(a).includes(Some(a)));
        assert!(!Scope::Company(a).includes(Some(b)));
        assert!(!Scope::Company(a).includes(None));
    }
}
