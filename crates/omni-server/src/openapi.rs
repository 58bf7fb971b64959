//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the DTOs' schemas, served at `/openapi.json` and rendered at `/docs`.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The whole API. Paths come from the handlers; error answers every operation shares are
/// added by `CommonProblems` so that each handler lists only what is its own.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Omni",
        description = "Customer service over WhatsApp: tickets, AI triage, real-time events. \
            Errors are `application/problem+json` (RFC 9457). Lists are cursor-paginated: \
            pass a page's `next_cursor` as `cursor` for the next one."
    ),
    paths(
        routes::health::live,
        routes::health::ready,
        routes::metrics::metrics,
        routes::docs::openapi_json,
        routes::ws::connect,
        routes::ws::ticket,
        routes::auth::register,
        routes::auth::login,
        routes::auth::profile,
        routes::auth::logout,
        routes::auth::logout_all,
        routes::users::list,
        routes::users::create,
        routes::users::get,
        routes::users::update,
        routes::users::delete,
        routes::companies::list,
        routes::companies::create,
        routes::companies::get,
        routes::companies::update,
        routes::companies::delete,
        routes::integrations::list,
        routes::integrations::create,
        routes::integrations::get,
        routes::integrations::update,
        routes::integrations::delete,
        routes::integrations::verify,
        routes::integrations::templates,
        routes::tickets::list,
        routes::tickets::create,
        routes::tickets::get,
        routes::tickets::update,
        routes::tickets::delete,
        routes::ticket_messages::list,
        routes::ticket_messages::reply,
        routes::ticket_messages::get,
        routes::ticket_messages::resend,
        routes::ticket_messages::media,
        routes::media::upload,
        routes::media::content,
        routes::webhook::webhook,
        routes::reports::overview,
        routes::reports::agents,
    ),
    // Parameters refer to these, and utoipa collects only what bodies refer to.
    components(schemas(
        crate::error::Problem,
        crate::schemas::FilterText,
        crate::schemas::SearchText,
        crate::schemas::AssigneeText,
        crate::schemas::StatusFilter,
        crate::schemas::PriorityFilter,
        crate::schemas::IncludeFilter,
        omni_reports::GroupBy,
        omni_reports::Breakdown,
    )),
    modifiers(&BearerAuth, &CommonProblems, &TicketMoves),
    tags(
        (name = "auth", description = "Registering a company, logging in"),
        (name = "users", description = "A company's admins and agents"),
        (name = "companies", description = "Tenants and their settings"),
        (name = "integrations", description = "Twilio and Vera AI credentials; secrets are write-only"),
        (name = "tickets", description = "The agents' work queue"),
        (name = "messages", description = "A ticket's conversation, agents' replies, Twilio's webhook"),
        (name = "realtime", description = "Events over WebSocket"),
        (name = "reports", description = "How the team is doing, in the company's time zone (JSON or CSV)"),
        (name = "operations", description = "Health, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The document, built once: it never changes while the process runs.
pub fn document() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
    })
}

/// Serves [`document`].
pub fn response() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

/// The `bearer` scheme secured operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The `access_token` of `POST /auth/login` or `POST /auth/register`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// A ticket's JSON carries `next_statuses` (computed from its status by the domain, not a
/// stored field, so the derived schema cannot see it).
struct TicketMoves;

impl Modify for TicketMoves {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(utoipa::openapi::Schema::Object(ticket))) =
            components.schemas.get_mut("Ticket")
        {
            let moves = utoipa::openapi::schema::ArrayBuilder::new()
                .items(Ref::from_schema_name("TicketStatus"))
                .description(Some(
                    "The statuses an agent may move the ticket to now (empty once closed)",
                ))
                .build();
            ticket
                .properties
                .insert("next_statuses".to_owned(), RefOr::T(moves.into()));
            ticket.required.push("next_statuses".to_owned());
        }
    }
}

/// Adds the problem answers an operation gets from the shared layers (authentication,
/// rate limits, body and query parsing, the database) and gives every error answer the
/// problem body and its headers; names each operation uniquely (`<tag>_<handler>`), and
/// links each creation to the operations on what it created.
struct CommonProblems;

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                    *id = format!("{tag}_{id}");
                }
                add_common(op);
            }
        }
        link_creations(openapi);
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// `POST /things` answers 201 with the thing: its `id` is the `{id}` of every operation
/// on `/things/{id}…`. Clients (and schemathesis' stateful phase) follow these links.
fn link_creations(openapi: &mut utoipa::openapi::OpenApi) {
    // And a new ticket is what an agent answers.
    if let Some(RefOr::T(created)) = openapi
        .paths
        .paths
        .get_mut("/tickets")
        .and_then(|item| item.post.as_mut())
        .and_then(|op| op.responses.responses.get_mut("201"))
    {
        created.links.insert(
            "messages_reply".into(),
            RefOr::T(
                LinkBuilder::new()
                    .operation_id("messages_reply")
                    .request_body(Some(serde_json::json!({
                        "ticket_id": "$response.body#/id",
                        "content": "Olá! Como posso ajudar?"
                    })))
                    .build(),
            ),
        );
    }
    let mut targets: Vec<(String, String)> = Vec::new();
    for (path, item) in openapi.paths.paths.iter_mut() {
        let Some(collection) = path
            .split("/{id}")
            .next()
            .filter(|_| path.contains("/{id}"))
        else {
            continue;
        };
        for op in operations(item) {
            if let Some(id) = &op.operation_id {
                targets.push((collection.to_owned(), id.clone()));
            }
        }
    }
    for (path, item) in openapi.paths.paths.iter_mut() {
        let Some(RefOr::T(created)) = item
            .post
            .as_mut()
            .and_then(|op| op.responses.responses.get_mut("201"))
        else {
            continue;
        };
        for (_, operation_id) in targets.iter().filter(|(c, _)| c == path) {
            created.links.insert(
                operation_id.clone(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(operation_id.clone())
                        .parameter("id", "$response.body#/id")
                        .build(),
                ),
            );
        }
    }
}

