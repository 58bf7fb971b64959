use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omni_core::{CompanyId, DisplayName, Page, PageRequest, Scope, UserId};

use crate::{
    Email, IdentityError, NewUser, Password, PasswordHash, Role, Session, TicketGrant, User,
    UserUpdate,
};

/// Where users live. Every read and write takes the caller's [`Scope`]: a user outside it
/// is not found.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Creates a company named `company_name` and its first admin, atomically.
    /// [`IdentityError::EmailTaken`] if the e-mail is in use (and nothing is created).
    async fn create_company_with_admin(
        &self,
        company_name: &DisplayName,
        email: &Email,
        name: &DisplayName,
        password_hash: &PasswordHash,
    ) -> Result<User, IdentityError>;

    /// Stores a new user; [`IdentityError::EmailTaken`] if the e-mail is in use,
    /// [`IdentityError::NotFound`] if its company does not exist.
    async fn insert(&self, user: NewUser) -> Result<User, IdentityError>;

    /// The user with this id, if the scope includes them.
    async fn find(&self, scope: Scope, id: UserId) -> Result<Option<User>, IdentityError>;

    /// The user with this e-mail and their password hash, for login.
    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, IdentityError>;

    /// Users in the scope, optionally of one company, oldest first.
    async fn list(
        &self,
        scope: Scope,
        company: Option<CompanyId>,
        page: PageRequest,
    ) -> Result<Page<User>, IdentityError>;

    /// Applies `changes`; `None` if the user is not in the scope.
    async fn update(
        &self,
        scope: Scope,
        id: UserId,
        changes: UserUpdate,
    ) -> Result<Option<User>, IdentityError>;

    /// Deletes the user; false if they are not in the scope. With `removes_an_admin`, refuses
    /// atomically with [`IdentityError::LastAdmin`] when no other admin of the company
    /// would remain.
    async fn delete(
        &self,
        scope: Scope,
        id: UserId,
        removes_an_admin: bool,
    ) -> Result<bool, IdentityError>;

    /// The user (with their current session epoch) and whether `token_id` was revoked.
    async fn find_session(
        &self,
        id: UserId,
        token_id: &str,
    ) -> Result<Option<(User, bool)>, IdentityError>;

    /// Revokes one token until it would have expired anyway.
    async fn revoke_token(
        &self,
        user: UserId,
        token_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), IdentityError>;

    /// Ends every session of the user (raises the session epoch).
    async fn end_sessions(&self, user: UserId) -> Result<(), IdentityError>;

    /// Keeps a one-time WebSocket ticket for `session`, valid `ttl_secs` by the store's
    /// clock (one clock for every instance).
    async fn store_ticket(
        &self,
        ticket: &str,
        session: &Session,
        ttl_secs: u32,
    ) -> Result<(), IdentityError>;

    /// Takes a ticket: the session it was issued for if it exists and has not expired;
    /// it is gone afterwards either way.
    async fn take_ticket(&self, ticket: &str) -> Result<Option<TicketGrant>, IdentityError>;
}

/// Turns passwords into slow, salted hashes and checks them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, IdentityError>;

    /// Whether `candidate` matches `hash`. With no hash (unknown e-mail) the same work is
    /// spent against a stand-in hash and the answer is false, so that response times do
    /// not reveal which e-mail addresses have accounts.
    async fn verify(
        &self,
        candidate: &str,
        hash: Option<PasswordHash>,
    ) -> Result<bool, IdentityError>;
}

/// A signed access token and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The bearer token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// What a valid access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user it was issued to.
    pub user_id: UserId,
    /// Their company when it was issued.
    pub company_id: Option<CompanyId>,
    /// Their role when it was issued.
    pub role: Role,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
    /// The user's session epoch when it was issued.
    pub session_epoch: i64,
    /// The token's own id, by which it alone can be revoked.
    pub token_id: String,
}

/// Issues access tokens and verifies them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A token for `user`.
    fn issue(&self, user: &User) -> Result<AccessToken, IdentityError>;

    /// The claims of a token this issuer made and that has not expired;
    /// [`IdentityError::Unauthenticated`] for anything else.
    fn verify(&self, token: &str) -> Result<Claims, IdentityError>;

    /// A new unguessable one-time ticket (at least 128 random bits, URL-safe).
    fn new_ticket(&self) -> String;
}
