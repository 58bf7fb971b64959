//! `GET /ws`: a company's events as they happen, and the ones a client missed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use omni_core::CompanyId;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::hub::{Hub, Subscription};
use crate::state::AppState;

/// Frames larger than this from a client end the connection (clients send nothing but
/// control frames).
const MAX_FRAME: usize = 16 * 1024;
/// Events replayed per query.
const REPLAY_PAGE: i64 = 500;

/// `?token=&since=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// The access token, for browsers (which cannot set headers on a WebSocket).
    pub token: Option<String>,
    /// Replay every event after this id first.
    pub since: Option<i64>,
}

/// Upgrades to a WebSocket after checking the token (401 before any upgrade).
///
/// Frames are JSON events `{id, type, company_id, data, created_at}` of the caller's
/// company; with `since`, the ones after that id are replayed first.
#[utoipa::path(get, path = "/ws", tag = "realtime", security(("bearer" = []), ()),
    params(WsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake"),
        (status = 401, description = "No valid token in the header or `token`"),
        (status = 403, description = "A superadmin has no company's events"),
        (status = 422, description = "A malformed query parameter"),
    ))]
pub async fn connect(
    state: web::Data<AppState>,
    hub: web::Data<Arc<Hub>>,
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let token = header
        .or_else(|| query.token.clone())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("a token is required (Authorization: Bearer or ?token=)".into())
        })?;
    let principal = state.identity.authenticate(&token).await?;
    let company = principal.company_id.ok_or_else(|| {
        ApiError::Forbidden("events belong to a company; a superadmin has none".into())
    })?;
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stream = stream
        .max_frame_size(MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME);
    let hub = hub.get_ref().clone();
    let (subscription, cursor) = hub.subscribe(company);
    let settings = state.config.ws.clone();
    let since = query.since;
    actix_web::rt::spawn(async move {
        let reason = serve(
            &hub,
            company,
            subscription,
            cursor,
            since,
            session.clone(),
            stream,
            &settings,
        )
        .await;
        let _ = session.close(reason).await;
    });
    Ok(response)
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    hub: &Arc<Hub>,
    company: CompanyId,
    mut sub: Subscription,
    cursor: i64,
    since: Option<i64>,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    settings: &crate::config::WsConfig,
) -> Option<CloseReason> {
    let id = sub.id;
    let reason = async {
        let hello = json!({"type": "hello", "last_event_id": cursor}).to_string();
        session.text(hello).await.ok()?;
        let mut last_sent = cursor;
        if let Some(since) = since {
            let pruned = hub.log().pruned_through().await.unwrap_or(0);
            if since < pruned {
                let reset = json!({"type": "reset", "reason": "events after your cursor were pruned; reload", "last_event_id": cursor});
                session.text(reset.to_string()).await.ok()?;
            } else {
                let mut from = since;
                loop {
                    let page = hub.log().company_between(company, from, cursor, REPLAY_PAGE).await.ok()?;
                    for event in &page {
                        let frame = serde_json::to_string(event).ok()?;
                        session.text(frame).await.ok()?;
                        hub.stats.delivered.fetch_add(1, Ordering::Relaxed);
                        from = event.id.get();
                    }
                    if (page.len() as i64) < REPLAY_PAGE {
                        break;
                    }
                }
            }
        }
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval(settings.ping_interval);
        ping.tick().await;
        loop {
            tokio::select! {
                frame = sub.frames.recv() => match frame {
                    Some((event_id, text)) if event_id > last_sent => {
                        session.text(text).await.ok()?;
                        hub.stats.delivered.fetch_add(1, Ordering::Relaxed);
                        last_sent = event_id;
                    }
                    Some(_) => {}
                    None if sub.slow.load(Ordering::Relaxed) => {
                        return Some(CloseReason { code: CloseCode::Policy, description: Some("too slow; reconnect with ?since=".into()) });
                    }
                    None => return Some(CloseReason { code: CloseCode::Away, description: None }),
                },
                message = stream.recv() => match message {
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        last_heard = Instant::now();
                        session.pong(&bytes).await.ok()?;
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None => return None,
                    Some(Ok(_)) => last_heard = Instant::now(),
                    Some(Err(_)) => return Some(CloseReason { code: CloseCode::Protocol, description: None }),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > settings.idle_timeout {
                        return Some(CloseReason { code: CloseCode::Away, description: Some("no answer to pings".into()) });
                    }
                    session.ping(b"").await.ok()?;
                }
            }
        }
    }
    .await;
    hub.unsubscribe(company, id);
    reason
}
