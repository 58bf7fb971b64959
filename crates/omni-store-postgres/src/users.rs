//! The identity crate's [`UserRepository`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use omni_core::{CompanyId, Cursor, DisplayName, Page, PageRequest, Scope, UserId};
use omni_identity::{
    Email, IdentityError, NewUser, PasswordHash, Role, Session, TicketGrant, User, UserRepository,
    UserUpdate,
};
use sha2::{Digest as _, Sha256};

use crate::Database;
use crate::errors::{Violation, constraint_violation, lost_connection};
use crate::schema::{companies, revoked_tokens, users, ws_tickets};

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

    /// Forgets revocations of tokens that have expired anyway, and expired WebSocket
    /// tickets (periodic upkeep); returns how many rows went.
    pub async fn prune_expired_sessions(&self) -> Result<usize, crate::StoreError> {
        let mut conn = self.db.conn().await?;
        let revoked = diesel::delete(
            revoked_tokens::table.filter(revoked_tokens::expires_at.lt(diesel::dsl::now)),
        )
        .execute(&mut conn)
        .await?;
        let tickets =
            diesel::delete(ws_tickets::table.filter(ws_tickets::expires_at.lt(diesel::dsl::now)))
                .execute(&mut conn)
                .await?;
        Ok(revoked + tickets)
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
    session_epoch: i64,
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
            session_epoch: self.session_epoch,
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
    if lost_connection(&e) {
        return IdentityError::Unavailable(e.to_string());
    }
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
        let end_sessions = changes.end_sessions;
        let removes_an_admin = changes.removes_an_admin;
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let row = conn
            .transaction(async |conn| {
                // The company's admins are locked before the target, in id order, by
                // every change that may remove one: two such changes queue, never
                // deadlock.
                if removes_an_admin {
                    let company = company_of(conn, id).await?;
                    keep_an_admin(conn, company).await?;
                }
                let Some(target) = lock_target(conn, scope, id).await? else {
                    return Ok(None);
                };
                let epoch = users::session_epoch + i64::from(end_sessions);
                let row = diesel::update(users::table.filter(users::id.eq(target.id)))
                    .set((&changeset, users::session_epoch.eq(epoch)))
                    .returning(UserRow::as_returning())
                    .get_result::<UserRow>(conn)
                    .await?;
                Ok::<_, TxError>(Some(row))
            })
            .await
            .map_err(IdentityError::from)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn delete(
        &self,
        scope: Scope,
        id: UserId,
        removes_an_admin: bool,
    ) -> Result<bool, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        conn.transaction(async |conn| {
            if removes_an_admin {
                let company = company_of(conn, id).await?;
                keep_an_admin(conn, company).await?;
            }
            let Some(target) = lock_target(conn, scope, id).await? else {
                return Ok(false);
            };
            let deleted = diesel::delete(users::table.filter(users::id.eq(target.id)))
                .execute(conn)
                .await?;
            Ok::<_, TxError>(deleted > 0)
        })
        .await
        .map_err(IdentityError::from)
    }

    async fn find_session(
        &self,
        id: UserId,
        token_id: &str,
    ) -> Result<Option<(User, bool)>, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        // One round trip per authenticated request: the user and the revocation together.
        let revoked = diesel::dsl::exists(
            revoked_tokens::table.filter(revoked_tokens::token_id.eq(token_id.to_owned())),
        );
        users::table
            .filter(users::id.eq(id.get()))
            .select((UserRow::as_select(), revoked))
            .first::<(UserRow, bool)>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(|(row, revoked)| Ok((row.into_user()?, revoked)))
            .transpose()
    }

    async fn revoke_token(
        &self,
        user: UserId,
        token_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        diesel::insert_into(revoked_tokens::table)
            .values((
                revoked_tokens::token_id.eq(token_id),
                revoked_tokens::user_id.eq(user.get()),
                revoked_tokens::expires_at.eq(expires_at),
            ))
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn end_sessions(&self, user: UserId) -> Result<(), IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        diesel::update(users::table.filter(users::id.eq(user.get())))
            .set(users::session_epoch.eq(users::session_epoch + 1))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn store_ticket(
        &self,
        ticket: &str,
        session: &Session,
        ttl_secs: u32,
    ) -> Result<(), IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let ttl = diesel::dsl::sql::<diesel::sql_types::Interval>(&format!(
            "interval '{} seconds'",
            ttl_secs
        ));
        diesel::insert_into(ws_tickets::table)
            .values((
                ws_tickets::ticket_hash.eq(ticket_hash(ticket)),
                ws_tickets::user_id.eq(session.principal.user_id.get()),
                ws_tickets::token_id.eq(&session.token_id),
                ws_tickets::session_epoch.eq(session.session_epoch),
                ws_tickets::token_expires_at.eq(session.expires_at),
                ws_tickets::expires_at
                    .eq(diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>() + ttl),
            ))
            .execute(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn take_ticket(&self, ticket: &str) -> Result<Option<TicketGrant>, IdentityError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let taken = diesel::delete(
            ws_tickets::table.filter(ws_tickets::ticket_hash.eq(ticket_hash(ticket))),
        )
        .returning((
            ws_tickets::user_id,
            ws_tickets::token_id,
            ws_tickets::session_epoch,
            ws_tickets::token_expires_at,
            ws_tickets::expires_at.gt(diesel::dsl::now),
        ))
        .get_result::<(i64, String, i64, DateTime<Utc>, bool)>(&mut conn)
        .await
        .optional()
        .map_err(store_error)?;
        Ok(taken.filter(|(.., fresh)| *fresh).map(
            |(user_id, token_id, session_epoch, token_expires_at, _)| TicketGrant {
                user_id: UserId::new(user_id),
                token_id,
                session_epoch,
                token_expires_at,
            },
        ))
    }
}

