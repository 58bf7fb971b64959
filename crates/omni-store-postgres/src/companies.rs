//! The tenancy crate's [`CompanyRepository`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use omni_core::{CompanyId, Cursor, DisplayName, Page, PageRequest, Scope};
use omni_tenancy::{Company, CompanyRepository, CompanySettings, CompanyUpdate, TenancyError};

use crate::Database;
use crate::schema::{companies, report_recounts};

/// Companies in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgCompanyRepository {
    db: Database,
}

impl PgCompanyRepository {
    /// A repository over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = companies, check_for_backend(diesel::pg::Pg))]
struct CompanyRow {
    id: i64,
    name: String,
    settings: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CompanyRow {
    fn into_company(self) -> Result<Company, TenancyError> {
        let corrupt = |what: &str| {
            TenancyError::Unknown(format!("stored company {} has invalid {what}", self.id))
        };
        Ok(Company {
            id: CompanyId::new(self.id),
            name: DisplayName::parse(&self.name).map_err(|_| corrupt("name"))?,
            // Keys missing from storage take their defaults.
            settings: serde_json::from_value(self.settings.clone())
                .map_err(|_| corrupt("settings"))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = companies)]
struct CompanyChangeset {
    name: Option<String>,
    settings: Option<serde_json::Value>,
}

fn unknown(e: impl std::fmt::Display) -> TenancyError {
    TenancyError::Unknown(e.to_string())
}

fn store_error(e: diesel::result::Error) -> TenancyError {
    if crate::errors::lost_connection(&e) {
        TenancyError::Unavailable(e.to_string())
    } else {
        unknown(e)
    }
}

fn unavailable(e: crate::StoreError) -> TenancyError {
    match e {
        crate::StoreError::Unavailable(cause) => TenancyError::Unavailable(cause),
        other => TenancyError::Unknown(other.to_string()),
    }
}

fn scoped(scope: Scope) -> companies::BoxedQuery<'static, diesel::pg::Pg> {
    match scope {
        Scope::All => companies::table.into_boxed(),
        Scope::Company(company) => companies::table
            .filter(companies::id.eq(company.get()))
            .into_boxed(),
    }
}

#[async_trait]
impl CompanyRepository for PgCompanyRepository {
    async fn list(&self, scope: Scope, page: PageRequest) -> Result<Page<Company>, TenancyError> {
        let mut query = scoped(scope);
        if let Some(cursor) = page.cursor {
            query = query.filter(companies::id.gt(cursor.id));
        }
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let rows = query
            .order(companies::id.asc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(CompanyRow::as_select())
            .load::<CompanyRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let companies = rows
            .into_iter()
            .map(CompanyRow::into_company)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(companies, page.limit, |c| Cursor {
            at: None,
            id: c.id.get(),
        }))
    }

    async fn find(&self, scope: Scope, id: CompanyId) -> Result<Option<Company>, TenancyError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        scoped(scope)
            .filter(companies::id.eq(id.get()))
            .select(CompanyRow::as_select())
            .first::<CompanyRow>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(CompanyRow::into_company)
            .transpose()
    }

    async fn insert(
        &self,
        name: &DisplayName,
        settings: &CompanySettings,
    ) -> Result<Company, TenancyError> {
        let settings = serde_json::to_value(settings).map_err(unknown)?;
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        diesel::insert_into(companies::table)
            .values((
                companies::name.eq(name.as_str()),
                companies::settings.eq(settings),
            ))
            .returning(CompanyRow::as_returning())
            .get_result::<CompanyRow>(&mut conn)
            .await
            .map_err(store_error)?
            .into_company()
    }

    async fn update(
        &self,
        scope: Scope,
        id: CompanyId,
        changes: CompanyUpdate,
    ) -> Result<Option<Company>, TenancyError> {
        // A company scope can only ever reach its own row.
        if !scope.includes(Some(id)) {
            return Ok(None);
        }
        let changeset = CompanyChangeset {
            name: changes.name.map(String::from),
            settings: changes
                .settings
                .as_ref()
                .map(|s| serde_json::to_value(s).map_err(unknown))
                .transpose()?,
        };
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        conn.transaction(async |conn| {
            // Compared with what is stored, under the row's lock: two changes at once cannot
            // turn the zone back without a recount.
            let stored: Option<serde_json::Value> = companies::table
                .filter(companies::id.eq(id.get()))
                .select(companies::settings)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let recount = match (&changes.settings, stored) {
                (Some(new), Some(stored)) => serde_json::from_value::<CompanySettings>(stored)
                    .map_or(true, |stored| new.reports_differ_from(&stored)),
                _ => false,
            };
            let row = diesel::update(companies::table.filter(companies::id.eq(id.get())))
                .set(&changeset)
                .returning(CompanyRow::as_returning())
                .get_result::<CompanyRow>(conn)
                .await
                .optional()?;
            if row.is_some() && recount {
                // The rollup job counts the company's reports again under its new rules.
                diesel::insert_into(report_recounts::table)
                    .values(report_recounts::company_id.eq(id.get()))
                    .on_conflict(report_recounts::company_id)
                    .do_update()
                    .set(report_recounts::requested_at.eq(diesel::dsl::now))
                    .execute(conn)
                    .await?;
            }
            Ok(row)
        })
        .await
        .map_err(store_error)?
        .map(CompanyRow::into_company)
        .transpose()
    }

    async fn delete(&self, scope: Scope, id: CompanyId) -> Result<bool, TenancyError> {
        if !scope.includes(Some(id)) {
            return Ok(false);
        }
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let deleted = diesel::delete(companies::table.filter(companies::id.eq(id.get())))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        // Its integrations went with it.
        self.db.routes().clear();
        Ok(deleted > 0)
    }
}
