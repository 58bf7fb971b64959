//! HTTP routes, one module per resource.

pub mod auth;
pub mod companies;
pub mod console;
pub mod docs;
pub mod health;
pub mod integrations;
pub mod media;
pub mod metrics;
pub mod pagination;
pub mod reports;
pub mod ticket_messages;
pub mod tickets;
pub mod users;
pub mod webhook;
pub mod ws;

use actix_web::web;

use crate::extract;

/// The `Allow` value of a route serving these methods, e.g. `GET, PUT`.
macro_rules! allow {
    ($first:ident $(, $method:ident)*) => {
        concat!(method_name!($first) $(, ", ", method_name!($method))*)
    };
}

macro_rules! method_name {
    (get) => {
        "GET"
    };
    (post) => {
        "POST"
    };
    (put) => {
        "PUT"
    };
    (patch) => {
        "PATCH"
    };
    (delete) => {
        "DELETE"
    };
}

/// Declares the route table once: [`configure`] mounts it and [`MOUNTED`] lists it, so
/// the OpenAPI document can be checked against what the server really serves.
macro_rules! routes {
    ($($path:literal => { $($method:ident => $handler:path),+ $(,)? }),* $(,)?) => {
        /// Mounts every route of the API; a known path called with another method gets 405.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $(.route(web::$method().to($handler)))+
                        .default_service(web::to(extract::method_not_allowed(
                            allow!($($method),+),
                        ))),
                );
            )*
        }

        /// Every `(path, method)` [`configure`] mounts, as OpenAPI spells them.
        pub const MOUNTED: &[(&str, &str)] = &[$($(($path, stringify!($method))),+),*];
    };
}

// `/ticket-messages/webhook` comes before `/ticket-messages/{id}`, which would match it.
routes! {
    "/health/live" => { get => health::live },
    "/health/ready" => { get => health::ready },
    "/metrics" => { get => metrics::metrics },
    "/openapi.json" => { get => docs::openapi_json },
    "/ws" => { get => ws::connect },
    "/ws/ticket" => { post => ws::ticket },
    "/auth/register" => { post => auth::register },
    "/auth/login" => { post => auth::login },
    "/auth/profile" => { get => auth::profile },
    "/auth/logout" => { post => auth::logout },
    "/auth/logout-all" => { post => auth::logout_all },
    "/users" => { get => users::list, post => users::create },
    "/users/{id}" => { get => users::get, put => users::update, delete => users::delete },
    "/integrations" => { get => integrations::list, post => integrations::create },
    "/integrations/{id}" => {
        get => integrations::get,
        put => integrations::update,
        delete => integrations::delete,
    },
    "/integrations/{id}/verify" => { post => integrations::verify },
    "/integrations/{id}/templates" => { get => integrations::templates },
    "/ticket-messages/webhook" => { post => webhook::webhook },
    "/ticket-messages" => { get => ticket_messages::list, post => ticket_messages::reply },
    "/ticket-messages/{id}" => { get => ticket_messages::get },
    "/ticket-messages/{id}/send" => { post => ticket_messages::resend },
    "/ticket-messages/{id}/media/{n}" => { get => ticket_messages::media },
    "/media" => { post => media::upload },
    "/media/{id}/content" => { get => media::content },
    "/tickets" => { get => tickets::list, post => tickets::create },
    "/tickets/{id}" => { get => tickets::get, put => tickets::update, delete => tickets::delete },
    "/reports/overview" => { get => reports::overview },
    "/reports/agents" => { get => reports::agents },
    "/companies" => { get => companies::list, post => companies::create },
    "/companies/{id}" => {
        get => companies::get,
        put => companies::update,
        delete => companies::delete,
    },
}
