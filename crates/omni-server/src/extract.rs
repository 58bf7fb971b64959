//! Extractor settings: every way a request can fail to parse answers problem+json.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
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

/// Path-parameter settings: a malformed id is a resource that does not exist.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| path_error(err).into())
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

fn path_error(_err: PathError) -> ApiError {
    ApiError::NotFound
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
