//! Files agents send: uploaded to Omni first (`POST /media`), kept behind a storage port,
//! and handed to the provider as a signed URL that expires.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use omni_core::{CompanyId, Scope, UploadId};
use serde::Serialize;

use crate::MessagingError;

/// The largest image WhatsApp takes.
pub const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;
/// The largest audio, video or document a WhatsApp message through Twilio takes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// How many bytes of uploads a company keeps at most, unless configured otherwise: one
/// tenant must not fill the database every tenant shares.
pub const DEFAULT_UPLOAD_QUOTA: u64 = 1024 * 1024 * 1024;

/// How many attachments one message may carry: Twilio's limit for an MMS. A WhatsApp
/// message carries one ([`crate::MAX_WHATSAPP_ATTACHMENTS`]).
pub const MAX_ATTACHMENTS: usize = 10;

/// The types WhatsApp accepts, by kind: anything else is refused before it is stored.
const TYPES: &[(&str, MediaKind)] = &[
    ("image/jpeg", MediaKind::Image),
    ("image/png", MediaKind::Image),
    ("audio/aac", MediaKind::Audio),
    ("audio/amr", MediaKind::Audio),
    ("audio/mp4", MediaKind::Audio),
    ("audio/mpeg", MediaKind::Audio),
    ("audio/ogg", MediaKind::Audio),
    ("video/mp4", MediaKind::Video),
    ("video/3gpp", MediaKind::Video),
    ("application/pdf", MediaKind::Document),
    ("application/msword", MediaKind::Document),
    ("application/vnd.ms-excel", MediaKind::Document),
    ("application/vnd.ms-powerpoint", MediaKind::Document),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        MediaKind::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MediaKind::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        MediaKind::Document,
    ),
    ("text/plain", MediaKind::Document),
];

/// What WhatsApp makes of a file: each kind has its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// JPEG or PNG, up to [`MAX_IMAGE_BYTES`].
    Image,
    /// A voice note or a song, up to [`MAX_FILE_BYTES`].
    Audio,
    /// MP4 or 3GPP, up to [`MAX_FILE_BYTES`].
    Video,
    /// PDF, Office, plain text, up to [`MAX_FILE_BYTES`].
    Document,
}

/// A MIME type without its parameters, lower-cased: `Audio/OGG; codecs=opus` is
/// `audio/ogg`.
pub fn mime_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl MediaKind {
    /// The kind of a MIME type (parameters such as `; codecs=opus` aside), if WhatsApp
    /// takes it.
    pub fn of(content_type: &str) -> Option<MediaKind> {
        let essence = mime_essence(content_type);
        TYPES
            .iter()
            .find(|(t, _)| *t == essence)
            .map(|(_, kind)| *kind)
    }

    /// The largest file of this kind, in bytes.
    pub const fn max_bytes(self) -> u64 {
        match self {
            MediaKind::Image => MAX_IMAGE_BYTES,
            MediaKind::Audio | MediaKind::Video | MediaKind::Document => MAX_FILE_BYTES,
        }
    }

    /// Every type WhatsApp takes, for the error that refuses another.
    pub fn accepted_types() -> Vec<&'static str> {
        TYPES.iter().map(|(t, _)| *t).collect()
    }
}

/// Why an upload is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    /// A type WhatsApp does not take (415).
    #[error("`{0}` is not a type WhatsApp takes; send one of: {types}", types = MediaKind::accepted_types().join(", "))]
    Type(String),
    /// Larger than its kind allows (413).
    #[error("the file is larger than the {limit}-byte limit for its type")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// No file, or an empty one (422).
    #[error("the upload holds no file: send it in the multipart part named `file`")]
    Empty,
}

/// A file to keep, checked: a type WhatsApp takes, within its size limit, not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    company_id: CompanyId,
    content_type: String,
    filename: Option<String>,
    bytes: Bytes,
}