/// Only a hash of a ticket is stored: a copy of the table opens no socket.
fn ticket_hash(ticket: &str) -> Vec<u8> {
    Sha256::digest(ticket.as_bytes()).to_vec()
}

/// The target user, locked for the change, if the scope includes them.
async fn lock_target(
    conn: &mut diesel_async::AsyncPgConnection,
    scope: Scope,
    id: UserId,
) -> Result<Option<UserRow>, TxError> {
    let row = users::table
        .filter(users::id.eq(id.get()))
        .select(UserRow::as_select())
        .for_update()
        .first::<UserRow>(conn)
        .await
        .optional()?;
    Ok(row.filter(|r| scope.includes(r.company_id.map(CompanyId::new))))
}

/// The user's company (which never changes), read without a lock.
async fn company_of(
    conn: &mut diesel_async::AsyncPgConnection,
    id: UserId,
) -> Result<Option<i64>, TxError> {
    Ok(users::table
        .filter(users::id.eq(id.get()))
        .select(users::company_id)
        .first::<Option<i64>>(conn)
        .await
        .optional()?
        .flatten())
}

/// A failure inside a transaction: the database's, or a rule's.
enum TxError {
    Db(diesel::result::Error),
    Identity(IdentityError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<TxError> for IdentityError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Db(e) => store_error(e),
            TxError::Identity(e) => e,
        }
    }
}

/// Refuses when the company would be left with no admin. The company's admins are locked
/// (in id order, so two such changes queue rather than deadlock), which makes "demote or
/// delete one of the last two admins" from two requests at once leave one.
async fn keep_an_admin(
    conn: &mut diesel_async::AsyncPgConnection,
    company: Option<i64>,
) -> Result<(), TxError> {
    let Some(company) = company else {
        return Ok(());
    };
    let admins: Vec<i64> = users::table
        .filter(users::company_id.eq(company))
        .filter(users::role.eq(Role::Admin.as_str()))
        .order(users::id.asc())
        .select(users::id)
        .for_update()
        .load(conn)
        .await?;
    if admins.len() <= 1 {
        return Err(TxError::Identity(IdentityError::LastAdmin));
    }
    Ok(())
}
