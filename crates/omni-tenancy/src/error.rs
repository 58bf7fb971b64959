use omni_core::FieldError;

/// Why a tenancy use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    /// No such company (or integration) visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request conflicts with another row (a phone number already in use...).
    #[error("{0}")]
    Conflict(&'static str),
    /// Fields of the request are invalid.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// A stored integration lacks a secret its type requires.
    #[error("the integration's {0} secret is not set")]
    MissingSecret(crate::SecretName),
    /// The store cannot be reached now; retrying later may work.
    #[error("tenancy store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (the database is down...).
    #[error("tenancy store failed: {0}")]
    Unknown(String),
}
