//! `/media`: files agents upload to send, and the signed, expiring URLs Twilio fetches
//! them from; and the one way any attachment goes out to a client.

use actix_multipart::Multipart;
use actix_web::body::SizedStream;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
    HeaderValue,
};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use omni_core::UploadId;
use omni_messaging::{MAX_FILE_BYTES, MediaBody, NewUpload, Upload, UploadRefused};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// Room for a multipart body's boundaries and headers around the largest file.
const ENVELOPE: u64 = 64 * 1024;

/// `POST /media`: a multipart form of one part, `file`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "documents the form; the handler reads the stream")]
pub struct UploadForm {
    /// The file, with its `Content-Type` (a type WhatsApp takes: JPEG or PNG images up to
    /// 5 MiB; AAC, AMR, MP4, MPEG or OGG audio, MP4 or 3GPP video, PDF, Office or plain
    /// text documents up to 16 MiB) and its filename.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
}

/// Types a browser may show in place: anything else (HTML, SVG, scripts) is offered as a
/// download, so a file never runs as a page of Omni's origin.
fn shown_inline(content_type: &str) -> bool {
    let essence = omni_messaging::mime_essence(content_type);
    (essence.starts_with("image/") && essence != "image/svg+xml")
        || essence.starts_with("audio/")
        || essence.starts_with("video/")
        || essence == "application/pdf"
}

/// A file as a response: its type (never sniffed), its length when known, shown in place
/// only when harmless, sandboxed, private to the caller's cache.
pub(crate) fn file_response(media: MediaBody, filename: Option<&str>) -> HttpResponse {
    let content_type = media
        .content_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let inline = content_type.to_str().is_ok_and(shown_inline);
    let parameters = match filename {
        Some(name) if name.is_ascii() => vec![DispositionParam::Filename(name.to_owned())],
        Some(name) => vec![DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.as_bytes().to_vec(),
        })],
        None => Vec::new(),
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(ContentDisposition {
            disposition: if inline {
                DispositionType::Inline
            } else {
                DispositionType::Attachment
            },
            parameters,
        })
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; sandbox",
        ))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"));
    match media.content_length {
        Some(length) => response.body(SizedStream::new(length, media.body)),
        None => response.streaming(media.body),
    }
}

/// A form part that is not the one file: refused, as JSON bodies refuse unknown fields.
fn stray_part(name: Option<&str>) -> ApiError {
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    ApiError::Validation(vec![omni_core::FieldError::new(
        name,
        "is not a part of this form: send the file alone, in the part named `file`",
    )])
}

/// Reads the form's one part, `file`, refusing a type WhatsApp does not take as soon as
/// its headers arrive and a file over its limit as soon as the limit is passed.
async fn read_file(
    mut form: Multipart,
) -> Result<Result<(String, Option<String>, bytes::Bytes), UploadRefused>, ApiError> {
    let bad_form = |e: actix_multipart::MultipartError| {
        ApiError::BadRequest(format!("the multipart body could not be read: {e}"))
    };
    let mut file = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(bad_form)?;
        if field.name() != Some("file") || file.is_some() {
            return Err(stray_part(field.name()));
        }
        // A part without a type is text/plain (RFC 7578, 4.4).
        let content_type = field
            .content_type()
            .map(ToString::to_string)
            .unwrap_or_else(|| "text/plain".into());
        let filename = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let kind = match NewUpload::admit(&content_type, 0) {
            Ok(kind) => kind,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.next().await {
            bytes.extend_from_slice(&chunk.map_err(bad_form)?);
            if bytes.len() as u64 > kind.max_bytes() {
                return Ok(Err(UploadRefused::TooLarge {
                    limit: kind.max_bytes(),
                }));
            }
        }
        file = Some((content_type, filename, bytes.freeze()));
    }
    Ok(file.ok_or(UploadRefused::Empty))
}

/// Uploads a file to attach to replies (`media_ids` of `POST /ticket-messages`): kept for
/// the upload retention (`OMNI_WORKER__UPLOAD_RETENTION_DAYS`, 30 days by default).
#[utoipa::path(post, path = "/media", tag = "messages", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The upload", body = Upload),
        (status = 400, description = "The body is not a readable multipart form"),
        (status = 413, description = "The file is over its type's limit (5 MiB for images, 16 MiB for the rest); the detail names it"),
        (status = 415, description = "The file's type is not one WhatsApp takes (the detail lists those it does), or the body is not multipart/form-data"),
        (status = 409, description = "The company's uploads would hold more than its quota (`OMNI_WORKER__UPLOAD_QUOTA_MB`)"),
        (status = 422, description = "No part named `file`, an empty one, or another part beside it"),
    ))]
pub async fn upload(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(ApiError::UnsupportedMediaType(
            "send multipart/form-data with the file in a part named `file`".into(),
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FILE_BYTES + ENVELOPE) {
        return Err(ApiError::PayloadTooLarge(format!(
            "the request body is larger than the {}-byte limit of a file and its form",
            MAX_FILE_BYTES + ENVELOPE
        )));
    }
    let company = caller
        .0
        .company_id
        .ok_or_else(|| ApiError::Forbidden("uploads belong to a company".into()))?;
    let form = Multipart::new(req.headers(), payload);
    let file = read_file(form)
        .await?
        .and_then(|(content_type, filename, bytes)| {
            NewUpload::parse(company, &content_type, filename.as_deref(), bytes)
        });
    let upload = state.messaging.upload(&caller.0, file).await?;
    Ok(HttpResponse::Created().json(upload))
}

/// `GET /media/:id/content?expires=&signature=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// When the URL stops working (Unix time).
    pub expires: Option<i64>,
    /// Omni's signature of the upload and the expiry.
    pub signature: Option<String>,
}

/// An uploaded file, for whoever holds its signed URL until it expires (Twilio, fetching a
/// reply's attachment). No token: the URL is the permission. Anything else is a 404.
#[utoipa::path(get, path = "/media/{id}/content", tag = "messages",
    params(("id" = i64, Path, description = "The upload's id"), SignedQuery),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such upload, or the signature is wrong or expired"),
    ))]
pub async fn content(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<SignedQuery>,
) -> Result<HttpResponse, ApiError> {
    // Whatever is missing or wrong, the answer is the same 404.
    let (Some(expires), Some(signature)) = (query.expires, query.signature.as_deref()) else {
        return Err(ApiError::NotFound);
    };
    let (upload, bytes) = state
        .messaging
        .signed_upload(UploadId::new(*id), expires, signature, chrono::Utc::now())
        .await?;
    Ok(file_response(
        MediaBody::whole(&upload.content_type, bytes),
        upload.filename.as_deref(),
    ))
}
