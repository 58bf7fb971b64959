//! The ticketing crate's [`TicketRepository`] on PostgreSQL: every change and its event in
//! one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamptz};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use omni_core::{CompanyId, Cursor, IntegrationId, Page, PageRequest, Scope, TicketId, UserId};
use omni_ticketing::{
    AssigneeFilter, HandSet, NewTicket, Ticket, TicketChanges, TicketFilter, TicketRepository,
    TicketingError, TriageMerge, TriageResult, events as ticket_events,
};

use crate::errors::{Violation, constraint_violation, lost_connection};
use crate::notifier::Announce;
use crate::schema::{ticket_messages, tickets};
use crate::{Database, events, facts};

/// Tickets in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgTicketRepository {
    db: Database,
}

impl PgTicketRepository {
    /// A repository over the pool.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tickets, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TicketRow {
    id: i64,
    company_id: i64,
    integration_id: Option<i64>,
    customer_phone: String,
    customer_name: Option<String>,
    channel: String,
    status: String,
    priority: String,
    category: Option<String>,
    sentiment: Option<String>,
    sentiment_score: Option<f64>,
    suggested_categories: serde_json::Value,
    assigned_to: Option<i64>,
    last_message_at: Option<DateTime<Utc>>,
    last_activity_at: DateTime<Utc>,
    window_closes_at: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i32,
    manual_fields: Vec<String>,
    reopened_at: Option<DateTime<Utc>>,
    survey_sent_at: Option<DateTime<Utc>>,
    rating_score: Option<i16>,
    rating_comment: Option<String>,
    rated_at: Option<DateTime<Utc>>,
    suggested_reply: Option<String>,
}

impl TicketRow {
    /// The ticket's id.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn into_ticket(self) -> Result<Ticket, String> {
        let corrupt = |what: &str| format!("stored ticket {} has an invalid {what}", self.id);
        Ok(Ticket {
            id: TicketId::new(self.id),
            company_id: CompanyId::new(self.company_id),
            integration_id: self.integration_id.map(IntegrationId::new),
            customer_phone: self
                .customer_phone
                .parse()
                .map_err(|_| corrupt("customer_phone"))?,
            customer_name: self.customer_name,
            channel: self.channel.parse().map_err(|_| corrupt("channel"))?,
            status: self.status.parse().map_err(|_| corrupt("status"))?,
            priority: self.priority.parse().map_err(|_| corrupt("priority"))?,
            category: self.category,
            sentiment: self
                .sentiment
                .map(|s| s.parse())
                .transpose()
                .map_err(|_| corrupt("sentiment"))?,
            sentiment_score: self.sentiment_score,
            suggested_categories: self.suggested_categories,
            assigned_to: self.assigned_to.map(UserId::new),
            last_message_at: self.last_message_at,
            window_closes_at: self.window_closes_at,
            last_activity_at: self.last_activity_at,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            reopened_at: self.reopened_at,
            survey_sent_at: self.survey_sent_at,
            suggested_reply: self.suggested_reply,
            rating: match (self.rating_score, self.rated_at) {
                (Some(score), Some(rated_at)) => Some(omni_ticketing::Rating {
                    score: u8::try_from(score).map_err(|_| corrupt("rating"))?,
                    comment: self.rating_comment,
                    rated_at,
                }),
                _ => None,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            hand_set: HandSet::from_names(self.manual_fields.iter().map(String::as_str)),
        })
    }
}

