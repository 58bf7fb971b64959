//! The request span: tracing-actix-web's fields plus `company_id` and `user_id`, filled in
//! once the caller is known, so every log line of a request names its tenant and user.
//!
//! Built here rather than with `tracing_actix_web::root_span!` for two fields: the client
//! address is the one the rate limits use (the macro believes any `X-Forwarded-For`), and
//! the target has the values of `token` and `ticket` query parameters redacted (a
//! WebSocket credential in a URL must not reach the logs).

use std::borrow::Cow;

use actix_web::Error;
use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// Query parameters whose values never reach a log line.
const SECRET_PARAMS: &[&str] = &["token", "ticket", "access_token"];

/// Builds request spans with room for the caller's identity.
pub struct OmniRootSpan;

impl RootSpanBuilder for OmniRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let method = request.method().as_str();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let client = crate::client_addr::of_service_request(request)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let target = redacted_target(request.uri());
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.client_ip = %client,
            http.user_agent = %user_agent,
            http.target = %target,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            company_id = tracing::field::Empty,
            user_id = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The path and query with the values of `SECRET_PARAMS` replaced by `[redacted]`.
pub fn redacted_target(uri: &actix_web::http::Uri) -> Cow<'_, str> {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return Cow::Borrowed(path);
    };
    let redacted: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            let secret = SECRET_PARAMS.iter().any(|s| percent_decoded_eq(name, s));
            if secret {
                Cow::Owned(format!("{name}=[redacted]"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    Cow::Owned(format!("{path}?{}", redacted.join("&")))
}

/// Whether a query parameter's name, percent-decoded and case-folded, is `wanted` (so that
/// `%74oken` or `TOKEN` are no way around the redaction).
fn percent_decoded_eq(name: &str, wanted: &str) -> bool {
    let decoded: String = form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default();
    decoded.eq_ignore_ascii_case(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_query_are_redacted() {
        let uri = |s: &str| s.parse::<actix_web::http::Uri>().unwrap();
        assert_eq!(redacted_target(&uri("/ws")), "/ws");
        assert_eq!(
            redacted_target(&uri("/ws?token=eyJ.abc.def&since=4")),
            "/ws?token=[redacted]&since=4"
        );
        assert_eq!(
            redacted_target(&uri("/ws?since=4&ticket=abc&%74oken=x&TOKEN=y")),
            "/ws?since=4&ticket=[redacted]&%74oken=[redacted]&TOKEN=[redacted]"
        );
        assert_eq!(
            redacted_target(&uri("/tickets?q=token")),
            "/tickets?q=token"
        );
    }
}
