use std::sync::Arc;

use omni_core::{CompanyId, DisplayName, FieldError, Page, PageRequest, Scope, UserId};

use crate::{
    AccessToken, Email, IdentityError, NewUser, Password, PasswordHasher, Principal, Role,
    TokenIssuer, User, UserRepository, UserUpdate,
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

    /// The caller behind a bearer token, as the database knows them now: a token of a
    /// deleted user stops working at once, and a changed role applies at once.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, IdentityError> {
        let claims = self.tokens.verify(token)?;
        let user = self.users.find(Scope::All, claims.user_id).await?.ok_or(
            IdentityError::Unauthenticated("the account no longer exists"),
        )?;
        Ok(Principal::of(&user))
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
    pub async fn list_users(
        &self,
        caller: &Principal,
        company: Option<CompanyId>,
        page: PageRequest,
    ) -> Result<Page<User>, IdentityError> {
        self.users.list(caller.scope(), company, page).await
    }

    /// One user the caller may see.
    pub async fn get_user(&self, caller: &Principal, id: UserId) -> Result<User, IdentityError> {
        self.users
            .find(caller.scope(), id)
            .await?
            .ok_or(IdentityError::NotFound)
    }

    /// Adds a user: admins to their own company, the superadmin anywhere.
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
        let password_hash = match &changes.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let update = UserUpdate {
            email: changes.email,
            name: changes.name,
            role: changes.role,
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

    /// Deletes a user; never the caller themselves.
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
        if self.users.delete(scope, id).await? {
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
