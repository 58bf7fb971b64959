//! `/openapi.json` and the Swagger UI at `/docs`.

use actix_web::HttpResponse;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = serde_json::Value))
)]
pub async fn openapi_json() -> HttpResponse {
    crate::openapi::response()
}

/// The Swagger UI, with its assets compiled into the binary: it renders with no network.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/openapi.json"]))
}

/// `/docs` without the slash: the UI's relative asset paths need it.
pub async fn to_ui() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}
