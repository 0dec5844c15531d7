//! One error type for every handler: a status and a JSON body that says
//! what to fix, never internals.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Forbidden(String),
    /// A refusal of the accounts layer (401, 403, 429 with Retry-After…)
    /// or of the edge, answered as it was made.
    Access(cdlc_plugin_api::ApiError),
    NotFound(String),
    Conflict(String),
    /// A tus request without `Tus-Resumable: 1.0.0`.
    TusVersion,
    UnsupportedMediaType(String),
    TooLarge(u64),
    RangeNotSatisfiable(u64),
    /// A store the request needs (named: "metadata database") is not
    /// answering, its cluster down or unreachable: 503 with Retry-After.
    Unavailable(String),
    Internal(anyhow::Error),
}

/// Seconds a client should wait before trying a request that got 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            ApiError::Access(e) => (e.status(), e.code(), e.message().to_owned()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ApiError::TusVersion => (
                StatusCode::PRECONDITION_FAILED,
                "tus_version",
                "send the header Tus-Resumable: 1.0.0".into(),
            ),
            ApiError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", m.clone())
            }
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the upload is larger than the limit of {limit} bytes"),
            ),
            ApiError::RangeNotSatisfiable(size) => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the range is outside the object's {size} bytes"),
            ),
            ApiError::Unavailable(store) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the {store} is not answering; try again in {RETRY_AFTER_SECONDS} seconds"),
            ),
            ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed; see its log".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Access(error) = self {
            return error.into_response();
        }
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let (status, code, message) = self.parts();
        let mut response =
            (status, Json(serde_json::json!({ "error": { "code": code, "message": message } })))
                .into_response();
        if let ApiError::Unavailable(_) = &self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        }
        if let ApiError::TusVersion = self {
            response.headers_mut().insert("tus-version", axum::http::HeaderValue::from_static("1.0.0"));
        }
        if let ApiError::RangeNotSatisfiable(size) = self {
            if let Ok(value) = format!("bytes */{size}").parse() {
                response.headers_mut().insert(axum::http::header::CONTENT_RANGE, value);
            }
        }
        response
    }
}

impl From<cdlc_plugin_api::ApiError> for ApiError {
    fn from(e: cdlc_plugin_api::ApiError) -> Self {
        ApiError::Access(e)
    }
}

impl From<cdlc_metadata::MetadataError> for ApiError {
    fn from(e: cdlc_metadata::MetadataError) -> Self {
        match e {
            cdlc_metadata::MetadataError::NoSuchAsset(id) => {
                ApiError::NotFound(format!("no asset with id {id}"))
            }
            cdlc_metadata::MetadataError::BadCursor => ApiError::BadRequest(e.to_string()),
            cdlc_metadata::MetadataError::Unavailable(reason) => {
                tracing::warn!(error = %reason, "the metadata database is not answering");
                ApiError::Unavailable("metadata database".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<cdlc_queue::QueueError> for ApiError {
    fn from(e: cdlc_queue::QueueError) -> Self {
        match e {
            cdlc_queue::QueueError::Metadata(e) => e.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<cdlc_storage::StorageError> for ApiError {
    fn from(e: cdlc_storage::StorageError) -> Self {
        match e {
            cdlc_storage::StorageError::NotFound(key) => ApiError::NotFound(format!("no object {key}")),
            cdlc_storage::StorageError::InvalidKey { .. } => ApiError::BadRequest(e.to_string()),
            cdlc_storage::StorageError::BadRange { size, .. } => ApiError::RangeNotSatisfiable(size),
            other => ApiError::Internal(other.into()),
        }
    }
}
