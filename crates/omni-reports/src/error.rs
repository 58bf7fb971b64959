use omni_core::FieldError;

/// Why a report cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request names bad values.
    #[error("invalid request: {0:?}")]
    Validation(Vec<FieldError>),
    /// The caller may not see this report.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The company does not exist (or is not the caller's to see).
    #[error("not found")]
    NotFound,
    /// The store cannot be reached now; a retry may succeed.
    #[error("reports are unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("reports failed: {0}")]
    Unknown(String),
}
