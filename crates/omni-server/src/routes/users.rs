//! `/users`: a company's users.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use garde::Validate;
use omni_core::{CompanyId, DisplayName, UserId};
use omni_identity::{Email, NewUserInput, Password, Role, User, UserChanges};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
use crate::schemas::{AssignableRole, DisplayNameText, EmailText, PasswordText};
use crate::state::AppState;
use crate::validate::{ValidJson, domain, optional, parses};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// The user's id.
    pub id: i64,
    /// The login, lower-case.
    #[schema(value_type = EmailText)]
    pub email: String,
    /// How the user is called.
    pub name: String,
    /// `superadmin`, `admin` or `agent`.
    pub role: Role,
    /// The company; null for a superadmin.
    pub company_id: Option<i64>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.get(),
            email: u.email.into(),
            name: u.name.into(),
            role: u.role,
            company_id: u.company_id.map(CompanyId::get),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// `POST /users`.
#[derive(Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// The login.
    #[garde(custom(parses::<Email>))]
    #[serde(default)]
    #[schema(required, value_type = EmailText)]
    pub email: String,
    /// How the user is called.
    #[garde(custom(parses::<DisplayName>))]
    #[serde(default)]
    #[schema(required, value_type = DisplayNameText)]
    pub name: String,
    /// The initial password: 8 to 128 characters.
    #[garde(custom(parses::<Password>))]
    #[serde(default)]
    #[schema(required, value_type = PasswordText)]
    pub password: String,
    /// `admin` or `agent` (`agent` when omitted).
    #[garde(inner(custom(parses::<Role>)))]
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// The company (superadmin only; an admin's own by default).
    #[garde(skip)]
    pub company_id: Option<i64>,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &"***")
            .field("role", &self.role)
            .field("company_id", &self.company_id)
            .finish()
    }
}

/// `PUT /users/:id`: only the fields given change.
#[derive(Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// A new login.
    #[garde(inner(custom(parses::<Email>)))]
    #[schema(value_type = Option<EmailText>)]
    pub email: Option<String>,
    /// A new name.
    #[garde(inner(custom(parses::<DisplayName>)))]
    #[schema(value_type = Option<DisplayNameText>)]
    pub name: Option<String>,
    /// A new password.
    #[garde(inner(custom(parses::<Password>)))]
    #[schema(value_type = Option<PasswordText>)]
    pub password: Option<String>,
    /// A new role: `admin` or `agent`.
    #[garde(inner(custom(parses::<Role>)))]
    #[schema(value_type = Option<AssignableRole>)]
    pub role: Option<String>,
    /// Your current password: required to change your own `email` or `password`. Changing
    /// a password, e-mail or role ends every session of that user.
    #[garde(inner(length(chars, min = 1, max = 1024)))]
    #[schema(min_length = 1, max_length = 1024)]
    pub current_password: Option<String>,
}

impl std::fmt::Debug for UpdateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUserRequest")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("role", &self.role)
            .field(
                "current_password",
                &self.current_password.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// `GET /users?company_id=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Only this company's users (useful to a superadmin).
    pub company_id: Option<i64>,
    /// Rows per page, 1 to 200 (50 when omitted).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where the page starts.
    pub cursor: Option<String>,
}

/// The users the caller may see.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    params(ListUsersQuery),
    responses((status = 200, description = "A page of users", body = PageResponse<UserResponse>)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let users = state
        .identity
        .list_users(&caller.0, query.company_id.map(CompanyId::new), page)
        .await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(users, UserResponse::from)))
}

/// Adds a user.
#[utoipa::path(post, path = "/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The new user", body = UserResponse),
        (status = 404, description = "No such company"),
        (status = 409, description = "The e-mail is taken"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ValidJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let input = NewUserInput {
        email: domain("email", &body.email)?,
        name: domain("name", &body.name)?,
        password: domain("password", &body.password)?,
        role: optional("role", body.role.as_deref())?.unwrap_or(Role::Agent),
        company_id: body.company_id.map(CompanyId::new),
    };
    let user = state.identity.create_user(&caller.0, input).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(user)))
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserResponse)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user = state.identity.get_user(&caller.0, UserId::new(*id)).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Changes a user.
#[utoipa::path(put, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user as changed", body = UserResponse),
        (status = 409, description = "The e-mail is taken, or the change would leave the company without an admin"),
        (status = 422, description = "Invalid fields, or `current_password` missing or wrong for a change of your own e-mail or password"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
    body: ValidJson<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let changes = UserChanges {
        email: optional("email", body.email.as_deref())?,
        name: optional("name", body.name.as_deref())?,
        password: optional("password", body.password.as_deref())?,
        role: optional("role", body.role.as_deref())?,
        current_password: body.current_password,
    };
    let user = state
        .identity
        .update_user(&caller.0, UserId::new(*id), changes)
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Deletes a user.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The user cannot be deleted (e.g. the company's last admin)"),
    ))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .identity
        .delete_user(&caller.0, UserId::new(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
