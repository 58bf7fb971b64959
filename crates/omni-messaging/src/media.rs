//! Attachments: how a message's media reaches an agent.
//!
//! A customer's photo or voice note stays with the provider (Twilio keeps it behind the
//! account's credentials); Omni stores where it is and shows agents its own URL for it
//! ([`TicketMessage::media_url`](crate::TicketMessage::media_url)). Asking for that URL
//! fetches the file through a [`MediaFetcher`] and passes it on as it arrives.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use omni_tenancy::{Integration, IntegrationSecrets};
use serde::Serialize;

/// An attachment as agent UIs see it: Omni's URL for it, never the provider's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaLink {
    /// Its MIME type, as the provider reported it.
    pub content_type: Option<String>,
    /// `/ticket-messages/{id}/media/{n}`: Omni's route that serves the file (with the same
    /// bearer token as every route).
    pub url: String,
    /// For a file an agent attached by its https address: that address (where `url`
    /// redirects), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The bytes of an attachment as they arrive: never held whole in memory.
pub type MediaStream = Pin<Box<dyn Stream<Item = Result<Bytes, MediaError>> + Send>>;

/// An attachment on its way to the agent.
pub struct MediaBody {
    /// Its MIME type, as the provider serves it.
    pub content_type: Option<String>,
    /// Its size in bytes, when the provider says.
    pub content_length: Option<u64>,
    /// The bytes; the stream ends with an error if the provider sends more than the cap or
    /// than it announced.
    pub body: MediaStream,
}

impl MediaBody {
    /// A file already at hand (an upload read from storage), as one chunk.
    pub fn whole(content_type: &str, bytes: Bytes) -> Self {
        Self {
            content_type: Some(content_type.to_owned()),
            content_length: Some(bytes.len() as u64),
            body: Box::pin(futures_util::stream::once(async move { Ok(bytes) })),
        }
    }
}

/// Where an attachment is to be had.
#[derive(Debug)]
pub enum Attachment {
    /// Here: its bytes follow.
    Here(MediaBody),
    /// At a public URL of its own (a link an agent sent).
    Elsewhere(String),
}

impl std::fmt::Debug for MediaBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaBody")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// Which attachment to fetch, with the credentials of the integration that received it.
#[derive(Debug, Clone)]
pub struct MediaRequest {
    /// The integration of the message's ticket.
    pub integration: Integration,
    /// Its secrets in clear.
    pub secrets: IntegrationSecrets,
    /// Where the provider keeps the file (as its webhook named it).
    pub url: String,
}

/// Why an attachment cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The provider no longer has it (deleted, or past its retention).
    #[error("the provider no longer has this attachment")]
    Gone,
    /// Its URL is not one of the integration's account under the provider's API (another
    /// host, or another account's): Omni does not fetch it.
    #[error(
        "the attachment is not at the provider's API under this integration's account; Omni does not fetch it"
    )]
    Untrusted,
    /// The provider refused the integration's credentials: the integration needs fixing.
    #[error("the provider refused the integration's credentials: {0}")]
    Refused(String),
    /// It is larger than Omni passes on.
    #[error("the attachment is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The provider did not serve it now (network, refusal, error); trying later may work.
    #[error("the provider did not serve the attachment: {0}")]
    Unavailable(String),
}

/// Fetches attachments from the provider that keeps them (Twilio in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MediaFetcher: Send + Sync {
    /// Starts the download of one attachment: its type and size are known when this
    /// returns, its bytes follow in the body's stream.
    async fn fetch(&self, request: &MediaRequest) -> Result<MediaBody, MediaError>;
}
