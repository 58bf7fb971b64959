use serde::Deserialize;

/// A failed call to Twilio's REST API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error document.
    #[error("Twilio refused ({status}, code {code:?}): {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Twilio's error code (e.g. 20003 for bad credentials).
        code: Option<i64>,
        /// Twilio's message.
        message: String,
        /// Twilio's link to the error's documentation.
        more_info: Option<String>,
    },
    /// Twilio could not be reached, or did not answer in time.
    #[error("could not reach Twilio: {0}")]
    Network(String),
    /// Twilio answered something this client cannot read.
    #[error("unexpected answer from Twilio: {0}")]
    Decode(String),
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub code: Option<i64>,
    pub message: Option<String>,
    pub more_info: Option<String>,
}
