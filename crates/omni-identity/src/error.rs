use omni_core::FieldError;

/// Why an identity use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Login with an unknown e-mail or a wrong password; deliberately not saying which.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// The access token is missing, malformed, forged, expired, or its user is gone.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such user visible to the caller.
    #[error("user not found")]
    NotFound,
    /// Another account already uses this e-mail address.
    #[error("the e-mail address is already in use")]
    EmailTaken,
    /// The change would break a rule (e.g. an admin removing their own admin role).
    #[error("{0}")]
    Conflict(&'static str),
    /// The change would leave a company without an admin.
    #[error("a company must keep at least one admin")]
    LastAdmin,
    /// Fields of the request are invalid.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// Self-service registration is switched off on this deployment.
    #[error("registration of new companies is disabled")]
    RegistrationClosed,
    /// The store cannot be reached now; retrying later may work.
    #[error("identity store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (the database is down, a hasher failed...).
    #[error("identity store failed: {0}")]
    Unknown(String),
}
