use omni_core::FieldError;

/// Why a messaging use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// No such message or ticket visible to the caller (or no integration has the number).
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request conflicts with the message's or ticket's state.
    #[error("{0}")]
    Conflict(&'static str),
    /// Fields of the request are invalid.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// The store cannot be reached now.
    #[error("message store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("message store failed: {0}")]
    Unknown(String),
}
