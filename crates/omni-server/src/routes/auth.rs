//! `/auth`: register a company, log in, read one's profile.

use actix_web::{HttpRequest, HttpResponse, web};
use garde::Validate;
use omni_core::DisplayName;
use omni_identity::{AuthSession, Email, IdentityError, Password, Registration};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::client_addr;
use crate::error::ApiError;
use crate::routes::users::UserResponse;
use crate::schemas::{DisplayNameText, EmailText, PasswordText};
use crate::state::AppState;
use crate::validate::{ValidJson, domain, parses};

/// `POST /auth/register`: a new company and its first admin.
#[derive(Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The company's name.
    #[garde(custom(parses::<DisplayName>))]
    #[serde(default)]
    #[schema(required, value_type = DisplayNameText)]
    pub company_name: String,
    /// The admin's name.
    #[garde(custom(parses::<DisplayName>))]
    #[serde(default)]
    #[schema(required, value_type = DisplayNameText)]
    pub name: String,
    /// The admin's e-mail, their login.
    #[garde(custom(parses::<Email>))]
    #[serde(default)]
    #[schema(required, value_type = EmailText)]
    pub email: String,
    /// The admin's password: 8 to 128 characters.
    #[garde(custom(parses::<Password>))]
    #[serde(default)]
    #[schema(required, value_type = PasswordText)]
    pub password: String,
}

impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("company_name", &self.company_name)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}

/// `POST /auth/login`.
#[derive(Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The login.
    #[garde(length(chars, min = 1, max = 320))]
    #[serde(default)]
    #[schema(
        required,
        min_length = 1,
        max_length = 320,
        example = "ana@example.com"
    )]
    pub email: String,
    /// The password.
    #[garde(length(chars, min = 1, max = 1024))]
    #[serde(default)]
    #[schema(required, min_length = 1, max_length = 1024)]
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}

/// The answer to a successful register or login.
#[derive(Serialize, ToSchema)]
pub struct AuthResponse {
    /// The bearer token for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// Who the token belongs to.
    pub user: UserResponse,
}

impl std::fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthResponse")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("user", &self.user)
            .finish()
    }
}

impl From<AuthSession> for AuthResponse {
    fn from(session: AuthSession) -> Self {
        Self {
            access_token: session.token.token,
            token_type: "Bearer",
            expires_in: session.token.expires_in,
            user: session.user.into(),
        }
    }
}

/// Creates a company and its admin, and logs the admin in.
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The company, its admin, and the admin's token", body = AuthResponse),
        (status = 403, description = "Self-service registration is closed on this deployment"),
        (status = 409, description = "The e-mail is taken"),
        (status = 429, description = "Too many registrations from this address"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ValidJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.register(client_addr::limit_key_of(&req))?;
    let body = body.0;
    let registration = Registration {
        company_name: domain("company_name", &body.company_name)?,
        name: domain("name", &body.name)?,
        email: domain("email", &body.email)?,
        password: domain("password", &body.password)?,
    };
    let session = state.identity.register(registration).await?;
    Ok(HttpResponse::Created().json(AuthResponse::from(session)))
}

/// Logs a user in; unknown e-mail and wrong password get the same 401.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The user and a token", body = AuthResponse),
        (status = 401, description = "Unknown e-mail or wrong password"),
        (status = 429, description = "Too many attempts for this address or e-mail"),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ValidJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    // Counted before the password is looked at: guesses cost the attacker, not our CPU.
    let client = client_addr::limit_key_of(&req);
    let email = &body.0.email;
    state.limits.login(client, email)?;
    match state.identity.login(email, &body.0.password).await {
        Ok(session) => {
            state.limits.login_succeeded(client, email);
            Ok(HttpResponse::Ok().json(AuthResponse::from(session)))
        }
        Err(e) => {
            if matches!(e, IdentityError::InvalidCredentials) {
                state.limits.login_failed(client, email);
            }
            Err(e.into())
        }
    }
}

/// The caller's own account.
#[utoipa::path(
    get,
    path = "/auth/profile",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserResponse))
)]
pub async fn profile(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let user = state.identity.profile(&caller.0).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// Ends the caller's session: this token stops working at once (on every instance).
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "The token no longer works"))
)]
pub async fn logout(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    state.identity.logout(&caller.1).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the caller: every token issued to them so far stops working, and
/// their open WebSockets are closed with code 4001 at the next heartbeat.
#[utoipa::path(
    post,
    path = "/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "No token of the caller works any more"))
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    state.identity.logout_all(&caller.1).await?;
    Ok(HttpResponse::NoContent().finish())
}
