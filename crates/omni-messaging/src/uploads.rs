//! The upload use cases: an agent's file kept for sending, the attachments of a reply
//! checked, and the signed URL the provider fetches an upload from.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use omni_core::{FieldError, UploadId};
use omni_identity::Principal;

use crate::{
    MAX_ATTACHMENTS, Media, MessagingError, MessagingService, NewUpload, TemplateMessage, Upload,
    UploadRefused,
};

/// How long a signed URL of an upload lets the provider fetch it: the send job signs one
/// as it hands the message over, and the provider fetches at once (or within minutes, on
/// its own retries).
pub const UPLOAD_LINK_TTL: Duration = Duration::from_secs(60 * 60);

/// The longest link an agent may attach, in characters.
pub const MAX_LINK_CHARS: usize = 2048;

/// What a reply attaches, as the client named it: files uploaded before, and https links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments {
    /// Files uploaded to Omni (`POST /media`), in order.
    pub uploads: Vec<UploadId>,
    /// Public https URLs of files, in order (after the uploads).
    pub links: Vec<String>,
}

/// What an agent's reply sends, as the client asked for it: text and attachments, or an
/// approved template (which carries its own media).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// Free text, attachments, or both ([`MessagingService::reply`]).
    Text {
        /// The text, if any.
        content: Option<String>,
        /// The attachments, if any.
        attachments: Attachments,
    },
    /// An approved template ([`MessagingService::send_template`]).
    Template(TemplateMessage),
}

impl ReplyBody {
    /// One of text (with attachments) or a template; never both, nor a template with
    /// attachments.
    pub fn parse(
        content: Option<String>,
        template: Option<TemplateMessage>,
        attachments: Attachments,
    ) -> Result<Self, Vec<FieldError>> {
        match (content, template) {
            (Some(_), Some(_)) => Err(vec![FieldError::new(
                "template",
                "send either content or a template, not both",
            )]),
            (None, Some(_)) if !attachments.is_empty() => Err(vec![FieldError::new(
                "template",
                "a template carries its own media: send it without media_ids or media_urls",
            )]),
            (None, Some(template)) => Ok(ReplyBody::Template(template)),
            (content, None) => Ok(ReplyBody::Text {
                content,
                attachments,
            }),
        }
    }
}

impl Attachments {
    /// Whether nothing is attached.
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.links.is_empty()
    }
}

/// Whether `raw` is a link the provider may fetch: `https://`, a host, no credentials,
/// visible ASCII only (anything else percent-encoded), at most [`MAX_LINK_CHARS`].
pub fn https_link(raw: &str) -> Result<(), &'static str> {
    let Some(rest) = raw.strip_prefix("https://") else {
        return Err("must be an https URL");
    };
    if raw.len() > MAX_LINK_CHARS || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be at most 2048 visible ASCII characters (percent-encode the rest)");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err("must be an https URL with a host and no credentials");
    }
    Ok(())
}

