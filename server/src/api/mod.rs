//! The HTTP API: `app(state)` is the whole router, so tests can call it
//! without a port.

mod assets;
mod direct;
mod error;
mod refusal;
mod tus;
mod upload;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::routing::{delete, get, head, post};
use axum::{Json, Router};

pub use error::ApiError;

use crate::state::AppState;

pub type SharedState = Arc<AppState>;

pub fn app(state: SharedState) -> Router {
    let edge = state.edge.router();
    let body_limit = state.config.max_upload_bytes.saturating_add(1 << 20).min(usize::MAX as u64) as usize;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/assets", get(assets::list).post(assets::upload))
        .route("/api/v1/assets/{id}", get(assets::get).delete(assets::delete))
        .route("/api/v1/assets/{id}/events", get(assets::events))
        .route("/api/v1/uploads", post(tus::create).options(tus::options))
        .route("/api/v1/uploads/{id}", head(tus::head).patch(tus::patch).delete(tus::terminate))
        .route("/api/v1/direct-uploads", post(direct::create))
        .route("/api/v1/direct-uploads/{id}", delete(direct::abort))
        .route("/api/v1/direct-uploads/{id}/complete", post(direct::complete))
        .route_service("/streams/{id}/{*path}", edge.clone())
        .route_service("/metrics", edge.clone())
        .route_service("/api/v1/edge/purge", edge)
        .merge(crate::web::router())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(cors))
        .layer(axum::middleware::from_fn(refusal::drain_refused))
        .with_state(state)
}

/// Headers browsers may send and read across origins.
const CORS_ALLOW_HEADERS: &str =
    "range, if-none-match, authorization, content-type, tus-resumable, upload-length, upload-offset, upload-metadata";
const CORS_EXPOSE_HEADERS: &str =
    "content-range, content-length, etag, accept-ranges, location, upload-offset, upload-length, tus-resumable, cdlc-asset-id";

/// CORS for every route: preflights are answered here; other requests,
/// tus's own OPTIONS among them, reach their handler and gain the headers.
async fn cors(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    let preflight = request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response =
        if preflight { axum::http::StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(CORS_EXPOSE_HEADERS));
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, OPTIONS, POST, PATCH, DELETE"),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_ALLOW_HEADERS));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

/// The OpenAPI document of every route in [`app`].
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Ready when the metadata store answers.
async fn ready(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.metadata.list_assets(None, 1, None).await?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// Proof that the request carries the admin token.
#[derive(Debug)]
pub struct Admin;

/// Whether the request carries the admin token as its bearer token.
pub fn bearer_is_admin(parts: &Parts, state: &AppState) -> bool {
    cdlc_edge::bearer::carries(&parts.headers, &state.admin_token)
}

impl FromRequestParts<SharedState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        if bearer_is_admin(parts, state) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every route of the router is in the OpenAPI document, and nothing else.
    #[test]
    fn the_openapi_document_lists_every_route() {
        let document: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("valid JSON");
        let documented: std::collections::BTreeSet<String> =
            document["paths"].as_object().expect("paths").keys().cloned().collect();
        let source = include_str!("mod.rs");
        let routed: std::collections::BTreeSet<String> = source
            .lines()
            .filter_map(|l| {
                l.trim().strip_prefix(".route(\"").or_else(|| l.trim().strip_prefix(".route_service(\""))
            })
            .filter_map(|l| l.split('"').next())
            .map(|p| p.replace("{*path}", "{path}"))
            .collect();
        assert_eq!(documented, routed);
    }
}
