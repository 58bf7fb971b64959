//! `/tickets`: the agents' work queue.

use actix_web::{HttpRequest, HttpResponse, web};
use garde::Validate;
use omni_core::{CompanyId, DisplayName, FieldError, PhoneNumber, TicketId, UserId};
use omni_messaging::TemplateMessage;
use omni_ticketing::{
    AssigneeFilter, Channel, NewTicketInput, Priority, Ticket, TicketFilter, TicketService,
    TicketStatus, TicketUpdateInput,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::pagination::{PageQuery, PageResponse};
use crate::schemas::{
    AssigneeText, DisplayNameText, FilterText, IncludeFilter, PriorityFilter, SearchText,
    StatusFilter,
};
use crate::state::AppState;
use crate::validate::{ValidJson, domain, optional, parses};

/// The longest text search accepted, in characters.
pub(crate) const MAX_QUERY_CHARS: usize = 200;

/// `GET /tickets`: filters and page, parsed from the query string by hand because
/// `status` and `priority` may repeat (`?status=open&status=pending`, or `open,pending`).
fn parse_list_query(query: &str) -> Result<(TicketFilter, PageQuery), ApiError> {
    let mut filter = TicketFilter::default();
    let mut page = PageQuery::default();
    let mut errors = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.trim();
        // PostgreSQL refuses NUL in text; other control characters mean nothing in a filter.
        if value.chars().any(char::is_control) {
            errors.push(FieldError::new(
                key.as_ref(),
                "must not contain control characters",
            ));
            continue;
        }
        match key.as_ref() {
            "status" => parse_many(value, "status", &mut filter.statuses, &mut errors),
            "priority" => parse_many(value, "priority", &mut filter.priorities, &mut errors),
            "category" if !value.is_empty() => filter.category = Some(value.to_owned()),
            "assigned_to" => {
                filter.assignee = match value {
                    "me" => AssigneeFilter::Me,
                    "none" => AssigneeFilter::Nobody,
                    id => match id.parse::<i64>() {
                        Ok(id) => AssigneeFilter::User(UserId::new(id)),
                        Err(_) => {
                            errors.push(FieldError::new(
                                "assigned_to",
                                "must be a user id, `me` or `none`",
                            ));
                            AssigneeFilter::Any
                        }
                    },
                }
            }
            "customer_phone" => match PhoneNumber::parse(value) {
                Ok(phone) => filter.customer_phone = Some(phone),
                Err(e) => errors.push(FieldError::new("customer_phone", e.to_string())),
            },
            "q" if value.chars().count() > MAX_QUERY_CHARS => {
                errors.push(FieldError::new(
                    "q",
                    format!("must be at most {MAX_QUERY_CHARS} characters"),
                ));
            }
            "q" if !value.is_empty() => filter.text = Some(value.to_owned()),
            "limit" => match value.parse() {
                Ok(n) => page.limit = Some(n),
                Err(_) => errors.push(FieldError::new("limit", "must be a whole number")),
            },
            "cursor" => page.cursor = Some(value.to_owned()),
            "include" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if part != INCLUDE_LAST_MESSAGE {
                        errors.push(FieldError::new("include", "may only name `last_message`"));
                    }
                }
            }
            "category" | "q" => {}
            other => errors.push(FieldError::new(other, "is not a filter of this list")),
        }
    }
    if errors.is_empty() {
        Ok((filter, page))
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// What `include` may ask to add to each ticket of the list.
pub(crate) const INCLUDE_LAST_MESSAGE: &str = "last_message";

/// Whether the (already validated) query asks for each ticket's latest message.
fn includes_last_message(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(key, value)| {
        key == "include" && value.split(',').any(|p| p.trim() == INCLUDE_LAST_MESSAGE)
    })
}

fn parse_many<T>(value: &str, field: &str, into: &mut Vec<T>, errors: &mut Vec<FieldError>)
where
    T: std::str::FromStr + PartialEq,
    T::Err: std::fmt::Display,
{
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse() {
            Ok(v) if !into.contains(&v) => into.push(v),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(field, e.to_string())),
        }
    }
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// `POST /tickets`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketRequest {
    /// The customer's number, E.164.
    #[garde(custom(parses::<PhoneNumber>))]
    #[serde(default)]
    #[schema(required, value_type = PhoneNumber)]
    pub customer_phone: String,
    /// The customer's name.
    #[garde(inner(custom(parses::<DisplayName>)))]
    #[schema(value_type = Option<DisplayNameText>)]
    pub customer_name: Option<String>,
    /// `whatsapp` (default) or `sms`.
    #[garde(inner(custom(parses::<Channel>)))]
    #[schema(value_type = Option<Channel>)]
    pub channel: Option<String>,
    /// `low`, `medium` (default), `high` or `urgent`.
    #[garde(inner(custom(parses::<Priority>)))]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
    /// One of the company's categories.
    #[garde(skip)]
    pub category: Option<String>,
    /// The agent to work it.
    #[garde(skip)]
    pub assigned_to: Option<i64>,
    /// The company (superadmin only).
    #[garde(skip)]
    pub company_id: Option<i64>,
    /// An approved WhatsApp template to open the conversation with (a business writes
    /// first only with one): checked before the ticket is stored, then queued on it as
    /// its first message.
    #[garde(skip)]
    pub template: Option<TemplateMessage>,
}