impl MessagingService {
    /// Keeps a file a company's agent uploads, to attach to replies.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn upload(
        &self,
        caller: &Principal,
        upload: Result<NewUpload, UploadRefused>,
    ) -> Result<Upload, MessagingError> {
        if caller.company_id.is_none() {
            return Err(MessagingError::Forbidden("uploads belong to a company"));
        }
        let upload = upload?;
        if Some(upload.company_id()) != caller.company_id {
            return Err(MessagingError::Forbidden(
                "uploads belong to the caller's company",
            ));
        }
        // Checked before, not with, the insert: two uploads at once may pass together and
        // overshoot by one file, which the retention then wears down.
        let needed = self.uploads.usage(upload.company_id()).await? + upload.bytes().len() as u64;
        if needed > self.upload_quota {
            return Err(MessagingError::UploadQuota {
                needed,
                quota: self.upload_quota,
            });
        }
        self.uploads.save(&upload).await
    }

    /// An upload's bytes for whoever holds a signed URL of it that has not expired at
    /// `now` (the provider); `NotFound` for anything else, so that a guess learns nothing.
    #[tracing::instrument(skip_all, fields(upload_id = %id))]
    pub async fn signed_upload(
        &self,
        id: UploadId,
        expires: i64,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(Upload, Bytes), MessagingError> {
        if expires < now.timestamp() || !self.links.verify(id, expires, signature) {
            return Err(MessagingError::NotFound);
        }
        self.uploads
            .content(id)
            .await?
            .ok_or(MessagingError::NotFound)
    }

    /// Deletes the uploads older than `retention`; says how many.
    pub async fn prune_uploads(&self, retention: Duration) -> Result<u64, MessagingError> {
        let keep = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        self.uploads
            .prune(
                Utc::now()
                    .checked_sub_signed(keep)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            )
            .await
    }

    /// The attachments of a reply as the message keeps them, or every problem with them
    /// (at most [`MAX_ATTACHMENTS`]; uploads of the caller's company only; https links).
    pub(crate) async fn attachments(
        &self,
        caller: &Principal,
        wanted: &Attachments,
    ) -> Result<Result<Vec<Media>, Vec<FieldError>>, MessagingError> {
        let mut errors = Vec::new();
        if wanted.uploads.len() + wanted.links.len() > MAX_ATTACHMENTS {
            errors.push(FieldError::new(
                "media_ids",
                format!("a message carries at most {MAX_ATTACHMENTS} attachments (media_ids and media_urls together)"),
            ));
        }
        for (i, link) in wanted.links.iter().enumerate() {
            if let Err(why) = https_link(link) {
                errors.push(FieldError::new(format!("media_urls[{i}]"), why));
            }
        }
        // The caller's own company's files only: a superadmin, who has none, attaches links.
        let found = match caller.company_id {
            Some(company) if !wanted.uploads.is_empty() => {
                self.uploads
                    .find(omni_core::Scope::Company(company), &wanted.uploads)
                    .await?
            }
            _ => Vec::new(),
        };
        let mut media = Vec::with_capacity(wanted.uploads.len() + wanted.links.len());
        for (i, id) in wanted.uploads.iter().enumerate() {
            match found.iter().find(|u| u.id == *id) {
                Some(upload) => media.push(Media::uploaded(upload)),
                None => errors.push(FieldError::new(
                    format!("media_ids[{i}]"),
                    "is not an upload of your company (or it expired)",
                )),
            }
        }
        media.extend(wanted.links.iter().map(|l| Media::link(l)));
        Ok(if errors.is_empty() {
            Ok(media)
        } else {
            Err(errors)
        })
    }

    /// Where the provider fetches an attachment: an upload's signed URL under Omni's
    /// public base, valid for [`UPLOAD_LINK_TTL`]; a link as given.
    pub(crate) fn public_media_url(&self, media: &Media) -> String {
        match media.upload {
            Some(id) => {
                let ttl = i64::try_from(UPLOAD_LINK_TTL.as_secs()).unwrap_or(3600);
                let expires = Utc::now().timestamp() + ttl;
                format!(
                    "{}/media/{id}/content?expires={expires}&signature={}",
                    self.public_base_url,
                    self.links.sign(id, expires)
                )
            }
            None => media.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_links_are_attached() {
        assert!(https_link("https://cdn.example.com/a.pdf?x=1").is_ok());
        for bad in [
            "http://cdn.example.com/a.pdf",
            "https://",
            "https:///a.pdf",
            "https://user:pw@cdn.example.com/a.pdf",
            "https://cdn.example.com/a b.pdf",
            "ftp://cdn.example.com/a.pdf",
            "javascript:alert(1)",
        ] {
            assert!(https_link(bad).is_err(), "{bad}");
        }
        assert!(https_link(&format!("https://x.example/{}", "a".repeat(2048))).is_err());
    }
}
