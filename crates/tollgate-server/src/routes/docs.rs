//! `GET /openapi.json` and `GET /docs`: the API document and a page that shows it.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// The page: self-contained (no scripts from elsewhere), it fetches `/openapi.json`.
const PAGE: &str = include_str!("../docs.html");

/// The OpenAPI document of this API
///
/// OpenAPI 3.1, generated from the same registration that serves the routes. The repository
/// keeps a copy in `docs/openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operate",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = tollgate_api::document::OpenApiDocument)),
)]
pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::served(),
    )
        .into_response()
}

/// A page that shows the API document
///
/// HTML that reads `/openapi.json` and lists every operation by tag, with its parameters,
/// request body and responses.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operate",
    operation_id = "docs",
    security(()),
    responses((status = 200, description = "An HTML page", body = String, content_type = "text/html")),
)]
pub async fn docs() -> Html<&'static str> {
    Html(PAGE)
}
