//! Extractor settings: every way a request can fail to parse answers problem+json.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{HttpRequest, web};
use omni_core::FieldError;

use crate::error::ApiError;

/// JSON bodies larger than this are refused with 413.
pub const JSON_LIMIT: usize = 64 * 1024;

/// JSON body settings: size limit, and errors as problem documents.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_LIMIT)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

/// Query-string settings: errors as problem documents.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into())
}

/// Path-parameter settings: a malformed id (`/tickets/abc`) is a 422 naming the parameter —
/// the client wrote something that cannot be an id, which is not the same as an id nobody
/// has.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| path_error(req).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than the {}-byte limit",
                crate::extract::JSON_LIMIT
            ))
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".into(),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::Validation(vec![FieldError::new("body", e.to_string())])
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

fn query_error(err: QueryPayloadError) -> ApiError {
    match err {
        QueryPayloadError::Deserialize(e) => {
            ApiError::Validation(vec![FieldError::new("query", e.to_string())])
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

fn path_error(req: &HttpRequest) -> ApiError {
    // Every parameter of this API's paths is a whole number: the first that is not one is
    // the one to name.
    let name = req
        .match_info()
        .iter()
        .find(|(_, value)| value.parse::<i64>().is_err())
        .map_or("path", |(name, _)| name);
    ApiError::Validation(vec![FieldError::new(
        name,
        "must be a whole number (an id)",
    )])
}

/// The answer for routes that do not exist.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The answer for a known route called with a method it does not serve, naming those it
/// does (RFC 9110 §15.5.6: a 405 carries `Allow`).
pub fn method_not_allowed(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<Result<actix_web::HttpResponse, ApiError>> + Clone + 'static {
    move || std::future::ready(Err(ApiError::MethodNotAllowed(allow)))
}