/// `PUT /tickets/:id`: only the fields given change; `null` clears category or assignee.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketRequest {
    /// A new status, through the state machine.
    #[garde(inner(custom(parses::<TicketStatus>)))]
    #[schema(value_type = Option<TicketStatus>)]
    pub status: Option<String>,
    /// A new priority.
    #[garde(inner(custom(parses::<Priority>)))]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
    /// A new category, or `null`.
    #[serde(default, deserialize_with = "double_option")]
    #[garde(skip)]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// A new assignee, or `null`.
    #[serde(default, deserialize_with = "double_option")]
    #[garde(skip)]
    #[schema(value_type = Option<i64>)]
    pub assigned_to: Option<Option<i64>>,
}

/// Tickets the caller may see, filtered, newest activity first.
#[utoipa::path(get, path = "/tickets", tag = "tickets", security(("bearer" = [])),
    params(
        ("status" = Option<Vec<StatusFilter>>, Query, description = "Only these statuses; repeat the parameter or separate with commas"),
        ("priority" = Option<Vec<PriorityFilter>>, Query, description = "Only these priorities; repeat or separate with commas"),
        ("category" = Option<FilterText>, Query, description = "Only this category"),
        ("assigned_to" = Option<AssigneeText>, Query, description = "`me`, `none` (unassigned) or a user id"),
        ("customer_phone" = Option<PhoneNumber>, Query, description = "Only this customer (E.164)"),
        ("q" = Option<SearchText>, Query, description = "Words in the ticket's messages (Portuguese and English stemming); to find a customer by number, use `customer_phone`"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Rows per page, 1 to 200 (50 when omitted)"),
        ("cursor" = Option<FilterText>, Query, description = "The `next_cursor` of the previous page"),
        ("include" = Option<IncludeFilter>, Query, description = "`last_message`: each ticket also carries its latest message (one more index read per ticket; an inbox wants it, a sync does not)"),
    ),
    responses((status = 200, description = "A page of tickets, latest activity first (with `include=last_message`, each with its latest message)", body = PageResponse<TicketListItem>)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (filter, page) = parse_list_query(req.query_string())?;
    let tickets = state.tickets.list(&caller.0, filter, page.page()?).await?;
    if !includes_last_message(req.query_string()) {
        // Measured: the previews' second query costs ~1.5 ms a page; only those who ask pay.
        return Ok(HttpResponse::Ok().json(PageResponse::from_page(tickets, |t| t)));
    }
    let named: Vec<_> = tickets.data.iter().map(|t| (t.company_id, t.id)).collect();
    let mut previews: std::collections::HashMap<_, _> = state
        .messaging
        .previews(&named)
        .await?
        .into_iter()
        .collect();
    Ok(
        HttpResponse::Ok().json(PageResponse::from_page(tickets, |ticket| TicketListItem {
            last_message: previews.remove(&ticket.id),
            ticket,
        })),
    )
}

/// A ticket as the list gives it: the ticket, and with `include=last_message` its latest
/// message.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketListItem {
    /// The ticket's fields.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// Its latest message (the customer's or an answer), null before the first; present
    /// only with `include=last_message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<omni_messaging::MessagePreview>,
}

/// Opens a ticket; with a `template`, writes to the customer first (the template is queued
/// as the ticket's first message).
#[utoipa::path(post, path = "/tickets", tag = "tickets", security(("bearer" = [])),
    request_body = CreateTicketRequest,
    responses(
        (status = 201, description = "The new ticket", body = Ticket),
        (status = 404, description = "No such company"),
        (status = 422, description = "Invalid fields; or a template that is not approved for the company's WhatsApp number, or whose variables are missing (each named `template.variables.<name>`)"),
        (status = 502, description = "Twilio's Content API did not answer (the template could not be checked)"),
        (status = 409, description = "The customer already has an open ticket (`ticket_id` names it)"),
    ))]