fn add_common(op: &mut Operation) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let json_body = op.request_body.as_ref().is_some_and(|b| match b {
        RefOr::T(body) => body.content.contains_key("application/json"),
        RefOr::Ref(_) => true,
    });
    let params = op.parameters.as_deref().unwrap_or_default();
    let in_path = params.iter().any(|p| match p {
        RefOr::T(p) => p.parameter_in == ParameterIn::Path,
        RefOr::Ref(_) => false,
    });
    let in_query = params.iter().any(|p| match p {
        RefOr::T(p) => p.parameter_in == ParameterIn::Query,
        RefOr::Ref(_) => false,
    });
    let mut wanted: Vec<u16> = Vec::new();
    if secured {
        wanted.extend([401, 403, 429]);
    }
    if json_body {
        wanted.extend([400, 413, 415, 422]);
    }
    if in_path {
        // 404: no such thing of the caller's; 422: a path that cannot hold an id.
        wanted.extend([404, 422]);
    }
    if in_query {
        wanted.push(422);
    }
    if secured || json_body {
        wanted.push(503);
    }
    for status in wanted {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Response::new(describe(status))));
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with(['4', '5']) {
            continue;
        }
        if response.content.is_empty() {
            response.content.insert(
                "application/problem+json".into(),
                RefOr::T(
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                ),
            );
        }
        match status.as_str() {
            "401" => add_header(response, "WWW-Authenticate", "Always `Bearer`."),
            "429" => add_header(
                response,
                "Retry-After",
                "Seconds to wait before trying again.",
            ),
            _ => {}
        }
    }
}

fn add_header(response: &mut Response, name: &str, description: &str) {
    response.headers.entry(name.into()).or_insert_with(|| {
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new().schema_type(Type::String),
                ))
                .description(Some(description))
                .build(),
        )
    });
}

fn describe(status: u16) -> &'static str {
    match status {
        400 => "The request is malformed (e.g. the body is not JSON)",
        401 => "No valid bearer token",
        403 => "The caller's role does not allow this",
        404 => "No such resource, or not the caller's to see",
        409 => "The request conflicts with the current state",
        413 => "The body is larger than 64 KiB",
        415 => "The body is not `application/json`",
        422 => "Some fields or parameters are invalid; `errors` names each",
        429 => "Too many requests; see `Retry-After`",
        503 => "The database is unavailable; retry later",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every route the server mounts is in the document, and the document promises no
    /// route the server does not mount.
    #[test]
    fn the_document_lists_exactly_the_mounted_routes() {
        let doc = ApiDoc::openapi();
        let mut documented = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("delete", &item.delete),
                ("patch", &item.patch),
                ("head", &item.head),
                ("options", &item.options),
                ("trace", &item.trace),
            ] {
                if op.is_some() {
                    documented.insert((path.clone(), method.to_owned()));
                }
            }
        }
        let mounted: BTreeSet<(String, String)> = routes::MOUNTED
            .iter()
            .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(documented, mounted);
    }

    /// Every `$ref` names a schema the document holds.
    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
            match value {
                serde_json::Value::Object(fields) => {
                    if let Some(serde_json::Value::String(r)) = fields.get("$ref") {
                        found.push(r);
                    }
                    fields.values().for_each(|v| refs(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let json: serde_json::Value = serde_json::from_str(document()).unwrap();
        let mut found = Vec::new();
        refs(&json, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            assert!(
                json["components"]["schemas"][name].is_object(),
                "{r} is not in the document"
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_problem_answers() {
        let json: serde_json::Value = serde_json::from_str(document()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        let login = &json["paths"]["/auth/login"]["post"]["responses"];
        assert!(login["429"]["headers"]["Retry-After"].is_object());
        assert!(login["422"]["content"]["application/problem+json"].is_object());
        let list = &json["paths"]["/tickets"]["get"];
        assert_eq!(list["security"][0]["bearer"], serde_json::json!([]));
        assert!(list["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
    }
}
