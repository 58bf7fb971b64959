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

impl TwilioError {
    /// Whether trying again later may succeed: network trouble, timeouts, Twilio's own
    /// failures (5xx) and rate limits (429, code 20429). Anything else Twilio refused (a bad
    /// number 21211, outside the WhatsApp window 63016, bad credentials 20003…) will be
    /// refused again. An unreadable success is not retried: the message may have gone out.
    pub fn is_retryable(&self) -> bool {
        match self {
            TwilioError::Network(_) => true,
            TwilioError::Api { status, code, .. } => {
                *status == 429 || *status >= 500 || *code == Some(20429)
            }
            TwilioError::Decode(_) => false,
        }
    }
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub code: Option<i64>,
    pub message: Option<String>,
    pub more_info: Option<String>,
}
