//! The HTTP API: `app(state)` is the whole router, so tests can call it
//! without a port.

mod assets;
mod error;
mod streams;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::cors::{Any, CorsLayer};

pub use error::ApiError;

use crate::state::AppState;

pub type SharedState = Arc<AppState>;

pub fn app(state: SharedState) -> Router {
    let body_limit = state.config.max_upload_bytes.saturating_add(1 << 20).min(usize::MAX as u64) as usize;
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::RANGE, header::IF_NONE_MATCH, header::AUTHORIZATION])
        .expose_headers([header::CONTENT_RANGE, header::CONTENT_LENGTH, header::ETAG, header::ACCEPT_RANGES]);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/api/v1/assets", get(assets::list).post(assets::upload))
        .route("/api/v1/assets/{id}", get(assets::get).delete(assets::delete))
        .route("/streams/{id}/{*path}", get(streams::serve))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors)
        .with_state(state)
}

/// Ready when the metadata store answers.
async fn ready(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.metadata.list_assets(None, 1, None).await?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// Proof that the request carries the admin token.
#[derive(Debug)]
pub struct Admin;

/// Compares in time that does not depend on where the strings differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn bearer_is_admin(parts: &Parts, state: &AppState) -> bool {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| constant_time_eq(token.trim().as_bytes(), state.admin_token.as_bytes()))
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
