use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use omni_identity::{Principal, Session};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a route and their session. Any route that takes it refuses
/// a missing, malformed, forged, expired or revoked token, or one whose user no longer
/// exists, with 401.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal, pub Session);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state is missing".into()))?;
            let session = state.identity.authenticate(&token?).await?;
            admit(&state, &session)?;
            Ok(AuthUser(session.principal, session))
        })
    }
}

/// What every authenticated request goes through once its session is known, whatever
/// carried the credentials: the caller's API rate limit, and their name in the request's
/// span.
pub(crate) fn admit(state: &AppState, session: &Session) -> Result<(), ApiError> {
    let principal = session.principal;
    state.limits.api(principal.user_id.get())?;
    let span = tracing::Span::current();
    span.record("user_id", principal.user_id.get());
    if let Some(company) = principal.company_id {
        span.record("company_id", company.get());
    }
    Ok(())
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    bearer_token_if_any(req)?
        .ok_or_else(|| ApiError::Unauthorized("an Authorization: Bearer token is required".into()))
}

/// The token of an `Authorization: Bearer <token>` header, `None` with no such header;
/// a malformed one is refused.
pub(crate) fn bearer_token_if_any(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is malformed".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`".into(),
        )),
    }
}
