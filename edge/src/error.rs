//! What the edge answers when it cannot serve: a status and a JSON body
//! `{"error": {"code", "message"}}` that says what to do.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, thiserror::Error)]
pub enum EdgeError {
    #[error("{0}")]
    BadRequest(String),
    #[error("send the admin token as `Authorization: Bearer TOKEN`")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the range is outside the object's {0} bytes")]
    RangeNotSatisfiable(u64),
    /// The origin failed and nothing usable is cached.
    #[error("the origin ({origin}) could not be reached and {what} is not cached; try again shortly")]
    OriginUnavailable { origin: String, what: String },
    /// The origin answered, but not with the object.
    #[error("{0}")]
    BadOrigin(String),
}

impl EdgeError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            EdgeError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            EdgeError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            EdgeError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            EdgeError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            EdgeError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            EdgeError::RangeNotSatisfiable(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable"),
            EdgeError::OriginUnavailable { .. } => (StatusCode::BAD_GATEWAY, "origin_unavailable"),
            EdgeError::BadOrigin(_) => (StatusCode::BAD_GATEWAY, "bad_origin"),
        }
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = serde_json::json!({ "error": { "code": code, "message": self.to_string() } });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let EdgeError::RangeNotSatisfiable(size) = self {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
        }
        response
    }
}