impl NewUpload {
    /// Checks a file a company's agent uploads.
    ///
    /// ```
    /// # use omni_core::CompanyId;
    /// # use omni_messaging::{NewUpload, UploadRefused, MAX_IMAGE_BYTES};
    /// let photo = vec![0u8; 10];
    /// assert!(NewUpload::parse(CompanyId::new(1), "image/png", None, photo.into()).is_ok());
    /// let huge = vec![0u8; MAX_IMAGE_BYTES as usize + 1];
    /// assert_eq!(
    ///     NewUpload::parse(CompanyId::new(1), "image/png", None, huge.into()),
    ///     Err(UploadRefused::TooLarge { limit: MAX_IMAGE_BYTES })
    /// );
    /// ```
    pub fn parse(
        company_id: CompanyId,
        content_type: &str,
        filename: Option<&str>,
        bytes: Bytes,
    ) -> Result<Self, UploadRefused> {
        Self::admit(content_type, bytes.len() as u64)?;
        if bytes.is_empty() {
            return Err(UploadRefused::Empty);
        }
        Ok(Self {
            company_id,
            content_type: content_type.trim().to_ascii_lowercase(),
            filename: filename.map(clean_filename).filter(|f| !f.is_empty()),
            bytes,
        })
    }

    /// The kind of a file of `content_type` if `size` bytes of it may be kept: what an
    /// upload checks as it arrives, before its bytes are all read.
    pub fn admit(content_type: &str, size: u64) -> Result<MediaKind, UploadRefused> {
        let kind = MediaKind::of(content_type)
            .ok_or_else(|| UploadRefused::Type(content_type.trim().to_owned()))?;
        if size > kind.max_bytes() {
            return Err(UploadRefused::TooLarge {
                limit: kind.max_bytes(),
            });
        }
        Ok(kind)
    }

    /// The company it belongs to.
    pub fn company_id(&self) -> CompanyId {
        self.company_id
    }

    /// Its MIME type, lower-cased.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The name it had on the agent's machine, without any path.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The file.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// A name as a browser sent it, made safe to show and to put in a header: the last path
/// segment, no control characters or quotes, at most 200 characters.
fn clean_filename(raw: &str) -> String {
    raw.rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A kept file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Upload {
    /// Its id: what `media_ids` of `POST /ticket-messages` names.
    pub id: UploadId,
    /// Its company.
    pub company_id: CompanyId,
    /// Its MIME type.
    pub content_type: String,
    /// The name it had when uploaded.
    pub filename: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded (it is deleted a retention period later).
    pub created_at: DateTime<Utc>,
}

/// Where uploaded files are kept (PostgreSQL in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Keeps a file.
    async fn save(&self, upload: &NewUpload) -> Result<Upload, MessagingError>;

    /// The uploads among `ids` that the scope may use (in any order; unknown ids and other
    /// companies' files are missing from the answer).
    async fn find(&self, scope: Scope, ids: &[UploadId]) -> Result<Vec<Upload>, MessagingError>;

    /// A file with its bytes; `None` once it is gone.
    async fn content(&self, id: UploadId) -> Result<Option<(Upload, Bytes)>, MessagingError>;

    /// How many bytes a company's kept files hold.
    async fn usage(&self, company: CompanyId) -> Result<u64, MessagingError>;

    /// Deletes the files uploaded before `before`; says how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, MessagingError>;
}

/// Signs and checks the public URLs the provider fetches uploaded files from: it has no
/// credentials of Omni's, so the URL itself is the permission, for a while.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait LinkSigner: Send + Sync {
    /// The signature of `id` valid until `expires` (a Unix time).
    fn sign(&self, id: UploadId, expires: i64) -> String;

    /// Whether `signature` is the signature of `id` until `expires` (compared in constant
    /// time; the expiry is the caller's to check).
    fn verify(&self, id: UploadId, expires: i64, signature: &str) -> bool;
}
