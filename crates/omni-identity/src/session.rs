use chrono::{DateTime, Utc};
use omni_core::UserId;

use crate::Principal;

/// An authenticated request's session: who is calling, and which token they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The caller as the database knows them now.
    pub principal: Principal,
    /// The token's id (revoked by `logout`).
    pub token_id: String,
    /// The session epoch the token carries.
    pub session_epoch: i64,
    /// When the token expires; an open WebSocket is closed then.
    pub expires_at: DateTime<Utc>,
}

/// What a one-time WebSocket ticket stands for: the session it was issued from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketGrant {
    /// The user it was issued to.
    pub user_id: UserId,
    /// The token whose session it continues.
    pub token_id: String,
    /// That token's session epoch.
    pub session_epoch: i64,
    /// When that token expires.
    pub token_expires_at: DateTime<Utc>,
}

/// A one-time WebSocket ticket, as `POST /ws/ticket` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTicket {
    /// The ticket, for `GET /ws?ticket=`.
    pub ticket: String,
    /// Seconds it stays valid.
    pub expires_in: u32,
}

/// How long a WebSocket ticket is valid: long enough to open a socket right away, too short
/// to be worth stealing from a log.
pub const WS_TICKET_TTL_SECS: u32 = 30;
