use std::sync::Arc;

use omni_core::{CompanyId, DisplayName, FieldError, Page, PageRequest, Scope, UserId};

use chrono::{DateTime, Utc};

use crate::{
    AccessToken, Email, IdentityError, NewUser, Password, PasswordHasher, Principal, Role, Session,
    TokenIssuer, User, UserRepository, UserUpdate, WS_TICKET_TTL_SECS, WsTicket,
};

/// A new company and its first admin, as `POST /auth/register` asks.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The company's name.
    pub company_name: DisplayName,
    /// The admin's name.
    pub name: DisplayName,
    /// The admin's login.
    pub email: Email,
    /// The admin's password.
    pub password: Password,
}

/// A user an admin (or the superadmin) adds.
#[derive(Debug, Clone)]
pub struct NewUserInput {
    /// The login.
    pub email: Email,
    /// How the user is called.
    pub name: DisplayName,
    /// The initial password.
    pub password: Password,
    /// What the user may do.
    pub role: Role,
    /// The company: an admin's own when omitted; required from a superadmin.
    pub company_id: Option<CompanyId>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// A new login.
    pub email: Option<Email>,
    /// A new name.
    pub name: Option<DisplayName>,
    /// A new password.
    pub password: Option<Password>,
    /// A new role (admin or agent).
    pub role: Option<Role>,
    /// The caller's current password: required to change one's own e-mail or password,
    /// so that a stolen token cannot take the account over for good.
    pub current_password: Option<String>,
}

/// A logged-in session: the access token and who it belongs to.
#[derive(Debug, Clone)]
pub struct AuthSession {
    /// The bearer token and its lifetime.
    pub token: AccessToken,
    /// The user it was issued to.
    pub user: User,
}

/// The identity use cases and their role rules.
#[derive(Clone)]
pub struct IdentityService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenIssuer>,
    allow_registration: bool,
}

