//! `/companies`: tenants and their settings.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use garde::Validate;
use omni_core::{CompanyId, DisplayName};
use omni_tenancy::{Company, CompanySettings, SettingsPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
use crate::schemas::{DisplayNameText, SettingsPatchInput};
use crate::state::AppState;
use crate::validate::{ValidJson, domain, parses};

/// A company as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyResponse {
    /// The company's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Locale, auto-reply and categories.
    pub settings: CompanySettings,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Company> for CompanyResponse {
    fn from(c: Company) -> Self {
        Self {
            id: c.id.get(),
            name: c.name.into(),
            settings: c.settings,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `POST /companies` (superadmin).
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCompanyRequest {
    /// The company's name.
    #[garde(custom(parses::<DisplayName>))]
    #[serde(default)]
    #[schema(required, value_type = DisplayNameText)]
    pub name: String,
    /// Settings; omitted ones take their defaults.
    #[garde(skip)]
    #[schema(value_type = Option<SettingsPatchInput>)]
    pub settings: Option<SettingsPatch>,
}

/// `PUT /companies/:id`: only the fields given change; settings merge into the current.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCompanyRequest {
    /// A new name.
    #[garde(inner(custom(parses::<DisplayName>)))]
    #[schema(value_type = Option<DisplayNameText>)]
    pub name: Option<String>,
    /// Settings to change.
    #[garde(skip)]
    #[schema(value_type = Option<SettingsPatchInput>)]
    pub settings: Option<SettingsPatch>,
}

/// The companies the caller may see.
#[utoipa::path(get, path = "/companies", tag = "companies", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of companies", body = PageResponse<CompanyResponse>)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let companies = state.companies.list(&caller.0, query.page()?).await?;
    Ok(HttpResponse::Ok().json(PageResponse::from_page(companies, CompanyResponse::from)))
}

/// Creates a company.
#[utoipa::path(post, path = "/companies", tag = "companies", security(("bearer" = [])),
    request_body = CreateCompanyRequest,
    responses((status = 201, description = "The new company", body = CompanyResponse)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ValidJson<CreateCompanyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let name = domain("name", &body.name)?;
    let company = state
        .companies
        .create(&caller.0, name, body.settings)
        .await?;
    Ok(HttpResponse::Created().json(CompanyResponse::from(company)))
}

/// One company.
#[utoipa::path(get, path = "/companies/{id}", tag = "companies", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The company's id")),
    responses((status = 200, description = "The company", body = CompanyResponse)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let company = state.companies.get(&caller.0, CompanyId::new(*id)).await?;
    Ok(HttpResponse::Ok().json(CompanyResponse::from(company)))
}

/// Renames a company or changes its settings.
#[utoipa::path(put, path = "/companies/{id}", tag = "companies", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The company's id")),
    request_body = UpdateCompanyRequest,
    responses((status = 200, description = "The company as changed", body = CompanyResponse)))]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
    body: ValidJson<UpdateCompanyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let name = body
        .name
        .as_deref()
        .map(|n| domain("name", n))
        .transpose()?;
    let company = state
        .companies
        .update(&caller.0, CompanyId::new(*id), name, body.settings)
        .await?;
    Ok(HttpResponse::Ok().json(CompanyResponse::from(company)))
}

/// Deletes a company and its whole tenant.
#[utoipa::path(delete, path = "/companies/{id}", tag = "companies", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The company's id")),
    responses((status = 204, description = "Deleted, with all its users, tickets and messages")))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .companies
        .delete(&caller.0, CompanyId::new(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
