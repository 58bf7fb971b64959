//! `/integrations`: a company's channels and AI, secrets write-only.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use garde::Validate;
use omni_core::{CompanyId, IntegrationId};
use omni_tenancy::{
    Integration, IntegrationInput, IntegrationType, IntegrationUpdateInput, Verification,
};
use serde::{Deserialize, Serialize};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
use crate::state::AppState;
use crate::validate::{ValidJson, domain, optional, parses};

/// An integration as the API shows it: the non-secret configuration, and the names of the
/// secrets that are set — never their values.
#[derive(Debug, Serialize)]
pub struct IntegrationResponse {
    /// The integration's id.
    pub id: i64,
    /// Its company.
    pub company_id: i64,
    /// `twilio_whatsapp`, `twilio_sms` or `vera_ai`.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// The non-secret configuration.
    pub config: serde_json::Value,
    /// Which secrets are set (e.g. `["auth_token"]`).
    pub secrets_set: Vec<String>,
    /// Whether it is in use.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Integration> for IntegrationResponse {
    fn from(i: Integration) -> Self {
        Self {
            id: i.id.get(),
            company_id: i.company_id.get(),
            kind: i.kind,
            config: i.config.to_json(),
            secrets_set: i.secrets_set().into_iter().map(str::to_owned).collect(),
            enabled: i.enabled,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// `POST /integrations`.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(default, deny_unknown_fields)]
pub struct CreateIntegrationRequest {
    /// `twilio_whatsapp`, `twilio_sms` or `vera_ai`.
    #[garde(custom(parses::<IntegrationType>))]
    pub r#type: String,
    /// The typed configuration, secrets included.
    #[garde(skip)]
    pub config: serde_json::Value,
    /// Whether it starts enabled (default true).
    #[garde(skip)]
    pub enabled: Option<bool>,
    /// The company (superadmin only).
    #[garde(skip)]
    pub company_id: Option<i64>,
}

/// `PUT /integrations/:id`: config fields to change (omitted secrets keep their value),
/// and `enabled`.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateIntegrationRequest {
    /// Accepted when it repeats the current type; an integration's type never changes.
    #[garde(inner(custom(parses::<IntegrationType>)))]
    pub r#type: Option<String>,
    /// Fields of the configuration to change.
    #[garde(skip)]
    pub config: Option<serde_json::Value>,
    /// Enable or disable it.
    #[garde(skip)]
    pub enabled: Option<bool>,
}

/// The answer of `POST /integrations/:id/verify`.
#[derive(Debug, Serialize)]
pub struct VerifyResponse {
    /// Whether the provider accepted the credentials.
    pub ok: bool,
    /// What the provider said.
    pub detail: String,
}

impl From<Verification> for VerifyResponse {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.ok,
            detail: v.detail,
        }
    }
}

/// The caller's company's integrations (admins).
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.integrations.list(&caller.0, query.page()?).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, IntegrationResponse::from)))
}

/// Adds an integration.
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ValidJson<CreateIntegrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let input = IntegrationInput {
        kind: domain("type", &body.r#type)?,
        config: body.config,
        enabled: body.enabled,
        company_id: body.company_id.map(CompanyId::new),
    };
    let integration = state.integrations.create(&caller.0, input).await?;
    Ok(HttpResponse::Created().json(IntegrationResponse::from(integration)))
}

/// One integration.
pub async fn get(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let integration = state
        .integrations
        .get(&caller.0, IntegrationId::new(*id))
        .await?;
    Ok(HttpResponse::Ok().json(IntegrationResponse::from(integration)))
}

/// Changes an integration.
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
    body: ValidJson<UpdateIntegrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let id = IntegrationId::new(*id);
    let input = IntegrationUpdateInput {
        kind: optional("type", body.r#type.as_deref())?,
        config: body.config,
        enabled: body.enabled,
    };
    let integration = state.integrations.update(&caller.0, id, input).await?;
    Ok(HttpResponse::Ok().json(IntegrationResponse::from(integration)))
}

/// Deletes an integration.
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .integrations
        .delete(&caller.0, IntegrationId::new(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks the integration's credentials against its provider.
pub async fn verify(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let answer = state
        .integrations
        .verify(&caller.0, IntegrationId::new(*id))
        .await?;
    Ok(HttpResponse::Ok().json(VerifyResponse::from(answer)))
}
