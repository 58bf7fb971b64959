use omni_core::FieldError;

/// Why a messaging use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// No such message or ticket visible to the caller.
    #[error("not found")]
    NotFound,
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The ticket is closed: it takes no more replies.
    #[error("{}", omni_ticketing::ReplyRefused::Closed)]
    TicketClosed,
    /// The channel's customer-service window is closed: only an approved template may go
    /// out until the customer writes again (see [`omni_ticketing::ReplyRefused`]).
    #[error("{}", omni_ticketing::ReplyRefused::WindowClosed { closed_at: *closed_at })]
    ReplyWindowClosed {
        /// When it closed; `None` when the customer never wrote.
        closed_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The message left already; only a failed or never-sent one is sent again.
    #[error("the message was already sent")]
    AlreadySent,
    /// A customer's message is not sent anywhere.
    #[error("an inbound message is not sent")]
    InboundNotSent,
    /// The `Idempotency-Key` was used before for a message on another ticket.
    #[error("this Idempotency-Key was already used for a message on another ticket")]
    KeyReused,
    /// A webhook the provider did not send (or for no enabled integration).
    #[error("webhook refused: {0}")]
    Refused(#[from] crate::WebhookRefusal),
    /// The message has no attachment with that number.
    #[error("the message has no attachment {0}")]
    NoSuchMedia(usize),
    /// The attachment could not be served.
    #[error(transparent)]
    Media(#[from] crate::MediaError),
    /// The provider's template catalog could not be read.
    #[error(transparent)]
    Templates(crate::TemplateError),
    /// The company has no enabled integration on the message's channel (to send through,
    /// or whose credentials fetch its attachments).
    #[error("the company has no enabled {0} integration")]
    NoChannel(&'static str),
    /// An uploaded file WhatsApp would not take (its type, its size) or an empty upload.
    #[error(transparent)]
    Upload(#[from] crate::UploadRefused),
    /// The company's uploads would hold more than its quota.
    #[error(
        "the company's uploads would hold {needed} bytes, over its {quota}-byte quota; older ones are deleted after the retention"
    )]
    UploadQuota {
        /// What they would hold with this one.
        needed: u64,
        /// The quota, in bytes.
        quota: u64,
    },
    /// Fields of the request are invalid.
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// The store cannot be reached now.
    #[error("message store unavailable: {0}")]
    Unavailable(String),
    /// Anything else, with its cause.
    #[error("message store failed: {0}")]
    Unknown(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl MessagingError {
    /// An unexpected failure described by text alone (a stored row that does not read).
    pub fn unknown(why: impl Into<String>) -> Self {
        MessagingError::Unknown(why.into().into())
    }
}

impl From<omni_ticketing::ReplyRefused> for MessagingError {
    fn from(refused: omni_ticketing::ReplyRefused) -> Self {
        match refused {
            omni_ticketing::ReplyRefused::Closed => MessagingError::TicketClosed,
            omni_ticketing::ReplyRefused::WindowClosed { closed_at } => {
                MessagingError::ReplyWindowClosed { closed_at }
            }
        }
    }
}
