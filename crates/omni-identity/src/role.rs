omni_core::wire_enum! {
    /// What a user may do.
    pub enum Role, error UnknownRole {
        /// The platform operator: every company.
        Superadmin => "superadmin",
        /// Runs one company: its users, integrations and settings, and its tickets.
        Admin => "admin",
        /// Works one company's tickets and messages.
        Agent => "agent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_use_their_wire_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!(serde_json::to_value(Role::Agent).unwrap(), "agent");
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`root` is not one of: superadmin, admin, agent"
        );
    }
}
