//! `/ticket-messages`: a ticket's messages, agents' answers, and Twilio's webhook.

use actix_web::http::header::ContentType;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use garde::Validate;
use omni_core::{MessageId, TicketId};
use omni_messaging::{
    CustomerMessage, IdempotencyKey, InboundOutcome, Media, MessagingError, TicketMessage,
};
use omni_twilio::{
    RawForm, SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, SignatureAlgorithm, SignatureValidator,
    Webhook,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::AuthUser;
use crate::client_addr;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
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
    /// The text (at most 1600 characters: one WhatsApp message).
    #[garde(skip)]
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1600)]
    pub content: String,
}

/// The form Twilio posts: an inbound message, or (with `MessageStatus`) a status
/// callback for a message we sent. Other fields Twilio adds are accepted and ignored.
#[derive(Debug, ToSchema)]
#[allow(non_snake_case, dead_code)] // Twilio's field names; documents the form only.
pub struct TwilioWebhookForm {
    /// Twilio's id of the message.
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    MessageSid: String,
    /// The sender: the customer (`whatsapp:+55…`) or, on a status callback, our number.
    #[schema(example = "whatsapp:+5511987650001")]
    From: String,
    /// The recipient: our number, or the customer on a status callback.
    #[schema(example = "whatsapp:+14155238886")]
    To: String,
    /// The text.
    Body: Option<String>,
    /// How many `MediaUrl{n}`/`MediaContentType{n}` pairs follow.
    NumMedia: Option<String>,
    /// The customer's WhatsApp profile name.
    ProfileName: Option<String>,
    /// On a status callback: `queued`, `sent`, `delivered`, `read`, `failed`…
    MessageStatus: Option<String>,
    /// On a failed status callback: Twilio's error code.
    ErrorCode: Option<String>,
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

/// An agent's answer: stored `queued`, sent by the worker. With an `Idempotency-Key`
/// header, a retried request answers with the first message (and `Idempotent-Replayed`).
#[utoipa::path(post, path = "/ticket-messages", tag = "messages", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Makes a retried request answer with the first one's message")),
    request_body = ReplyRequest,
    responses(
        (status = 201, description = "The message, queued for sending", body = TicketMessage,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers a retry"))),
        (status = 404, description = "No such ticket"),
        (status = 409, description = "The ticket is closed, or the company has no Twilio integration"),
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
    let (message, replayed) = state
        .messaging
        .reply(
            &caller.0,
            TicketId::new(body.0.ticket_id),
            &body.0.content,
            key,
        )
        .await?;
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
        (status = 409, description = "The message is not an outbound one that failed"),
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

/// Twilio's webhook: inbound messages and status callbacks, form-encoded and signed.
/// Answers `<Response/>` once the message is stored — before any triage or sending, which
/// are durable jobs.
#[utoipa::path(post, path = "/ticket-messages/webhook", tag = "messages",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's HMAC-SHA1 signature of the URL and form")),
    request_body(content = TwilioWebhookForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Stored (or a duplicate, ignored)", content_type = "text/xml", body = String,
            example = json!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")),
        (status = 400, description = "No signature, not a form, or a form Twilio would not send (a correctly signed body that is not UTF-8 too)"),
        (status = 403, description = "The signature does not match, or no enabled integration has the number: the same answer"),
        (status = 413, description = "The body is larger than 64 KiB"),
        (status = 429, description = "Too many valid webhooks for this integration, or too many invalid ones from this address"),
        (status = 503, description = "The database is unavailable; Twilio will retry"),
    ))]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("the {SIGNATURE_HEADER} header is required")))?
        .to_owned();
    if req.content_type() != "application/x-www-form-urlencoded" {
        return Err(ApiError::BadRequest(
            "the body must be a form (application/x-www-form-urlencoded)".into(),
        ));
    }
    let raw = RawForm::decode(&body);
    let number = raw
        .our_number()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let client = client_addr::limit_key_of(&req);
    // An unknown number and a bad signature get the same answer, so that outsiders cannot
    // learn which numbers Omni hosts; both spend the sender's budget of invalid webhooks.
    let refuse = |why: &'static str| -> ApiError {
        metrics::counter!("omni_webhooks_total", "outcome" => why).increment(1);
        match state.limits.invalid_webhook(client) {
            Err(too_many) => too_many,
            Ok(()) => ApiError::Forbidden("the webhook signature is not valid".into()),
        }
    };
    let integration = match state.messaging.route(&number).await {
        Ok(integration) => integration,
        Err(MessagingError::NotFound) => {
            tracing::info!(number = %number, "webhook refused: no enabled integration has the number");
            return Err(refuse("unknown_number"));
        }
        Err(e) => return Err(e.into()),
    };

    // The signature is over the URL Twilio called: our public base URL and this path.
    let url = format!(
        "{}{}",
        state.config.http.public_base_url,
        req.uri()
            .path_and_query()
            .map_or("/ticket-messages/webhook", |pq| pq.as_str())
    );
    let settings = req
        .headers()
        .get(SIGNATURE_SETTINGS_HEADER)
        .and_then(|v| v.to_str().ok());
    let secrets = state.integrations.open_all(&integration)?;
    let valid = match (
        SignatureAlgorithm::from_settings_header(settings),
        secrets.get("auth_token"),
    ) {
        (Some(algorithm), Some(token)) => SignatureValidator::new(token.expose())
            .validate_form(&url, &raw.0, &signature, algorithm),
        _ => false,
    };
    if !valid {
        tracing::warn!(integration = integration.id.get(), company = integration.company_id.get(), %url, "webhook refused: the signature does not match");
        return Err(refuse("bad_signature"));
    }
    // Only webhooks Twilio really sent count against the integration's quota: forgeries
    // naming a victim's number cannot make its real deliveries fail.
    state.limits.webhook(integration.id.get())?;
    tracing::Span::current().record("company_id", integration.company_id.get());
    let form = raw
        .into_text()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;

    match form
        .parse()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
    {
        Webhook::Inbound(m) => {
            let media = m
                .media
                .into_iter()
                .map(|x| Media {
                    url: x.url,
                    content_type: x.content_type,
                })
                .collect();
            let outcome = state
                .messaging
                .receive(
                    &integration,
                    CustomerMessage {
                        message_sid: m.message_sid,
                        customer: m.from,
                        customer_name: m.profile_name,
                        whatsapp: m.whatsapp,
                        body: m.body,
                        media,
                    },
                )
                .await?;
            match outcome {
                InboundOutcome::Stored {
                    message,
                    ticket,
                    new_ticket,
                } => {
                    tracing::info!(
                        company = integration.company_id.get(),
                        ticket = ticket.id.get(),
                        message = message.id.get(),
                        new_ticket,
                        "inbound message stored"
                    );
                }
                InboundOutcome::Duplicate { message_id } => {
                    metrics::counter!("omni_webhooks_total", "outcome" => "duplicate").increment(1);
                    tracing::info!(
                        company = integration.company_id.get(),
                        message = message_id.get(),
                        "duplicate delivery ignored"
                    );
                }
            }
        }
        Webhook::Status(s) => {
            metrics::counter!("omni_webhooks_total", "outcome" => "status_callback").increment(1);
            let applied = state
                .messaging
                .report(
                    &integration,
                    s.message_sid,
                    &s.status,
                    s.error_code,
                    s.error_message,
                )
                .await?;
            tracing::debug!(company = integration.company_id.get(), status = %s.status, applied = applied.is_some(), "status callback");
        }
    }
    Ok(HttpResponse::Ok()
        .content_type(ContentType(mime_xml()))
        .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"))
}

fn mime_xml() -> actix_web::mime::Mime {
    "text/xml; charset=utf-8"
        .parse()
        .unwrap_or(actix_web::mime::TEXT_XML)
}
