//! The one error type of the HTTP layer and its `application/problem+json` rendering
//! (RFC 9457). Every failure a client can see goes through here.

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use omni_core::FieldError;
use omni_identity::IdentityError;
use omni_messaging::{MediaError, MessagingError, TemplateError, UploadRefused};
use omni_store_postgres::StoreError;
use omni_tenancy::TenancyError;
use omni_ticketing::TicketingError;
use serde::Serialize;

/// A failure of a request, as the client should learn of it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (unparsable JSON, a bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// The request parsed but some fields are invalid; each is named.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// No valid credentials: a missing, malformed, forged or expired token.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the caller's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the current state (a taken e-mail, a rule it breaks).
    #[error("{0}")]
    Conflict(String),
    /// A conflict with members that tell the client how to proceed (e.g. the statuses a
    /// ticket may move to), added to the problem document.
    #[error("{0}")]
    ConflictWith(String, serde_json::Map<String, serde_json::Value>),
    /// A free-form reply outside the channel's customer-service window (WhatsApp's 24
    /// hours since the customer last wrote): only an approved template may go out, so the
    /// agent UI offers templates. A 409 of its own kind, with `window_closed_at`.
    #[error("{detail}")]
    ReplyWindowClosed {
        /// What went wrong, for people.
        detail: String,
        /// When the window closed; `None` when the customer never wrote.
        closed_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// No such resource, or not the caller's to see.
    #[error("not found")]
    NotFound,
    /// A 404 that says which part is missing (an attachment of a message that exists).
    #[error("{0}")]
    NotFoundBecause(String),
    /// A provider Omni fetched from on the caller's behalf failed or sent what Omni does
    /// not pass on (an attachment over the size limit).
    #[error("{0}")]
    BadGateway(String),
    /// The route exists but not with this method; it answers these (the `Allow` header,
    /// e.g. `GET, PUT`).
    #[error("this route answers {0} only")]
    MethodNotAllowed(&'static str),
    /// Too many attempts; retry after this many seconds.
    #[error("too many attempts; retry in {0} s")]
    TooManyRequests(u64),
    /// The body (or the file in it) is larger than the route accepts; says the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body's media type is not one the route reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A dependency (the database) cannot serve the request now; retrying later may work.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged in full, shown to the client as a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The problem document (RFC 9457) clients receive.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(title = "Problem")]
pub struct Problem<'a> {
    /// What kind of problem: `urn:omni:problem:<kind>`, stable for clients to match on.
    #[serde(rename = "type")]
    #[schema(example = "urn:omni:problem:validation")]
    kind: &'static str,
    /// A short, human summary of the kind.
    #[schema(example = "Invalid request")]
    title: &'static str,
    /// The HTTP status code.
    #[schema(example = 422)]
    status: u16,
    /// What went wrong with this request.
    detail: String,
    /// On a 422: each invalid field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>)]
    errors: Option<&'a [FieldError]>,
    /// Members some problems add (e.g. `allowed` statuses on a 409).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    fn kind_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("urn:omni:problem:bad-request", "Bad request"),
            ApiError::Validation(_) => ("urn:omni:problem:validation", "Invalid request"),
            ApiError::Unauthorized(_) => ("urn:omni:problem:unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("urn:omni:problem:forbidden", "Forbidden"),
            ApiError::Conflict(_) | ApiError::ConflictWith(..) => {
                ("urn:omni:problem:conflict", "Conflict")
            }
            ApiError::ReplyWindowClosed { .. } => (
                "urn:omni:problem:window-closed",
                "Outside the customer-service window",
            ),
            ApiError::NotFound | ApiError::NotFoundBecause(_) => {
                ("urn:omni:problem:not-found", "Not found")
            }
            ApiError::BadGateway(_) => ("urn:omni:problem:bad-gateway", "Bad gateway"),
            ApiError::MethodNotAllowed(_) => {
                ("urn:omni:problem:method-not-allowed", "Method not allowed")
            }
            ApiError::TooManyRequests(_) => {
                ("urn:omni:problem:too-many-requests", "Too many requests")
            }
            ApiError::PayloadTooLarge(_) => {
                ("urn:omni:problem:payload-too-large", "Payload too large")
            }
            ApiError::UnsupportedMediaType(_) => (
                "urn:omni:problem:unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Unavailable(_) => ("urn:omni:problem:unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("urn:omni:problem:internal", "Internal server error"),
        }
    }

    fn detail(&self) -> String {
        match self {
            // The cause may hold SQL or infrastructure details: it goes to the log only.
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            ApiError::Unavailable(_) => "a dependency is unavailable; retry later".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_)
            | ApiError::ConflictWith(..)
            | ApiError::ReplyWindowClosed { .. } => StatusCode::CONFLICT,
            ApiError::NotFound | ApiError::NotFoundBecause(_) => StatusCode::NOT_FOUND,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "request failed"),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "dependency unavailable")
            }
            _ => {}
        }
        let (kind, title) = self.kind_and_title();
        let window = match self {
            ApiError::ReplyWindowClosed { closed_at, .. } => {
                let mut extra = serde_json::Map::new();
                extra.insert("window_closed_at".into(), serde_json::json!(closed_at));
                Some(extra)
            }
            _ => None,
        };
        let problem = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors),
                _ => None,
            },
            extra: match self {
                ApiError::ConflictWith(_, extra) => Some(extra),
                _ => window.as_ref(),
            },
        };
        let body = serde_json::to_string(&problem)
            .unwrap_or_else(|_| format!(r#"{{"status":{}}}"#, status.as_u16()));
        let mut response = HttpResponse::build(status);
        response.insert_header((CONTENT_TYPE, "application/problem+json"));
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::TooManyRequests(secs) = self {
            response.insert_header((RETRY_AFTER, secs.to_string()));
        }
        if matches!(self, ApiError::Unavailable(_)) {
            response.insert_header((RETRY_AFTER, "1"));
        }
        if let ApiError::MethodNotAllowed(allow) = self {
            response.insert_header((ALLOW, *allow));
        }
        response.body(body)
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::InvalidCredentials => ApiError::Unauthorized(e.to_string()),
            IdentityError::Unauthenticated(why) => ApiError::Unauthorized(why.into()),
            IdentityError::Forbidden(why) => ApiError::Forbidden(why.into()),
            IdentityError::RegistrationClosed => ApiError::Forbidden(e.to_string()),
            IdentityError::NotFound => ApiError::NotFound,
            IdentityError::EmailTaken | IdentityError::LastAdmin => {
                ApiError::Conflict(e.to_string())
            }
            IdentityError::Conflict(why) => ApiError::Conflict(why.into()),
            IdentityError::Validation(errors) => ApiError::Validation(errors),
            IdentityError::Unavailable(cause) => ApiError::Unavailable(cause),
            IdentityError::Unknown(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<TenancyError> for ApiError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::NotFound => ApiError::NotFound,
            TenancyError::Forbidden(why) => ApiError::Forbidden(why.into()),
            TenancyError::Conflict(why) => ApiError::Conflict(why.into()),
            TenancyError::Validation(errors) => ApiError::Validation(errors),
            TenancyError::Unavailable(cause) => ApiError::Unavailable(cause),
            e @ TenancyError::MissingSecret(_) => ApiError::Internal(e.to_string()),
            TenancyError::Unknown(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<omni_reports::ReportError> for ApiError {
    fn from(e: omni_reports::ReportError) -> Self {
        use omni_reports::ReportError;
        match e {
            ReportError::Validation(errors) => ApiError::Validation(errors),
            ReportError::Forbidden(why) => ApiError::Forbidden(why.into()),
            ReportError::NotFound => ApiError::NotFound,
            ReportError::Unavailable(cause) => ApiError::Unavailable(cause),
            ReportError::Unknown(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<TicketingError> for ApiError {
    fn from(e: TicketingError) -> Self {
        match e {
            TicketingError::NotFound => ApiError::NotFound,
            TicketingError::Forbidden(why) => ApiError::Forbidden(why.into()),
            TicketingError::InvalidTransition { from, allowed, .. } => {
                let mut extra = serde_json::Map::new();
                extra.insert("current_status".into(), serde_json::json!(from));
                extra.insert("allowed".into(), serde_json::json!(allowed));
                ApiError::ConflictWith(e.to_string(), extra)
            }
            TicketingError::OpenTicketExists { existing } => {
                let mut extra = serde_json::Map::new();
                extra.insert("ticket_id".into(), serde_json::json!(existing));
                ApiError::ConflictWith(e.to_string(), extra)
            }
            TicketingError::Contended => ApiError::Conflict(e.to_string()),
            TicketingError::Validation(errors) => ApiError::Validation(errors),
            TicketingError::Unavailable(cause) => ApiError::Unavailable(cause),
            TicketingError::Unknown(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<MessagingError> for ApiError {
    fn from(e: MessagingError) -> Self {
        match e {
            MessagingError::NotFound => ApiError::NotFound,
            MessagingError::Forbidden(why) => ApiError::Forbidden(why.into()),
            MessagingError::TicketClosed
            | MessagingError::AlreadySent
            | MessagingError::InboundNotSent
            | MessagingError::KeyReused => ApiError::Conflict(e.to_string()),
            MessagingError::ReplyWindowClosed { closed_at } => ApiError::ReplyWindowClosed {
                detail: e.to_string(),
                closed_at,
            },
            MessagingError::Refused(_) => {
                ApiError::Forbidden("the webhook signature is not valid".into())
            }
            MessagingError::NoSuchMedia(_)
            | MessagingError::Media(MediaError::Gone | MediaError::Untrusted) => {
                ApiError::NotFoundBecause(e.to_string())
            }
            MessagingError::Media(MediaError::Refused(_)) => ApiError::Conflict(e.to_string()),
            MessagingError::Templates(TemplateError::Refused(_)) => {
                ApiError::Conflict(e.to_string())
            }
            MessagingError::Media(_) | MessagingError::Templates(_) => {
                ApiError::BadGateway(e.to_string())
            }
            MessagingError::NoChannel(_) | MessagingError::UploadQuota { .. } => {
                ApiError::Conflict(e.to_string())
            }
            MessagingError::Upload(UploadRefused::Type(_)) => {
                ApiError::UnsupportedMediaType(e.to_string())
            }
            MessagingError::Upload(UploadRefused::TooLarge { .. }) => {
                ApiError::PayloadTooLarge(e.to_string())
            }
            MessagingError::Upload(UploadRefused::Empty) => {
                ApiError::Validation(vec![FieldError::new("file", e.to_string())])
            }
            MessagingError::Validation(errors) => ApiError::Validation(errors),
            MessagingError::Unavailable(cause) => ApiError::Unavailable(cause),
            MessagingError::Unknown(cause) => ApiError::Internal(cause.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
