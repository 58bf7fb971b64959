//! The tenancy crate's [`IntegrationRepository`] on PostgreSQL. Secrets arrive sealed and
//! are stored as `{name: {kid, nonce, ct}}` (base64): this adapter never sees a plaintext.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use omni_core::{CompanyId, Cursor, IntegrationId, Page, PageRequest, Scope};
use omni_tenancy::{
    Integration, IntegrationChanges, IntegrationConfig, IntegrationRepository, IntegrationType,
    NewIntegration, SealedSecret, TenancyError,
};
use serde::{Deserialize, Serialize};

use crate::Database;
use crate::errors::{Violation, constraint_violation, lost_connection};
use crate::schema::integrations;

/// Integrations in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgIntegrationRepository {
    db: Database,
}

impl PgIntegrationRepository {
    /// A repository over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = integrations, check_for_backend(diesel::pg::Pg))]
struct IntegrationRow {
    id: i64,
    company_id: i64,
    kind: String,
    config: serde_json::Value,
    secrets: serde_json::Value,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredSecret {
    kid: String,
    nonce: String,
    ct: String,
}

impl IntegrationRow {
    fn into_integration(self) -> Result<Integration, TenancyError> {
        let corrupt = |what: &str| {
            TenancyError::Unknown(format!("stored integration {} has invalid {what}", self.id))
        };
        let kind: IntegrationType = self.kind.parse().map_err(|_| corrupt("type"))?;
        let config = IntegrationConfig::parse(kind, &self.config, None)
            .map_err(|_| corrupt("config"))?
            .config;
        let stored: BTreeMap<String, StoredSecret> =
            serde_json::from_value(self.secrets.clone()).map_err(|_| corrupt("secrets"))?;
        let secrets = stored
            .into_iter()
            .map(|(name, s)| {
                Ok((
                    name,
                    SealedSecret {
                        key_id: s.kid,
                        nonce: BASE64.decode(s.nonce).map_err(|_| corrupt("secrets"))?,
                        ciphertext: BASE64.decode(s.ct).map_err(|_| corrupt("secrets"))?,
                    },
                ))
            })
            .collect::<Result<_, TenancyError>>()?;
        Ok(Integration {
            id: IntegrationId::new(self.id),
            company_id: CompanyId::new(self.company_id),
            kind,
            config,
            secrets,
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn secrets_json(secrets: &BTreeMap<String, SealedSecret>) -> serde_json::Value {
    let stored: BTreeMap<&str, StoredSecret> = secrets
        .iter()
        .map(|(name, s)| {
            (
                name.as_str(),
                StoredSecret {
                    kid: s.key_id.clone(),
                    nonce: BASE64.encode(&s.nonce),
                    ct: BASE64.encode(&s.ciphertext),
                },
            )
        })
        .collect();
    serde_json::to_value(stored).unwrap_or_default()
}

fn store_error(e: diesel::result::Error) -> TenancyError {
    if lost_connection(&e) {
        return TenancyError::Unavailable(e.to_string());
    }
    match constraint_violation(&e) {
        Some(Violation::Unique("integrations_phone_number_key")) => {
            TenancyError::Conflict("the phone number already belongs to an integration")
        }
        Some(Violation::Unique("integrations_one_vera_per_company")) => {
            TenancyError::Conflict("the company already has a vera_ai integration")
        }
        Some(Violation::ForeignKey("integrations_company_id_fkey")) => TenancyError::NotFound,
        _ => TenancyError::Unknown(e.to_string()),
    }
}

fn unavailable(e: crate::StoreError) -> TenancyError {
    match e {
        crate::StoreError::Unavailable(cause) => TenancyError::Unavailable(cause),
        other => TenancyError::Unknown(other.to_string()),
    }
}

fn scoped(scope: Scope) -> integrations::BoxedQuery<'static, diesel::pg::Pg> {
    match scope {
        Scope::All => integrations::table.into_boxed(),
        Scope::Company(c) => integrations::table
            .filter(integrations::company_id.eq(c.get()))
            .into_boxed(),
    }
}

#[async_trait]
impl IntegrationRepository for PgIntegrationRepository {
    async fn list(
        &self,
        scope: Scope,
        page: PageRequest,
    ) -> Result<Page<Integration>, TenancyError> {
        let mut query = scoped(scope);
        if let Some(cursor) = page.cursor {
            query = query.filter(integrations::id.gt(cursor.id));
        }
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let rows = query
            .order(integrations::id.asc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(IntegrationRow::as_select())
            .load::<IntegrationRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let items = rows
            .into_iter()
            .map(IntegrationRow::into_integration)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |i| Cursor {
            at: None,
            id: i.id.get(),
        }))
    }

    async fn find(
        &self,
        scope: Scope,
        id: IntegrationId,
    ) -> Result<Option<Integration>, TenancyError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        scoped(scope)
            .filter(integrations::id.eq(id.get()))
            .select(IntegrationRow::as_select())
            .first::<IntegrationRow>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(IntegrationRow::into_integration)
            .transpose()
    }

    async fn insert(&self, new: NewIntegration) -> Result<Integration, TenancyError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let inserted = diesel::insert_into(integrations::table)
            .values((
                integrations::company_id.eq(new.company_id.get()),
                integrations::kind.eq(new.kind.as_str()),
                integrations::config.eq(new.config.to_json()),
                integrations::secrets.eq(secrets_json(&new.secrets)),
                integrations::phone_number
                    .eq(new.config.phone_number().map(|p| p.as_str().to_owned())),
                integrations::enabled.eq(new.enabled),
            ))
            .returning(IntegrationRow::as_returning())
            .get_result::<IntegrationRow>(&mut conn)
            .await
            .map_err(store_error)?
            .into_integration();
        // After the write: a lookup racing with it may have remembered the old answer.
        self.db.routes().clear();
        inserted
    }