/// A row that does not convert, surfaced inside a transaction (so that it rolls back).
fn undecodable(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

#[derive(AsChangeset)]
#[diesel(table_name = tickets)]
struct TicketChangeset {
    status: Option<String>,
    priority: Option<String>,
    category: Option<Option<String>>,
    assigned_to: Option<Option<i64>>,
    resolved_at: Option<Option<DateTime<Utc>>>,
    reopened_at: Option<DateTime<Utc>>,
}

fn store_error(e: diesel::result::Error) -> TicketingError {
    if lost_connection(&e) {
        return TicketingError::Unavailable(e.to_string());
    }
    match constraint_violation(&e) {
        Some(Violation::ForeignKey("tickets_assignee_same_company")) => {
            TicketingError::Validation(vec![omni_core::FieldError::new(
                "assigned_to",
                "is not a user of the ticket's company",
            )])
        }
        Some(Violation::ForeignKey("tickets_company_id_fkey")) => TicketingError::NotFound,
        _ => TicketingError::Unknown(e.to_string()),
    }
}

fn unavailable(e: crate::StoreError) -> TicketingError {
    match e {
        crate::StoreError::Unavailable(cause) => TicketingError::Unavailable(cause),
        other => TicketingError::Unknown(other.to_string()),
    }
}

fn scoped(scope: Scope) -> tickets::BoxedQuery<'static, diesel::pg::Pg> {
    match scope {
        Scope::All => tickets::table.into_boxed(),
        Scope::Company(c) => tickets::table
            .filter(tickets::company_id.eq(c.get()))
            .into_boxed(),
    }
}

async fn insert_with_event(conn: &mut AsyncPgConnection, new: &NewTicket) -> QueryResult<Ticket> {
    let row: TicketRow = diesel::insert_into(tickets::table)
        .values((
            tickets::company_id.eq(new.company_id.get()),
            tickets::customer_phone.eq(new.customer_phone.as_str()),
            tickets::customer_name.eq(new.customer_name.as_deref()),
            tickets::channel.eq(new.channel.as_str()),
            tickets::priority.eq(new.priority.as_str()),
            tickets::category.eq(new.category.as_deref()),
            tickets::assigned_to.eq(new.assigned_to.map(UserId::get)),
        ))
        .returning(TicketRow::as_returning())
        .get_result(conn)
        .await?;
    let ticket = row.into_ticket().map_err(undecodable)?;
    events::append(conn, &[ticket_events::created(&ticket)]).await?;
    facts::append(conn, &ticket.opening_facts()).await?;
    Ok(ticket)
}

#[async_trait]
impl TicketRepository for PgTicketRepository {
    async fn list(
        &self,
        scope: Scope,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> Result<Page<Ticket>, TicketingError> {
        let mut query = scoped(scope);
        if !filter.statuses.is_empty() {
            query = query.filter(
                tickets::status.eq_any(
                    filter
                        .statuses
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>(),
                ),
            );
        }
        if !filter.priorities.is_empty() {
            query = query.filter(
                tickets::priority.eq_any(
                    filter
                        .priorities
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>(),
                ),
            );
        }
        if let Some(category) = &filter.category {
            query = query.filter(tickets::category.eq(category.clone()));
        }
        match filter.assignee {
            AssigneeFilter::Any => {}
            AssigneeFilter::Nobody => query = query.filter(tickets::assigned_to.is_null()),
            AssigneeFilter::User(user) => query = query.filter(tickets::assigned_to.eq(user.get())),
            // The use case resolves `me`; should it arrive unresolved, it matches nobody
            // rather than everybody.
            AssigneeFilter::Me => query = query.filter(sql::<Bool>("false")),
        }
        if let Some(phone) = &filter.customer_phone {
            query = query.filter(tickets::customer_phone.eq(phone.as_str().to_owned()));
        }
        if let Some(text) = &filter.text {
            // Both stemmings are in the messages' `search` vector; either may match.
            let matches = sql::<Bool>("ticket_messages.search @@ (plainto_tsquery('portuguese', ")
                .bind::<Text, _>(text.clone())
                .sql(") || plainto_tsquery('english', ")
                .bind::<Text, _>(text.clone())
                .sql("))");
            query = query.filter(exists(
                ticket_messages::table
                    .filter(ticket_messages::company_id.eq(tickets::company_id))
                    .filter(ticket_messages::ticket_id.eq(tickets::id))
                    .filter(matches),
            ));
        }
        if let Some(Cursor { at: Some(at), id }) = page.cursor {
            // A row comparison walks the (…, last_activity_at DESC, id DESC) indexes.
            query = query.filter(
                sql::<Bool>("(tickets.last_activity_at, tickets.id) < (")
                    .bind::<Timestamptz, _>(at)
                    .sql(", ")
                    .bind::<BigInt, _>(id)
                    .sql(")"),
            );
        }
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let rows = query
            .order((tickets::last_activity_at.desc(), tickets::id.desc()))
            .limit(i64::from(page.limit.get()) + 1)
            .select(TicketRow::as_select())
            .load::<TicketRow>(&mut conn)
            .await
            .map_err(store_error)?;
        let tickets = rows
            .into_iter()
            .map(|r| r.into_ticket().map_err(TicketingError::Unknown))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(tickets, page.limit, |t| Cursor {
            at: Some(t.last_activity_at),
            id: t.id.get(),
        }))
    }

