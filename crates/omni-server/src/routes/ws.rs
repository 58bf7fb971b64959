//! `GET /ws`: a company's events as they happen, and the ones a client missed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use omni_core::{CompanyId, Event};
use omni_identity::Session as AuthSession;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{AuthUser, admit, bearer_token_if_any};
use crate::error::ApiError;
use crate::hub::{Hub, Subscription};
use crate::state::AppState;

/// Frames larger than this from a client end the connection (clients send nothing but
/// control frames).
const MAX_FRAME: usize = 16 * 1024;
/// Events replayed per query.
const REPLAY_PAGE: i64 = 500;

/// Close code of a socket whose session ended (token expired, logged out, password or
/// role changed, user deleted): get a new token or ticket, then reconnect with `since`.
pub const SESSION_ENDED: u16 = 4001;

/// `?ticket=&since=` (or the older `?token=`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// A one-time ticket from `POST /ws/ticket`, for browsers (which cannot set headers on
    /// a WebSocket). Valid 30 s, once.
    pub ticket: Option<String>,
    /// The access token itself: still accepted, never logged; prefer `ticket`.
    pub token: Option<String>,
    /// Replay every event after this id first.
    pub since: Option<i64>,
}

impl std::fmt::Debug for WsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsQuery")
            .field("ticket", &self.ticket.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("since", &self.since)
            .finish()
    }
}

/// The answer of `POST /ws/ticket`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TicketResponse {
    /// The one-time ticket for `GET /ws?ticket=`.
    pub ticket: String,
    /// Seconds it stays valid.
    #[schema(example = 30)]
    pub expires_in: u32,
}

/// A one-time ticket that opens one WebSocket for the caller's session, so that the
/// long-lived access token never travels in a URL (where proxies and logs keep it).
#[utoipa::path(post, path = "/ws/ticket", tag = "realtime", security(("bearer" = [])),
    responses((status = 201, description = "A ticket valid 30 s, once", body = TicketResponse)))]
pub async fn ticket(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let ticket = state.identity.ws_ticket(&caller.1).await?;
    Ok(HttpResponse::Created().json(TicketResponse {
        ticket: ticket.ticket,
        expires_in: ticket.expires_in,
    }))
}

/// Upgrades to a WebSocket after checking the credentials (401 before any upgrade): the
/// `Authorization` header, a one-time `ticket`, or (older clients) `token`.
///
/// Frames are JSON [`Event`]s `{id, type, company_id, ticket_id, data, occurred_at}` of
/// the caller's company; with `since`, the ones after that id are replayed first. The session is
/// checked again at every heartbeat: when it ends the socket is closed with code 4001.
#[utoipa::path(get, path = "/ws", tag = "realtime", security(("bearer" = []), ()),
    params(
        WsQuery,
        // The handshake of RFC 6455 §4.1, as actix checks it: without it a request is not
        // a WebSocket one (400).
        ("Upgrade" = String, Header, pattern = r"^[\t -~]*[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt][\t -~]*$",
            example = "websocket", description = "Names `websocket`"),
        ("Connection" = String, Header, pattern = r"^[\t ]*[Uu][Pp][Gg][Rr][Aa][Dd][Ee][\t ]*$",
            example = "Upgrade", description = "`Upgrade`"),
        ("Sec-WebSocket-Version" = String, Header, pattern = "^13$", example = "13",
            description = "Always `13`"),
        ("Sec-WebSocket-Key" = String, Header, pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$",
            example = "dGhlIHNhbXBsZSBub25jZQ==", description = "16 random bytes, base64"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; every text frame then is one event", body = Event),
        (status = 400, description = "Not a WebSocket handshake"),
        (status = 401, description = "No valid token in the header, `ticket` or `token`"),
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
    let header = bearer_token_if_any(&req)?;
    let auth = if let Some(token) = header.or_else(|| query.token.clone().filter(|t| !t.is_empty()))
    {
        state.identity.authenticate(&token).await?
    } else if let Some(ticket) = query.ticket.as_deref().filter(|t| !t.is_empty()) {
        state.identity.redeem_ticket(ticket).await?
    } else {
        return Err(ApiError::Unauthorized(
            "credentials are required (Authorization: Bearer, or ?ticket= from POST /ws/ticket)"
                .into(),
        ));
    };
    admit(&state, &auth)?;
    let company = auth.principal.company_id.ok_or_else(|| {
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
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let reason = serve(
            &hub,
            Connection {
                state: &state,
                auth,
                company,
            },
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

/// Who a socket serves, for the session checks at each heartbeat.
struct Connection<'a> {
    state: &'a AppState,
    auth: AuthSession,
    company: CompanyId,
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    hub: &Arc<Hub>,
    conn: Connection<'_>,
    mut sub: Subscription,
    cursor: i64,
    since: Option<i64>,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    settings: &crate::config::WsConfig,
) -> Option<CloseReason> {
    let id = sub.id;
    let company = conn.company;
    let mut auth = conn.auth;
    let ended = || {
        Some(CloseReason {
            code: CloseCode::Other(SESSION_ENDED),
            description: Some("the session has ended; reconnect with new credentials".into()),
        })
    };
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
                    match conn.state.identity.check_session(&auth, chrono::Utc::now()).await {
                        Ok(current) if current.principal.company_id == Some(company) => auth = current,
                        Ok(_) => return ended(),
                        Err(omni_identity::IdentityError::Unauthenticated(_)) => return ended(),
                        // The database is away: keep serving, check again next beat.
                        Err(e) => tracing::debug!(error = %e, "could not check a socket's session"),
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