impl IdentityService {
    /// The use cases over these ports; `allow_registration` switches self-service sign-up.
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenIssuer>,
        allow_registration: bool,
    ) -> Self {
        Self {
            users,
            hasher,
            tokens,
            allow_registration,
        }
    }

    /// Creates a company with its first admin and logs the admin in.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, registration: Registration) -> Result<AuthSession, IdentityError> {
        if !self.allow_registration {
            return Err(IdentityError::RegistrationClosed);
        }
        let hash = self.hasher.hash(&registration.password).await?;
        let user = self
            .users
            .create_company_with_admin(
                &registration.company_name,
                &registration.email,
                &registration.name,
                &hash,
            )
            .await?;
        self.session(user)
    }

    /// Logs a user in. An unknown e-mail, a malformed one and a wrong password get the same
    /// answer after the same hashing work.
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthSession, IdentityError> {
        let found = match Email::parse(email) {
            Ok(email) => self.users.find_credentials(&email).await?,
            Err(_) => None,
        };
        let matches = self
            .hasher
            .verify(password, found.as_ref().map(|(_, hash)| hash.clone()))
            .await?;
        match found {
            Some((user, _)) if matches => self.session(user),
            _ => Err(IdentityError::InvalidCredentials),
        }
    }

    /// The session behind a bearer token, with the caller as the database knows them now:
    /// a token stops working when its user is deleted, when it is logged out, and when the
    /// user's password, e-mail or role changes (the session epoch moved on); a changed
    /// role applies at once.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> Result<Session, IdentityError> {
        let claims = self.tokens.verify(token)?;
        self.current(
            claims.user_id,
            &claims.token_id,
            claims.session_epoch,
            claims.expires_at,
        )
        .await
    }

    /// Whether `session` still holds at `now` (checked again on long-lived connections).
    pub async fn check_session(
        &self,
        session: &Session,
        now: DateTime<Utc>,
    ) -> Result<Session, IdentityError> {
        if now >= session.expires_at {
            return Err(IdentityError::Unauthenticated("the token has expired"));
        }
        self.current(
            session.principal.user_id,
            &session.token_id,
            session.session_epoch,
            session.expires_at,
        )
        .await
    }

    async fn current(
        &self,
        user_id: omni_core::UserId,
        token_id: &str,
        session_epoch: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<Session, IdentityError> {
        let (user, revoked) = self.users.find_session(user_id, token_id).await?.ok_or(
            IdentityError::Unauthenticated("the account no longer exists"),
        )?;
        if revoked || user.session_epoch != session_epoch {
            return Err(IdentityError::Unauthenticated("the session has ended"));
        }
        Ok(Session {
            principal: Principal::of(&user),
            token_id: token_id.to_owned(),
            session_epoch,
            expires_at,
        })
    }

    /// Ends this session: its token stops working (`POST /auth/logout`).
    #[tracing::instrument(skip_all, fields(user_id = %session.principal.user_id))]
    pub async fn logout(&self, session: &Session) -> Result<(), IdentityError> {
        self.users
            .revoke_token(
                session.principal.user_id,
                &session.token_id,
                session.expires_at,
            )
            .await
    }

    /// Ends every session of the caller (`POST /auth/logout-all`).
    #[tracing::instrument(skip_all, fields(user_id = %session.principal.user_id))]
    pub async fn logout_all(&self, session: &Session) -> Result<(), IdentityError> {
        self.users.end_sessions(session.principal.user_id).await
    }

    /// A one-time ticket that opens one WebSocket for this session within
    /// [`WS_TICKET_TTL_SECS`], so that no long-lived token has to travel in a URL.
    #[tracing::instrument(skip_all, fields(user_id = %session.principal.user_id))]
    pub async fn ws_ticket(&self, session: &Session) -> Result<WsTicket, IdentityError> {
        let ticket = self.tokens.new_ticket();
        self.users
            .store_ticket(&ticket, session, WS_TICKET_TTL_SECS)
            .await?;
        Ok(WsTicket {
            ticket,
            expires_in: WS_TICKET_TTL_SECS,
        })
    }

    /// The session a ticket was issued for, if the ticket is fresh, unused, and that
    /// session still holds. A ticket works once.
    #[tracing::instrument(skip_all)]
    pub async fn redeem_ticket(&self, ticket: &str) -> Result<Session, IdentityError> {
        let invalid = IdentityError::Unauthenticated("the ticket is invalid, used or expired");
        if ticket.is_empty() || ticket.len() > 128 {
            return Err(invalid);
        }
        let grant = self.users.take_ticket(ticket).await?.ok_or(invalid)?;
        self.current(
            grant.user_id,
            &grant.token_id,
            grant.session_epoch,
            grant.token_expires_at,
        )
        .await
    }

    /// The caller's own account.
    pub async fn profile(&self, caller: &Principal) -> Result<User, IdentityError> {
        self.users
            .find(Scope::All, caller.user_id)
            .await?
            .ok_or(IdentityError::Unauthenticated(
                "the account no longer exists",
            ))
    }

    /// Users the caller may see: their company's, or (superadmin) everyone's, optionally of
    /// one company.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn list_users(
        &self,
        caller: &Principal,
        company: Option<CompanyId>,
        page: PageRequest,
    ) -> Result<Page<User>, IdentityError> {
        self.users.list(caller.scope(), company, page).await
    }

    /// One user the caller may see.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, user_id = %id))]
    pub async fn get_user(&self, caller: &Principal, id: UserId) -> Result<User, IdentityError> {
        self.users
            .find(caller.scope(), id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Adds a user: admins to their own company, the superadmin anywhere.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id))]
    pub async fn create_user(
        &self,
        caller: &Principal,
        input: NewUserInput,
    ) -> Result<User, IdentityError> {
        let company_id = match caller.role {
            Role::Agent => return Err(IdentityError::Forbidden("only admins manage users")),
            Role::Admin => {
                if input.role == Role::Superadmin {
                    return Err(IdentityError::Forbidden(
                        "only a superadmin may create superadmins",
                    ));
                }
                if input.company_id.is_some() && input.company_id != caller.company_id {
                    return Err(invalid(
                        "company_id",
                        "must be your own company (or omitted)",
                    ));
                }
                caller.company_id
            }
            Role::Superadmin => match (input.role, input.company_id) {
                (Role::Superadmin, None) => None,
                (Role::Superadmin, Some(_)) => {
                    return Err(invalid("company_id", "a superadmin belongs to no company"));
                }
                (_, None) => return Err(invalid("company_id", "is required")),
                (_, company) => company,
            },
        };
        let password_hash = self.hasher.hash(&input.password).await?;
        let new = NewUser {
            company_id,
            email: input.email,
            name: input.name,
            role: input.role,
            password_hash,
        };
        self.users.insert(new).await.map_err(|e| match e {
            IdentityError::NotFound => invalid("company_id", "no such company"),
            other => other,
        })
    }

    /// Creates a platform operator (the `create-superadmin` command; no caller).
    #[tracing::instrument(skip_all)]
    pub async fn create_superadmin(
        &self,
        email: Email,
        name: DisplayName,
        password: Password,
    ) -> Result<User, IdentityError> {
        let password_hash = self.hasher.hash(&password).await?;
        self.users
            .insert(NewUser {
                company_id: None,
                email,
                name,
                role: Role::Superadmin,
                password_hash,
            })
            .await
    }

    /// Changes a user. Anyone may change their own name, e-mail and password; changing
    /// someone else, or any role, takes an admin of their company (or the superadmin).
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, user_id = %id))]
    pub async fn update_user(
        &self,
        caller: &Principal,
        id: UserId,
        changes: UserChanges,
    ) -> Result<User, IdentityError> {
        let scope = caller.scope();
        let target = self
            .users
            .find(scope, id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        let is_self = target.id == caller.user_id;
        if !is_self && !may_administer(caller, &target) {
            return Err(IdentityError::Forbidden("only admins manage other users"));
        }
        if let Some(role) = changes.role.filter(|role| *role != target.role) {
            if is_self {
                return Err(IdentityError::Conflict("you cannot change your own role"));
            }
            if role == Role::Superadmin || target.role == Role::Superadmin {
                return Err(invalid(
                    "role",
                    "superadmins are made with `omni-server create-superadmin` only",
                ));
            }
        }
        let email_changes = changes.email.as_ref().is_some_and(|e| *e != target.email);
        if is_self && (email_changes || changes.password.is_some()) {
            self.confirm_password(&target, changes.current_password.as_deref())
                .await?;
        }
        let role_changes = changes.role.is_some_and(|role| role != target.role);
        let password_hash = match &changes.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let update = UserUpdate {
            email: changes.email,
            name: changes.name,
            role: changes.role,
            end_sessions: email_changes || role_changes || password_hash.is_some(),
            removes_an_admin: role_changes && target.role == Role::Admin,
            password_hash,
        };
        if update.is_empty() {
            return Ok(target);
        }
        self.users
            .update(scope, id, update)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Checks the caller's own password before a change that would take the account over.
    async fn confirm_password(
        &self,
        user: &User,
        given: Option<&str>,
    ) -> Result<(), IdentityError> {
        let Some(given) = given.filter(|p| !p.is_empty()) else {
            return Err(invalid(
                "current_password",
                "is required to change your own e-mail or password",
            ));
        };
        let stored = self
            .users
            .find_credentials(&user.email)
            .await?
            .filter(|(found, _)| found.id == user.id)
            .map(|(_, hash)| hash);
        if self.hasher.verify(given, stored).await? {
            Ok(())
        } else {
            Err(invalid("current_password", "is not your current password"))
        }
    }

    /// Deletes a user; never the caller themselves.
    #[tracing::instrument(skip_all, fields(caller = %caller.user_id, user_id = %id))]
    pub async fn delete_user(&self, caller: &Principal, id: UserId) -> Result<(), IdentityError> {
        let scope = caller.scope();
        let target = self
            .users
            .find(scope, id)
            .await?
            .ok_or(IdentityError::NotFound)?;
        if target.id == caller.user_id {
            return Err(IdentityError::Conflict(
                "you cannot delete your own account",
            ));
        }
        if !may_administer(caller, &target) {
            return Err(IdentityError::Forbidden("only admins manage users"));
        }
        let removes_an_admin = target.role == Role::Admin;
        if self.users.delete(scope, id, removes_an_admin).await? {
            Ok(())
        } else {
            Err(IdentityError::NotFound)
        }
    }

    fn session(&self, user: User) -> Result<AuthSession, IdentityError> {
        let token = self.tokens.issue(&user)?;
        Ok(AuthSession { token, user })
    }
}

fn may_administer(caller: &Principal, target: &User) -> bool {
    match target.company_id {
        Some(company) => caller.administers(company),
        None => caller.is_superadmin(),
    }
}

fn invalid(field: &str, message: &str) -> IdentityError {
    IdentityError::Validation(vec![FieldError::new(field, message)])
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