    async fn find(&self, scope: Scope, id: TicketId) -> Result<Option<Ticket>, TicketingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        scoped(scope)
            .filter(tickets::id.eq(id.get()))
            .select(TicketRow::as_select())
            .first::<TicketRow>(&mut conn)
            .await
            .optional()
            .map_err(store_error)?
            .map(|r| r.into_ticket().map_err(TicketingError::Unknown))
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(company_id = %new.company_id))]
    async fn insert(&self, new: NewTicket) -> Result<Ticket, TicketingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let result = conn
            .transaction(async |conn| insert_with_event(conn, &new).await)
            .await;
        self.db.announce(Announce::Events);
        match result {
            Ok(ticket) => Ok(ticket),
            Err(e)
                if constraint_violation(&e)
                    == Some(Violation::Unique("tickets_one_open_per_customer")) =>
            {
                let existing: i64 = tickets::table
                    .filter(tickets::company_id.eq(new.company_id.get()))
                    .filter(tickets::customer_phone.eq(new.customer_phone.as_str()))
                    .filter(tickets::status.ne("closed"))
                    .select(tickets::id)
                    .first(&mut conn)
                    .await
                    .map_err(store_error)?;
                Err(TicketingError::OpenTicketExists { existing })
            }
            Err(e) => Err(store_error(e)),
        }
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %id))]
    async fn apply(
        &self,
        scope: Scope,
        id: TicketId,
        version: i32,
        changes: &TicketChanges,
    ) -> Result<Option<Ticket>, TicketingError> {
        let changeset = TicketChangeset {
            status: changes.status.as_ref().map(|c| c.to.as_str().to_owned()),
            priority: changes.priority.as_ref().map(|c| c.to.as_str().to_owned()),
            category: changes.category.as_ref().map(|c| c.to.clone()),
            assigned_to: changes.assigned_to.as_ref().map(|c| c.to.map(UserId::get)),
            // Reopening clears the resolution time; resolving sets it.
            resolved_at: changes
                .resolved_at
                .map(Some)
                .or(changes.reopened_at.map(|_| None)),
            reopened_at: changes.reopened_at,
        };
        let company = match scope {
            Scope::All => None,
            Scope::Company(c) => Some(c.get()),
        };
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let result = conn
            .transaction(async |conn| {
                // The version check must sit in the UPDATE's own WHERE: PostgreSQL re-checks it
                // against a row another transaction changed meanwhile (a subquery it would not).
                let set = (&changeset, tickets::version.eq(tickets::version + 1));
                let row: Option<TicketRow> = match company {
                    None => diesel::update(
                        tickets::table
                            .filter(tickets::id.eq(id.get()))
                            .filter(tickets::version.eq(version)),
                    )
                    .set(set)
                    .returning(TicketRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?,
                    Some(company) => diesel::update(
                        tickets::table
                            .filter(tickets::id.eq(id.get()))
                            .filter(tickets::version.eq(version))
                            .filter(tickets::company_id.eq(company)),
                    )
                    .set(set)
                    .returning(TicketRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?,
                };
                let Some(row) = row else {
                    return Ok(None);
                };
                let mut ticket = row.into_ticket().map_err(undecodable)?;
                let hand_set = ticket.hand_set.marking(changes);
                if hand_set != ticket.hand_set {
                    diesel::update(tickets::table.filter(tickets::id.eq(id.get())))
                        .set(tickets::manual_fields.eq(hand_set.names()))
                        .execute(conn)
                        .await?;
                    ticket.hand_set = hand_set;
                }
                events::append(conn, &[ticket_events::updated(&ticket, changes)]).await?;
                // The times the domain stamped, or the change's own.
                let at = changes
                    .resolved_at
                    .or(changes.reopened_at)
                    .unwrap_or(ticket.updated_at);
                facts::append(conn, &ticket.change_facts(changes, at)).await?;
                if changes.ask_rating {
                    crate::jobs::enqueue(
                        conn,
                        Some(ticket.company_id.get()),
                        &omni_messaging::Job::Survey {
                            ticket_id: ticket.id,
                        },
                    )
                    .await?;
                }
                Ok(Some(ticket))
            })
            .await;
        self.db.announce(Announce::Events);
        if changes.ask_rating {
            self.db.announce(Announce::Jobs);
        }
        result.map_err(store_error)
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %id))]
    async fn apply_triage(
        &self,
        id: TicketId,
        result: &TriageResult,
    ) -> Result<Option<Ticket>, TicketingError> {
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let result = conn
            .transaction(async |conn| {
                let Some(before) = lock_ticket(conn, id).await? else {
                    return Ok(None);
                };
                let TriageMerge { after, changes } = before.merge_triage(result);
                let updated: TicketRow =
                    diesel::update(tickets::table.filter(tickets::id.eq(id.get())))
                        .set((
                            tickets::category.eq(&after.category),
                            tickets::priority.eq(after.priority.as_str()),
                            tickets::sentiment.eq(after.sentiment.map(|s| s.as_str())),
                            tickets::sentiment_score.eq(after.sentiment_score),
                            tickets::suggested_categories.eq(&after.suggested_categories),
                            tickets::suggested_reply.eq(&after.suggested_reply),
                            tickets::version.eq(tickets::version + 1),
                        ))
                        .returning(TicketRow::as_returning())
                        .get_result(conn)
                        .await?;
                let after = updated.into_ticket().map_err(undecodable)?;
                let mut new_events = vec![ticket_events::triage_completed(&after, result)];
                if !changes.is_empty() {
                    new_events.push(ticket_events::updated(&after, &changes));
                }
                events::append(conn, &new_events).await?;
                Ok(Some(after))
            })
            .await;
        self.db.announce(Announce::Events);
        result.map_err(store_error)
    }

    #[tracing::instrument(skip_all, fields(ticket_id = %id))]
    async fn delete(&self, scope: Scope, id: TicketId) -> Result<bool, TicketingError> {
        let company = match scope {
            Scope::All => None,
            Scope::Company(c) => Some(c.get()),
        };
        let mut conn = self.db.conn().await.map_err(unavailable)?;
        let result = conn
            .transaction(async |conn| {
                let mut target = tickets::table.filter(tickets::id.eq(id.get())).into_boxed();
                if let Some(company) = company {
                    target = target.filter(tickets::company_id.eq(company));
                }
                let row: Option<TicketRow> = diesel::delete(tickets::table)
                    .filter(tickets::id.eq_any(target.select(tickets::id)))
                    .returning(TicketRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                let Some(row) = row else {
                    return Ok(false);
                };
                let ticket = row.into_ticket().map_err(undecodable)?;
                events::append(conn, &[ticket_events::deleted(&ticket)]).await?;
                facts::append(conn, &ticket.deletion_facts(Utc::now())).await?;
                Ok(true)
            })
            .await;
        self.db.announce(Announce::Events);
        result.map_err(store_error)
    }
}

/// The ticket, locked until the caller's transaction ends; `None` if it is gone.
pub(crate) async fn lock_ticket(
    conn: &mut AsyncPgConnection,
    id: TicketId,
) -> QueryResult<Option<Ticket>> {
    let row = tickets::table
        .filter(tickets::id.eq(id.get()))
        .for_update()
        .select(TicketRow::as_select())
        .first::<TicketRow>(conn)
        .await
        .optional()?;
    decoded(row)
}

/// Reads a ticket as it is, without locking it.
pub(crate) async fn read_ticket(
    conn: &mut AsyncPgConnection,
    id: TicketId,
) -> QueryResult<Option<Ticket>> {
    let row = tickets::table
        .filter(tickets::id.eq(id.get()))
        .select(TicketRow::as_select())
        .first::<TicketRow>(conn)
        .await
        .optional()?;
    decoded(row)
}

fn decoded(row: Option<TicketRow>) -> QueryResult<Option<Ticket>> {
    row.map(|row| row.into_ticket().map_err(undecodable))
        .transpose()
}
