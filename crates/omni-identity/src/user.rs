use chrono::{DateTime, Utc};
use omni_core::{CompanyId, DisplayName, UserId};
use serde::Serialize;

use crate::{Email, PasswordHash, Role};

/// A user as the API shows it; the password hash never leaves the repository this way.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The company the user works for; `None` for a superadmin.
    pub company_id: Option<CompanyId>,
    /// The login, lower-case.
    pub email: Email,
    /// How the user is called.
    pub name: DisplayName,
    /// What the user may do.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account last changed.
    pub updated_at: DateTime<Utc>,
    /// The generation of the user's sessions: tokens carry it, and raising it ends every
    /// token issued before. Never shown.
    #[serde(skip)]
    pub session_epoch: i64,
}

/// A user about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// The company; `None` only for a superadmin.
    pub company_id: Option<CompanyId>,
    /// The login.
    pub email: Email,
    /// How the user is called.
    pub name: DisplayName,
    /// What the user may do.
    pub role: Role,
    /// The hash of the initial password.
    pub password_hash: PasswordHash,
}

/// Changes to a stored user; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserUpdate {
    /// A new login.
    pub email: Option<Email>,
    /// A new name.
    pub name: Option<DisplayName>,
    /// A new role.
    pub role: Option<Role>,
    /// The hash of a new password.
    pub password_hash: Option<PasswordHash>,
    /// End every session of the user (raise the session epoch) in the same write.
    pub end_sessions: bool,
    /// The change takes the admin role away: the store must refuse it, atomically, with
    /// [`crate::IdentityError::LastAdmin`] if no other admin of the company would remain.
    pub removes_an_admin: bool,
}

impl UserUpdate {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.name.is_none()
            && self.role.is_none()
            && self.password_hash.is_none()
            && !self.end_sessions
    }
}