    async fn update(
        &self,
        scope: Scope,
        id: IntegrationId,
        changes: IntegrationChanges,
    ) -> Result<Option<Integration>, TenancyError> {
        let values = (
            integrations::config.eq(changes.config.to_json()),
            integrations::secrets.eq(secrets_json(&changes.secrets)),
            integrations::phone_number
                .eq(changes.config.phone_number().map(|p| p.as_str().to_owned())),
            integrations::enabled.eq(changes.enabled),
        );
        let target = integrations::table.filter(integrations::id.eq(id.get()));
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let row = match scope {
            Scope::All => {
                diesel::update(target)
                    .set(values)
                    .returning(IntegrationRow::as_returning())
                    .get_result::<IntegrationRow>(&mut conn)
                    .await
            }
            Scope::Company(c) => {
                diesel::update(target.filter(integrations::company_id.eq(c.get())))
                    .set(values)
                    .returning(IntegrationRow::as_returning())
                    .get_result::<IntegrationRow>(&mut conn)
                    .await
            }
        };
        self.db.routes().clear();
        row.optional()
            .map_err(store_error)?
            .map(IntegrationRow::into_integration)
            .transpose()
    }

    async fn find_by_phone(
        &self,
        phone: &omni_core::PhoneNumber,
    ) -> Result<Option<Integration>, TenancyError> {
        if let Some(answer) = self.db.routes().get(phone.as_str()) {
            return Ok(answer);
        }
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let answer = integrations::table
            .filter(integrations::phone_number.eq(phone.as_str()))
            .select(IntegrationRow::as_select())
            .first::<IntegrationRow>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(IntegrationRow::into_integration)
            .transpose()?;
        self.db.routes().put(phone.as_str(), answer.clone());
        Ok(answer)
    }

    async fn channels(&self, company: CompanyId) -> Result<Vec<Integration>, TenancyError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        integrations::table
            .filter(integrations::company_id.eq(company.get()))
            .filter(integrations::enabled.eq(true))
            .filter(integrations::phone_number.is_not_null())
            .order(integrations::id.asc())
            .select(IntegrationRow::as_select())
            .load::<IntegrationRow>(&mut conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(IntegrationRow::into_integration)
            .collect()
    }

    async fn delete(&self, scope: Scope, id: IntegrationId) -> Result<bool, TenancyError> {
        let target = integrations::table.filter(integrations::id.eq(id.get()));
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let deleted = match scope {
            Scope::All => diesel::delete(target).execute(&mut conn).await,
            Scope::Company(c) => {
                diesel::delete(target.filter(integrations::company_id.eq(c.get())))
                    .execute(&mut conn)
                    .await
            }
        }
        .map_err(store_error)?;
        self.db.routes().clear();
        Ok(deleted > 0)
    }
}