pub async fn create(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ValidJson<CreateTicketRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let input = NewTicketInput {
        customer_phone: domain("customer_phone", &body.customer_phone)?,
        customer_name: optional::<DisplayName>("customer_name", body.customer_name.as_deref())?
            .map(String::from),
        channel: optional("channel", body.channel.as_deref())?,
        priority: optional("priority", body.priority.as_deref())?,
        category: body.category,
        assigned_to: body.assigned_to.map(UserId::new),
        company_id: body.company_id.map(CompanyId::new),
    };
    // A template is checked against the catalog of the ticket's company (decided as
    // `create` decides it) before the ticket is stored.
    let template = match body.template {
        Some(message) => {
            let company = TicketService::company_for(&caller.0, input.company_id)?;
            let checked = state
                .messaging
                .check_template(
                    company,
                    input.channel.unwrap_or(Channel::Whatsapp),
                    &message,
                )
                .await?;
            Some((message, checked))
        }
        None => None,
    };
    let mut ticket = state.tickets.create(&caller.0, input).await?;
    if let Some((message, checked)) = template {
        let queued = state
            .messaging
            .queue_template(&caller.0, &ticket, &checked, message, None)
            .await;
        if let Err(e) = queued {
            // Nothing half-stored: the ticket goes with the message that could not.
            if let Err(undo) = state.tickets.withdraw(&caller.0, ticket.id).await {
                tracing::error!(error = %undo, ticket_id = %ticket.id, "could not take back a ticket whose template was not stored");
            }
            return Err(e.into());
        }
        ticket = state.tickets.get(&caller.0, ticket.id).await?;
    }
    Ok(HttpResponse::Created().json(ticket))
}

/// One ticket.
#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, description = "The ticket", body = Ticket)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let ticket = state.tickets.get(&caller.0, TicketId::new(*id)).await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Changes a ticket.
#[utoipa::path(put, path = "/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = UpdateTicketRequest,
    responses(
        (status = 200, description = "The ticket as changed", body = Ticket),
        (status = 409, description = "A status the ticket cannot move to (`allowed` lists those it can), or a concurrent change"),
    ))]
pub async fn update(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
    body: ValidJson<UpdateTicketRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let input = TicketUpdateInput {
        status: optional("status", body.status.as_deref())?,
        priority: optional("priority", body.priority.as_deref())?,
        category: body.category,
        assigned_to: body.assigned_to.map(|a| a.map(UserId::new)),
    };
    let ticket = state
        .tickets
        .update(&caller.0, TicketId::new(*id), input)
        .await?;
    Ok(HttpResponse::Ok().json(ticket))
}

/// Deletes a ticket and its messages.
#[utoipa::path(delete, path = "/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 204, description = "Deleted, with its messages")))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.tickets.delete(&caller.0, TicketId::new(*id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_repeat_or_use_commas() {
        let (f, p) = parse_list_query("status=open&status=pending,resolved&priority=high&assigned_to=me&q=pedido%20atrasado&limit=10").unwrap();
        assert_eq!(
            f.statuses,
            [
                TicketStatus::Open,
                TicketStatus::Pending,
                TicketStatus::Resolved
            ]
        );
        assert_eq!(f.priorities, [Priority::High]);
        assert_eq!(f.assignee, AssigneeFilter::Me);
        assert_eq!(f.text.as_deref(), Some("pedido atrasado"));
        assert_eq!(p.limit, Some(10));
        assert_eq!(
            parse_list_query("assigned_to=none").unwrap().0.assignee,
            AssigneeFilter::Nobody
        );
        assert_eq!(
            parse_list_query("customer_phone=%2B5511987650001")
                .unwrap()
                .0
                .customer_phone
                .unwrap()
                .as_str(),
            "+5511987650001"
        );
    }

    /// The document's patterns for the list filters accept exactly the values this parser
    /// does.
    #[test]
    fn filter_patterns_accept_what_the_parser_accepts() {
        use utoipa::PartialSchema;

        fn pattern<T: PartialSchema>() -> regex::Regex {
            let schema = serde_json::to_value(T::schema()).unwrap();
            regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
        }
        let tokens = [
            "open",
            "high",
            ",",
            " ",
            "\t",
            "\u{3000}",
            "\u{0}",
            "x",
            "opens",
            "last_message",
        ];
        let mut values = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = values
                .iter()
                .flat_map(|v| tokens.iter().map(move |t| format!("{v}{t}")))
                .collect();
            values.extend(longer);
        }
        let checks: [(&str, regex::Regex); 7] = [
            ("include", pattern::<IncludeFilter>()),
            ("status", pattern::<StatusFilter>()),
            ("priority", pattern::<PriorityFilter>()),
            ("category", pattern::<FilterText>()),
            ("q", pattern::<SearchText>()),
            ("cursor", pattern::<FilterText>()),
            ("assigned_to", pattern::<AssigneeText>()),
        ];
        for (key, re) in &checks {
            for value in &values {
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(key, value)
                    .finish();
                let refused = match parse_list_query(&query) {
                    Ok(_) => false,
                    // A cursor this server did not issue is refused later, by the page.
                    Err(ApiError::Validation(errors)) => errors.iter().any(|e| e.field == *key),
                    Err(other) => panic!("{other:?}"),
                };
                assert_eq!(re.is_match(value), !refused, "{key}={value:?}");
            }
        }
    }

    #[test]
    fn bad_filters_are_each_named() {
        let Err(ApiError::Validation(errors)) =
            parse_list_query("status=lost&assigned_to=bob&customer_phone=123&colour=red&limit=x")
        else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["status", "assigned_to", "customer_phone", "colour", "limit"]
        );
    }
}
