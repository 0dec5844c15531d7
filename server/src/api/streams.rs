//! `/streams/{asset}/…`: manifests and segments with the headers players
//! and CDNs expect: Content-Type, Range, ETag/304, Cache-Control.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use cdlc_metadata::AssetStatus;

use super::{ApiError, SharedState};
use crate::state::keys;

/// Content type of a stream object, by its name.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mpd") => "application/dash+xml",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// Segments never change; manifests change until the asset is ready.
fn cache_control(path: &str, status: AssetStatus) -> &'static str {
    let is_manifest = path.ends_with(".m3u8") || path.ends_with(".mpd");
    if !is_manifest || status == AssetStatus::Ready {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=1"
    }
}

/// Parses a single `bytes=` range against `size`: `Ok(None)` when there is no
/// Range header, `Err` when it cannot be satisfied.
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let spec = value.strip_prefix("bytes=").ok_or(ApiError::RangeNotSatisfiable(size))?;
    if spec.contains(',') {
        return Ok(None); // multi-range: answer with the whole object
    }
    let (first, last) = spec.split_once('-').ok_or(ApiError::RangeNotSatisfiable(size))?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ApiError::RangeNotSatisfiable(size))?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().map_err(|_| ApiError::RangeNotSatisfiable(size))?, size),
        (a, b) => {
            let a: u64 = a.parse().map_err(|_| ApiError::RangeNotSatisfiable(size))?;
            let b: u64 = b.parse().map_err(|_| ApiError::RangeNotSatisfiable(size))?;
            (a, b.saturating_add(1).min(size))
        }
    };
    if start >= end || start >= size {
        return Err(ApiError::RangeNotSatisfiable(size));
    }
    Ok(Some((start, end)))
}

pub async fn serve(
    State(state): State<SharedState>,
    Path((id, path)): Path<(String, String)>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asset = state
        .metadata
        .get_asset(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    if asset.private {
        return Err(ApiError::Forbidden("this asset is private".into()));
    }
    let key = keys::stream(&id, &path);
    let meta = state
        .objects
        .head(&key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no {path} in asset {id}")))?;

    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type(&path))
        .header(header::CACHE_CONTROL, cache_control(&path, asset.status))
        .header(header::ETAG, &meta.etag)
        .header(header::ACCEPT_RANGES, "bytes");
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == meta.etag || t.trim() == "*"));
    if not_modified {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError::Internal(e.into()));
    }
    let body = match parse_range(&request_headers, meta.size)? {
        Some((start, end)) => {
            let bytes = state.objects.get_range(&key, start, end).await?;
            let range = format!("bytes {start}-{}/{}", end - 1, meta.size);
            response = response.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&range).map_err(|e| ApiError::Internal(e.into()))?,
            );
            bytes
        }
        None => state.objects.get(&key).await?,
    };
    response = response.header(header::CONTENT_LENGTH, body.len());
    response.body(Body::from(body)).map_err(|e| ApiError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).expect("header"));
        parse_range(&headers, size)
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(range("bytes=0-99", 1000).ok().flatten(), Some((0, 100)));
        assert_eq!(range("bytes=900-", 1000).ok().flatten(), Some((900, 1000)));
        assert_eq!(range("bytes=-100", 1000).ok().flatten(), Some((900, 1000)));
        assert_eq!(range("bytes=990-5000", 1000).ok().flatten(), Some((990, 1000)), "clamped to the end");
        assert!(matches!(range("bytes=1000-", 1000), Err(ApiError::RangeNotSatisfiable(1000))));
        assert!(matches!(range("bytes=5-2", 1000), Err(ApiError::RangeNotSatisfiable(_))));
        assert!(matches!(range("items=0-1", 1000), Err(ApiError::RangeNotSatisfiable(_))));
        assert_eq!(range("bytes=0-1,5-6", 1000).ok().flatten(), None, "multi-range gets the whole object");
    }
}
