//! The one error type of the HTTP layer and its `application/problem+json` rendering
//! (RFC 9457). Every failure a client can see goes through here.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, ResponseError};
use omni_core::FieldError;
use omni_store_postgres::StoreError;
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
    /// No such resource, or not the caller's to see.
    #[error("not found")]
    NotFound,
    /// The body is larger than the route accepts.
    #[error("the request body is too large")]
    PayloadTooLarge,
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
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    fn kind_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("urn:omni:problem:bad-request", "Bad request"),
            ApiError::Validation(_) => ("urn:omni:problem:validation", "Invalid request"),
            ApiError::NotFound => ("urn:omni:problem:not-found", "Not found"),
            ApiError::PayloadTooLarge => {
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
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
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
        let problem = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors),
                _ => None,
            },
        };
        let body = serde_json::to_string(&problem)
            .unwrap_or_else(|_| format!(r#"{{"status":{}}}"#, status.as_u16()));
        HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "application/problem+json"))
            .body(body)
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
