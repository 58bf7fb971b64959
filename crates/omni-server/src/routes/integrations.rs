//! `/integrations`: a company's channels and AI, secrets write-only.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use garde::Validate;
use omni_core::{CompanyId, IntegrationId};
use omni_tenancy::{
    Integration, IntegrationInput, IntegrationType, IntegrationUpdateInput, Verification,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
use crate::schemas::{self, IntegrationConfigPatch, IntegrationConfigShown, SecretNameText};
use crate::state::AppState;
use crate::validate::{ValidJson, domain, optional, parses};

/// An integration as the API shows it: the non-secret configuration, and the names of the
/// secrets that are set — never their values.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationResponse {
    /// The integration's id.
    pub id: i64,
    /// Its company.
    pub company_id: i64,
    /// `twilio_whatsapp`, `twilio_sms` or `vera_ai`.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// The non-secret configuration (e.g. `account_sid`, `phone_number`).
    #[schema(value_type = IntegrationConfigShown)]
    pub config: serde_json::Value,
    /// Which secrets are set (e.g. `["auth_token"]`).
    #[schema(value_type = Vec<SecretNameText>)]
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

/// `POST /integrations`. Its schema (one shape of `config` per `type`) is
/// [`schemas::create_integration_request`]: the derive knows only the fields.
#[derive(Debug, Default, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegrationRequest {
    /// `twilio_whatsapp`, `twilio_sms` or `vera_ai`.
    #[garde(custom(parses::<IntegrationType>))]
    #[serde(default)]
    pub r#type: String,
    /// The typed configuration, secrets included: for Twilio `account_sid`,
    /// `auth_token`, `phone_number`; for Vera AI `base_url`, `api_key` and `model`.
    #[garde(skip)]
    #[serde(default)]
    pub config: serde_json::Value,
    /// Whether it starts enabled (default true).
    #[garde(skip)]
    pub enabled: Option<bool>,
    /// The company (superadmin only).
    #[garde(skip)]
    pub company_id: Option<i64>,
}

impl PartialSchema for CreateIntegrationRequest {
    fn schema() -> RefOr<Schema> {
        schemas::create_integration_request()
    }
}

impl ToSchema for CreateIntegrationRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas::create_integration_schemas(schemas);
    }
}

/// `PUT /integrations/:id`: config fields to change (omitted secrets keep their value),
/// and `enabled`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegrationRequest {
    /// Accepted when it repeats the current type; an integration's type never changes.
    #[garde(inner(custom(parses::<IntegrationType>)))]
    #[schema(value_type = Option<IntegrationType>)]
    pub r#type: Option<String>,
    /// Fields of the configuration to change.
    #[garde(skip)]
    #[schema(value_type = Option<IntegrationConfigPatch>)]
    pub config: Option<serde_json::Value>,
    /// Enable or disable it.
    #[garde(skip)]
    pub enabled: Option<bool>,
}

/// The answer of `POST /integrations/:id/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    /// Whether the provider accepted the credentials.
    pub ok: bool,
    /// `ok`, `refused` (the provider answered no) or `unreachable` (no usable answer);
    /// a remote host's status or body is never shown.
    #[schema(example = "ok")]
    pub outcome: &'static str,
    /// A sentence for the admin.
    pub detail: String,
}

impl From<Verification> for VerifyResponse {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.ok,
            outcome: v.outcome.as_str(),
            detail: v.detail,
        }
    }
}

/// The caller's company's integrations (admins).
#[utoipa::path(get, path = "/integrations", tag = "integrations", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of integrations", body = PageResponse<IntegrationResponse>)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.integrations.list(&caller.0, query.page()?).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, IntegrationResponse::from)))
}

/// Adds an integration.
#[utoipa::path(post, path = "/integrations", tag = "integrations", security(("bearer" = [])),
    request_body = CreateIntegrationRequest,
    responses(
        (status = 201, description = "The new integration (secrets not shown)", body = IntegrationResponse),
        (status = 404, description = "No such company"),
        (status = 409, description = "Another integration already uses this phone number"),
    ))]
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
#[utoipa::path(get, path = "/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    responses((status = 200, description = "The integration (secrets not shown)", body = IntegrationResponse)))]
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
#[utoipa::path(put, path = "/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    request_body = UpdateIntegrationRequest,
    responses(
        (status = 200, description = "The integration as changed", body = IntegrationResponse),
        (status = 409, description = "Another integration already uses this phone number"),
    ))]
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
#[utoipa::path(delete, path = "/integrations/{id}", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    responses((status = 204, description = "Deleted")))]
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
#[utoipa::path(post, path = "/integrations/{id}/verify", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The integration's id")),
    responses((status = 200, description = "What the provider said", body = VerifyResponse)))]
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

/// `GET /integrations/:id/templates?refresh=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplatesQuery {
    /// Ask Twilio now rather than use the list read in the last five minutes (after a
    /// template was approved, say).
    #[serde(default)]
    pub refresh: bool,
}

/// The approved templates of a WhatsApp integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplatesResponse {
    /// In Twilio's order.
    pub data: Vec<omni_messaging::Template>,
}

/// A WhatsApp number's approved templates (Twilio's Content API), for agents to write
/// first or after the 24-hour window: name, language, category, variables and the text
/// with its `{{variable}}` placeholders. Any user of the company may list them.
#[utoipa::path(get, path = "/integrations/{id}/templates", tag = "integrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The WhatsApp integration's id"), TemplatesQuery),
    responses(
        (status = 200, description = "The approved templates", body = TemplatesResponse),
        (status = 404, description = "No such enabled WhatsApp integration in the caller's company"),
        (status = 409, description = "Twilio refused the integration's credentials (verify the integration)"),
        (status = 502, description = "Twilio's Content API did not answer"),
    ))]
pub async fn templates(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
    query: web::Query<TemplatesQuery>,
) -> Result<HttpResponse, ApiError> {
    let templates = state
        .messaging
        .templates(&caller.0, IntegrationId::new(*id), query.refresh)
        .await?;
    Ok(HttpResponse::Ok().json(TemplatesResponse {
        data: templates.to_vec(),
    }))
}
