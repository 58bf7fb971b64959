//! `/ticket-messages/webhook`: Twilio's webhook. The handler reads the request and maps
//! the answer; routing, the signature check and storing are the messaging use cases'.

use actix_web::http::header::ContentType;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use omni_messaging::{InboundOutcome, MessagingError, SignedWebhook, VerifiedWebhook};
use omni_twilio::{RawForm, SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, Webhook};
use utoipa::ToSchema;

use crate::client_addr;
use crate::error::ApiError;
use crate::state::AppState;

/// The form Twilio posts: an inbound message, or (with `MessageStatus`) a status
/// callback for a message we sent. Other fields Twilio adds are accepted and ignored.
#[derive(Debug, ToSchema)]
#[allow(non_snake_case, dead_code)] // Twilio's field names; documents the form only.
pub struct TwilioWebhookForm {
    /// Twilio's id of the message: up to 64 letters and digits.
    #[schema(
        example = "SM0123456789abcdef0123456789abcdef",
        pattern = r"^[A-Za-z0-9]{1,64}$"
    )]
    MessageSid: String,
    /// The sender: the customer (`whatsapp:+55…`) or, on a status callback, our number;
    /// E.164, with `whatsapp:` for WhatsApp.
    #[schema(
        example = "whatsapp:+5511987650001",
        pattern = r"^(whatsapp:)?\+[1-9][0-9]{6,14}$"
    )]
    From: String,
    /// The recipient: our number, or the customer on a status callback.
    #[schema(
        example = "whatsapp:+14155238886",
        pattern = r"^(whatsapp:)?\+[1-9][0-9]{6,14}$"
    )]
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

/// Twilio's webhook: inbound messages and status callbacks, form-encoded and signed.
/// Answers `<Response/>` once the message is stored — before any triage or sending, which
/// are durable jobs.
#[utoipa::path(post, path = "/ticket-messages/webhook", tag = "messages",
    params(("X-Twilio-Signature" = String, Header, min_length = 1, pattern = r"^[\t -~]*[!-~][\t -~]*$",
        description = "Twilio's HMAC-SHA1 signature of the URL and form (base64): required, printable ASCII")),
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
    let signature = header(&req, SIGNATURE_HEADER)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(format!("the {SIGNATURE_HEADER} header is required"))
        })?;
    if req.content_type() != "application/x-www-form-urlencoded" {
        return Err(bad_request(
            "the body must be a form (application/x-www-form-urlencoded)",
        ));
    }
    let raw = RawForm::decode(&body);
    let number = raw.our_number().map_err(bad_request)?;
    // The signature is over the URL Twilio called: our public base URL and this path.
    let path = req
        .uri()
        .path_and_query()
        .map_or(req.path(), |pq| pq.as_str());
    let url = format!("{}{path}", state.config.http.public_base_url);
    let signed = SignedWebhook {
        url: &url,
        body: &body,
        signature,
        signing_settings: header(&req, SIGNATURE_SETTINGS_HEADER),
    };
    let from = match state.messaging.authenticate(&number, &signed).await {
        Ok(from) => from,
        Err(MessagingError::Refused(why)) => return Err(refused(&state, &req, why, &url)),
        Err(e) => return Err(e.into()),
    };
    // Only webhooks Twilio really sent count against the integration's quota: forgeries
    // naming a victim's number cannot make its real deliveries fail.
    state.limits.webhook(from.integration().id.get())?;
    tracing::Span::current().record("company_id", from.integration().company_id.get());
    match raw
        .into_text()
        .map_err(bad_request)?
        .parse()
        .map_err(bad_request)?
    {
        Webhook::Inbound(m) => {
            let outcome = state.messaging.accept_inbound(&from, m.into()).await?;
            log_inbound(&from, &outcome);
        }
        Webhook::Status(s) => {
            metrics::counter!("omni_webhooks_total", "outcome" => "status_callback").increment(1);
            let word = s.status.clone();
            let applied = match s.into_provider_status() {
                Some(report) => state.messaging.apply_status(&from, report).await?,
                None => None,
            };
            tracing::debug!(company = from.integration().company_id.get(), status = %word, applied = applied.is_some(), "status callback");
        }
    }
    Ok(HttpResponse::Ok()
        .content_type(ContentType(mime_xml()))
        .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"))
}

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn bad_request(e: impl ToString) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// An unknown number and a bad signature get the same answer, so that outsiders cannot
/// learn which numbers Omni hosts; both spend the sender's budget of invalid webhooks.
fn refused(
    state: &AppState,
    req: &HttpRequest,
    why: omni_messaging::WebhookRefusal,
    url: &str,
) -> ApiError {
    metrics::counter!("omni_webhooks_total", "outcome" => why.as_str()).increment(1);
    tracing::warn!(%url, reason = why.as_str(), "webhook refused: {why}");
    match state.limits.invalid_webhook(client_addr::limit_key_of(req)) {
        Err(too_many) => too_many,
        Ok(()) => ApiError::Forbidden("the webhook signature is not valid".into()),
    }
}

fn log_inbound(from: &VerifiedWebhook, outcome: &InboundOutcome) {
    let company = from.integration().company_id.get();
    match outcome {
        InboundOutcome::Stored {
            message,
            ticket,
            new_ticket,
        } => tracing::info!(
            company,
            ticket = ticket.id.get(),
            message = message.id.get(),
            new_ticket,
            "inbound message stored"
        ),
        InboundOutcome::Duplicate { message_id } => {
            metrics::counter!("omni_webhooks_total", "outcome" => "duplicate").increment(1);
            tracing::info!(
                company,
                message = message_id.get(),
                "duplicate delivery ignored"
            );
        }
    }
}

fn mime_xml() -> actix_web::mime::Mime {
    "text/xml; charset=utf-8"
        .parse()
        .unwrap_or(actix_web::mime::TEXT_XML)
}
