//! The identity crate's [`UserRepository`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use omni_core::{CompanyId, Cursor, DisplayName, Page, PageRequest, Scope, UserId};
use omni_identity::{
    Email, IdentityError, NewUser, PasswordHash, Role, User, UserRepository, UserUpdate,
};

use crate::Database;
use crate::errors::{Violation, constraint_violation};
use crate::schema::{companies, users};

/// Users in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgUserRepository {
    db: Database,
}

impl PgUserRepository {
    /// A repository over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: i64,
    company_id: Option<i64>,
    email: String,
    password_hash: String,
    name: String,
    role: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl UserRow {
    fn into_user(self) -> Result<User, IdentityError> {
        Ok(self.split()?.0)
    }

    fn split(self) -> Result<(User, PasswordHash), IdentityError> {
        let corrupt = |what: &str| {
            IdentityError::Unknown(format!("stored user {} has an invalid {what}", self.id))
        };
        let user = User {
            id: UserId::new(self.id),
            company_id: self.company_id.map(CompanyId::new),
            email: Email::parse(&self.email).map_err(|_| corrupt("email"))?,
            name: DisplayName::parse(&self.name).map_err(|_| corrupt("name"))?,
            role: self.role.parse::<Role>().map_err(|_| corrupt("role"))?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        Ok((user, PasswordHash::new(self.password_hash)))
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct UserInsert<'a> {
    company_id: Option<i64>,
    email: &'a str,
    password_hash: &'a str,
    name: &'a str,
    role: &'a str,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangeset {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
    password_hash: Option<String>,
}

fn store_error(e: diesel::result::Error) -> IdentityError {
    match constraint_violation(&e) {
        Some(Violation::Unique("users_email_key")) => IdentityError::EmailTaken,
        // The user's company does not exist (any more).
        Some(Violation::ForeignKey("users_company_id_fkey")) => IdentityError::NotFound,
        _ => IdentityError::Unknown(e.to_string()),
    }
}

fn unavailable(e: crate::StoreError) -> IdentityError {
    match e {
        crate::StoreError::Unavailable(cause) => IdentityError::Unavailable(cause),
        other => IdentityError::Unknown(other.to_string()),
    }
}

fn scoped(scope: Scope) -> users::BoxedQuery<'static, diesel::pg::Pg> {
    match scope {
        Scope::All => users::table.into_boxed(),
        Scope::Company(company) => users::table
            .filter(users::company_id.eq(company.get()))
            .into_boxed(),
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    async fn create_company_with_admin(
        &self,
        company_name: &DisplayName,
        email: &Email,
        name: &DisplayName,
        password_hash: &PasswordHash,
    ) -> Result<User, IdentityError> {
        let settings = serde_json::to_value(omni_tenancy::CompanySettings::default())
            .map_err(|e| IdentityError::Unknown(e.to_string()))?;
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let row: UserRow = conn
            .transaction(async |conn| {
                let company_id: i64 = diesel::insert_into(companies::table)
                    .values((
                        companies::name.eq(company_name.as_str()),
                        companies::settings.eq(&settings),
                    ))
                    .returning(companies::id)
                    .get_result(conn)
                    .await?;
                diesel::insert_into(users::table)
                    .values(UserInsert {
                        company_id: Some(company_id),
                        email: email.as_str(),
                        password_hash: password_hash.as_str(),
                        name: name.as_str(),
                        role: Role::Admin.as_str(),
                    })
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
            })
            .await
            .map_err(store_error)?;
        row.into_user()
    }

    async fn insert(&self, user: NewUser) -> Result<User, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        diesel::insert_into(users::table)
            .values(UserInsert {
                company_id: user.company_id.map(CompanyId::get),
                email: user.email.as_str(),
                password_hash: user.password_hash.as_str(),
                name: user.name.as_str(),
                role: user.role.as_str(),
            })
            .returning(UserRow::as_returning())
            .get_result::<UserRow>(&mut conn)
            .await
            .map_err(store_error)?
            .into_user()
    }

    async fn find(&self, scope: Scope, id: UserId) -> Result<Option<User>, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        scoped(scope)
            .filter(users::id.eq(id.get()))
            .select(UserRow::as_select())
            .first::<UserRow>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(UserRow::into_user)
            .transpose()
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        users::table
            .filter(users::email.eq(email.as_str()))
            .select(UserRow::as_select())
            .first::<UserRow>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(UserRow::split)
            .transpose()
    }

    async fn list(
        &self,
        scope: Scope,
        company: Option<CompanyId>,
        page: PageRequest,
    ) -> Result<Page<User>, IdentityError> {
        let mut query = scoped(scope);
        if let Some(company) = company {
            query = query.filter(users::company_id.eq(company.get()));
        }
        if let Some(cursor) = page.cursor {
            query = query.filter(users::id.gt(cursor.id));
        }
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let rows = query
            .order(users::id.asc())
            .limit(i64::from(page.limit.get()) + 1)
            .select(UserRow::as_select())
            .load::<UserRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let users = rows
            .into_iter()
            .map(UserRow::into_user)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(users, page.limit, |u| Cursor {
            at: None,
            id: u.id.get(),
        }))
    }

    async fn update(
        &self,
        scope: Scope,
        id: UserId,
        changes: UserUpdate,
    ) -> Result<Option<User>, IdentityError> {
        let changeset = UserChangeset {
            email: changes.email.map(String::from),
            name: changes.name.map(String::from),
            role: changes.role.map(|r| r.as_str().to_owned()),
            password_hash: changes.password_hash.map(|h| h.as_str().to_owned()),
        };
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let target = users::table.filter(users::id.eq(id.get()));
        let row = match scope {
            Scope::All => {
                diesel::update(target)
                    .set(&changeset)
                    .returning(UserRow::as_returning())
                    .get_result::<UserRow>(&mut conn)
                    .await
            }
            Scope::Company(company) => {
                diesel::update(target.filter(users::company_id.eq(company.get())))
                    .set(&changeset)
                    .returning(UserRow::as_returning())
                    .get_result::<UserRow>(&mut conn)
                    .await
            }
        };
        row.optional()
            .map_err(store_error)?
            .map(UserRow::into_user)
            .transpose()
    }

    async fn delete(&self, scope: Scope, id: UserId) -> Result<bool, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let target = users::table.filter(users::id.eq(id.get()));
        let deleted = match scope {
            Scope::All => diesel::delete(target).execute(&mut conn).await,
            Scope::Company(company) => {
                diesel::delete(target.filter(users::company_id.eq(company.get())))
                    .execute(&mut conn)
                    .await
            }
        }
        .map_err(store_error)?;
        Ok(deleted > 0)
    }
}
