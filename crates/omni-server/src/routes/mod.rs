//! HTTP routes, one module per resource.

pub mod auth;
pub mod companies;
pub mod health;
pub mod integrations;
pub mod metrics;
pub mod pagination;
pub mod ticket_messages;
pub mod tickets;
pub mod users;
pub mod ws;

use actix_web::web;

use crate::extract;

/// Mounts every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/health")
            .route("/live", web::get().to(health::live))
            .route("/ready", web::get().to(health::ready)),
    )
    .route("/metrics", web::get().to(metrics::metrics))
    .route("/ws", web::get().to(ws::connect))
    .service(
        web::scope("/auth")
            .route("/register", web::post().to(auth::register))
            .route("/login", web::post().to(auth::login))
            .route("/profile", web::get().to(auth::profile)),
    )
    .service(
        web::resource("/users")
            .route(web::get().to(users::list))
            .route(web::post().to(users::create))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(users::get))
            .route(web::put().to(users::update))
            .route(web::delete().to(users::delete))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/integrations")
            .route(web::get().to(integrations::list))
            .route(web::post().to(integrations::create))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/integrations/{id}")
            .route(web::get().to(integrations::get))
            .route(web::put().to(integrations::update))
            .route(web::delete().to(integrations::delete))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/integrations/{id}/verify")
            .route(web::post().to(integrations::verify))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/ticket-messages/webhook")
            .route(web::post().to(ticket_messages::webhook))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/ticket-messages")
            .route(web::get().to(ticket_messages::list))
            .route(web::post().to(ticket_messages::reply))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/ticket-messages/{id}")
            .route(web::get().to(ticket_messages::get))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/ticket-messages/{id}/send")
            .route(web::post().to(ticket_messages::resend))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/tickets")
            .route(web::get().to(tickets::list))
            .route(web::post().to(tickets::create))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/tickets/{id}")
            .route(web::get().to(tickets::get))
            .route(web::put().to(tickets::update))
            .route(web::delete().to(tickets::delete))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/companies")
            .route(web::get().to(companies::list))
            .route(web::post().to(companies::create))
            .default_service(web::to(extract::method_not_allowed)),
    )
    .service(
        web::resource("/companies/{id}")
            .route(web::get().to(companies::get))
            .route(web::put().to(companies::update))
            .route(web::delete().to(companies::delete))
            .default_service(web::to(extract::method_not_allowed)),
    );
}
