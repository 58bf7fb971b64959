//! `/ticket-messages`: a ticket's messages and agents' answers.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use garde::Validate;
use omni_core::UploadId;
use omni_core::{MessageId, TicketId};
use omni_messaging::{
    Attachment, Attachments, IdempotencyKey, ReplyBody, TemplateMessage, TicketMessage,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
use crate::schemas::{HttpsUrlText, MessageText};
use crate::state::AppState;
use crate::validate::ValidJson;

/// `GET /ticket-messages?ticket_id=&limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The ticket whose messages to list.
    pub ticket_id: i64,
    /// Rows per page, 1 to 200 (50 when omitted).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where the page starts.
    pub cursor: Option<String>,
}

/// `POST /ticket-messages`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// The ticket answered.
    #[garde(range(min = 1))]
    #[serde(default)]
    #[schema(required, minimum = 1)]
    pub ticket_id: i64,
    /// The text (at most 1600 characters: one WhatsApp message). Required unless
    /// `template` is given.
    #[garde(skip)]
    #[schema(value_type = Option<MessageText>)]
    pub content: Option<String>,
    /// An approved WhatsApp template (`GET /integrations/:id/templates`) with a value for
    /// each of its variables, in place of `content`: the way to write when the 24-hour
    /// window is closed.
    #[garde(skip)]
    pub template: Option<TemplateMessage>,
    /// Files uploaded with `POST /media` to attach (with `media_urls`, at most 10).
    #[garde(skip)]
    #[serde(default)]
    #[schema(max_items = 10)]
    pub media_ids: Vec<i64>,
    /// Public https URLs of files to attach (with `media_ids`, at most 10).
    #[garde(skip)]
    #[serde(default)]
    #[schema(max_items = 10, value_type = Vec<HttpsUrlText>)]
    pub media_urls: Vec<String>,
}

/// A ticket's messages, oldest first.
#[utoipa::path(get, path = "/ticket-messages", tag = "messages", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of messages, oldest first", body = PageResponse<TicketMessage>),
        (status = 404, description = "No such ticket"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let messages = state
        .messaging
        .list(&caller.0, TicketId::new(query.ticket_id), page)
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(messages, |m| m)))
}

/// One message.
#[utoipa::path(get, path = "/ticket-messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    responses((status = 200, description = "The message", body = TicketMessage)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let message = state.messaging.get(&caller.0, MessageId::new(*id)).await?;
    Ok(HttpResponse::Ok().json(message))
}

/// An agent's answer — text, attachments (`media_ids` of `POST /media`, https
/// `media_urls`), or an approved WhatsApp `template` — stored `queued`, sent by the
/// worker. With an `Idempotency-Key` header, a retried request answers with the first
/// message (and `Idempotent-Replayed`).
#[utoipa::path(post, path = "/ticket-messages", tag = "messages", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255,
        pattern = r"^[ -~]*[!-~][ -~]*$",
        description = "Makes a retried request answer with the first one's message: printable ASCII and spaces")),
    request_body = ReplyRequest,
    responses(
        (status = 201, description = "The message, queued for sending", body = TicketMessage,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers a retry"))),
        (status = 404, description = "No such ticket"),
        (status = 422, description = "Invalid fields: no content, or a template that is not approved for the ticket's WhatsApp number, or whose variables are missing (each named `template.variables.<name>`)"),
        (status = 502, description = "Twilio's Content API did not answer (a template could not be checked)"),
        (status = 409, description = "The ticket is closed, or the company has no Twilio integration; or (problem type `urn:omni:problem:window-closed`, with `window_closed_at`) WhatsApp's 24-hour customer-service window is closed and only an approved template may go out"),
    ))]
pub async fn reply(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
    body: ValidJson<ReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| omni_messaging::InvalidIdempotencyKey)
                .and_then(IdempotencyKey::from_client)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
    };
    let ticket_id = TicketId::new(body.0.ticket_id);
    let attachments = Attachments {
        uploads: body
            .0
            .media_ids
            .iter()
            .copied()
            .map(UploadId::new)
            .collect(),
        links: body.0.media_urls,
    };
    let (message, replayed) = match ReplyBody::parse(body.0.content, body.0.template, attachments)
        .map_err(ApiError::Validation)?
    {
        ReplyBody::Text {
            content,
            attachments,
        } => {
            state
                .messaging
                .reply(&caller.0, ticket_id, content.as_deref(), &attachments, key)
                .await?
        }
        ReplyBody::Template(template) => {
            let ticket = state.tickets.get(&caller.0, ticket_id).await?;
            state
                .messaging
                .send_template(&caller.0, &ticket, template, key)
                .await?
        }
    };
    let mut response = HttpResponse::Created();
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(response.json(message))
}

/// Sends a failed (or never sent) outbound message again.
#[utoipa::path(post, path = "/ticket-messages/{id}/send", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The message's id")),
    responses(
        (status = 202, description = "The message, queued again", body = TicketMessage),
        (status = 409, description = "The message is not an outbound one that failed; or (problem type `urn:omni:problem:window-closed`, with `window_closed_at`) WhatsApp's 24-hour customer-service window is closed"),
    ))]
pub async fn resend(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let message = state
        .messaging
        .resend(&caller.0, MessageId::new(*id))
        .await?;
    Ok(HttpResponse::Accepted().json(message))
}

/// An attachment of a message (a customer's photo, voice note or document), streamed from
/// the provider with the integration's credentials as it arrives.
#[utoipa::path(get, path = "/ticket-messages/{id}/media/{n}", tag = "messages", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "The message's id"),
        ("n" = u32, Path, minimum = 0, maximum = 9, description = "The attachment's number in the message's `media`, from 0"),
    ),
    responses(
        (status = 200, description = "The file, with the provider's `Content-Type` and `Content-Length`",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 302, description = "An agent's link: the file is at `Location`"),
        (status = 404, description = "No such message, or no such attachment, or the provider (or Omni's upload retention) no longer has it, or it is not at the provider under the integration's account (Omni fetches nothing else)"),
        (status = 409, description = "The company has no enabled integration to fetch it with, or Twilio refused the integration's credentials"),
        (status = 502, description = "The provider did not serve it, or it is larger than `OMNI_TWILIO__MEDIA_MAX_BYTES`"),
    ))]
pub async fn media(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<(i64, u32)>,
) -> Result<HttpResponse, ApiError> {
    let (id, n) = path.into_inner();
    let media = state
        .messaging
        .media(&caller.0, MessageId::new(id), n as usize)
        .await?;
    Ok(match media {
        Attachment::Here(body) => crate::routes::media::file_response(body, None),
        // An agent's link: the file is at its own public URL.
        Attachment::Elsewhere(url) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .finish(),
    })
}
