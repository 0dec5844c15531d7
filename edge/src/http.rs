//! The HTTP side: `/streams/{asset}/[~{token}/]{path}`, `/metrics` and the
//! purge API, with Range, conditional requests, gzip and CORS.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::cache::CachedObject;
use crate::fetch::Served;
use crate::origin::{Access, ACCESS_HEADER};
use crate::signing::unix_now;
use crate::{Edge, EdgeError};

/// Longest stream path accepted after the asset id.
const MAX_PATH_LEN: usize = 512;
/// Longest asset id accepted.
const MAX_ASSET_LEN: usize = 64;

const CORS_EXPOSE: &str = "content-range, content-length, etag, accept-ranges, cdlc-cache";
const CORS_ALLOW_HEADERS: &str = "range, if-none-match, if-modified-since, authorization, content-type";
static CACHE_STATUS: HeaderName = HeaderName::from_static("cdlc-cache");

pub fn router(edge: Arc<Edge>) -> Router {
    Router::new()
        .route("/streams/{asset}/{*path}", get(stream).post(license).options(preflight))
        .route("/metrics", get(metrics))
        .route("/api/v1/edge/purge", post(purge).options(preflight))
        .with_state(edge)
}

/// A request for a stream object, once its path is checked.
#[derive(Debug)]
struct StreamRequest<'a> {
    asset: &'a str,
    token: Option<&'a str>,
    path: &'a str,
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn parse_stream_path(full: &str) -> Result<StreamRequest<'_>, EdgeError> {
    let bad = || {
        EdgeError::BadRequest(
            "a stream URL is /streams/ASSET/[~TOKEN/]PATH with letters, digits, '.', '_' and '-' in each part"
                .into(),
        )
    };
    let rest = full.strip_prefix("/streams/").ok_or_else(bad)?;
    let (asset, mut path) = rest.split_once('/').ok_or_else(bad)?;
    if !is_asset_name(asset) {
        return Err(bad());
    }
    let mut token = None;
    if let Some(signed) = path.strip_prefix('~') {
        let (t, p) = signed.split_once('/').ok_or_else(bad)?;
        token = Some(t);
        path = p;
    }
    let segments_ok = path
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| is_name_char(b) || b == b'.'));
    if path.is_empty() || path.len() > MAX_PATH_LEN || !segments_ok {
        return Err(bad());
    }
    Ok(StreamRequest { asset, token, path })
}

fn is_admin(edge: &Edge, headers: &HeaderMap) -> bool {
    edge.settings.admin_token.as_deref().is_some_and(|expected| crate::bearer::carries(headers, expected))
}

/// An asset id as the edge accepts it: what can name a folder of a stream
/// (the edge may front a plain object store, so not only cdlc's own ids).
fn is_asset_name(asset: &str) -> bool {
    !asset.is_empty() && asset.len() <= MAX_ASSET_LEN && asset.bytes().all(is_name_char)
}

/// Takes the whole request so that no header map or URI is cloned.
async fn stream(State(edge): State<Arc<Edge>>, request: axum::extract::Request) -> Response {
    stream_response(&edge, request.method(), request.uri().path(), request.headers()).await
}

/// The answer to a GET or HEAD of `/streams/…`: the object (or an error as
/// JSON), with CORS headers, counted in the metrics. The Router's handler and
/// the lean path of [`crate::server`] both end here.
pub(crate) async fn stream_response(
    edge: &Edge,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let started = Instant::now();
    finish(edge, started, answer(edge, method, path, headers).await)
}

/// A stream answer (or its error as JSON) with CORS headers, counted in the metrics.
fn finish(edge: &Edge, started: Instant, result: Result<Response, EdgeError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    let response_headers = response.headers_mut();
    response_headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response_headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(CORS_EXPOSE));
    edge.metrics.observe(response.status().as_u16(), started.elapsed());
    response
}

async fn answer(
    edge: &Edge,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, EdgeError> {
    let (object, served, signed) = allowed_object(edge, path, headers).await?;
    Ok(respond(edge, method, headers, &object, served, signed))
}

/// The object at `path` for a caller allowed to have it: a private asset's
/// objects need a valid signed URL or the admin token.
async fn allowed_object(
    edge: &Edge,
    path: &str,
    headers: &HeaderMap,
) -> Result<(Arc<CachedObject>, Served, bool), EdgeError> {
    let request = parse_stream_path(path)?;
    let signed = match request.token {
        Some(token) => {
            edge.settings
                .signing_keys
                .verify(request.asset, token, unix_now())
                .map_err(|e| EdgeError::Forbidden(e.to_string()))?;
            true
        }
        None => false,
    };
    let (object, served) = edge.object(request.asset, request.path).await?;
    if object.access == Access::Signed && !signed && !is_admin(edge, headers) {
        return Err(EdgeError::Forbidden(
            "this asset is private: play it through the signed URL in the asset's playback links".into(),
        ));
    }
    Ok((object, served, signed))
}

/// A POST of `/streams/…/clearkey.json`: a ClearKey licence request,
/// answered from the licence object under the same access rule as a GET.
async fn license(State(edge): State<Arc<Edge>>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let result = async {
        if parts.uri.path().rsplit('/').next() != Some(crate::clearkey::LICENSE_FILE) {
            return Err(EdgeError::MethodNotAllowed(format!(
                "stream objects are read with GET; only {} takes a POST (a ClearKey licence request)",
                crate::clearkey::LICENSE_FILE
            )));
        }
        let body = axum::body::to_bytes(body, crate::clearkey::MAX_REQUEST_BYTES).await.map_err(|_| {
            EdgeError::BadRequest(format!(
                "a licence request is at most {} bytes of JSON",
                crate::clearkey::MAX_REQUEST_BYTES
            ))
        })?;
        let (object, _, _) = allowed_object(&edge, parts.uri.path(), &parts.headers).await?;
        let mut response = Response::new(Body::from(crate::clearkey::answer(&object.body, &body)?));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        Ok(response)
    }
    .await;
    finish(&edge, started, result)
}

/// Whether the client takes gzip (`Accept-Encoding`, q above 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

fn not_modified(headers: &HeaderMap, object: &CachedObject) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    is_not_modified(
        text(header::IF_NONE_MATCH),
        text(header::IF_MODIFIED_SINCE),
        [object.etag.as_bytes(), object.gzip_etag.as_bytes()],
        object.last_modified,
    )
}

/// Whether a GET with these `If-None-Match` and `If-Modified-Since` values
/// gets 304 for an object with `etags` (plain and gzip) last modified at
/// `last_modified`. If-None-Match, when present, decides alone (RFC 9110
/// §13.2.2) and compares weakly; an unparsable date is ignored.
pub fn is_not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etags: [&[u8]; 2],
    last_modified: SystemTime,
) -> bool {
    if let Some(tags) = if_none_match {
        return tags
            .split(',')
            .map(|t| t.trim())
            .any(|tag| tag == "*" || etags.contains(&tag.strip_prefix("W/").unwrap_or(tag).as_bytes()));
    }
    match if_modified_since.and_then(|v| httpdate::parse_http_date(v).ok()) {
        // Last-Modified has whole seconds.
        Some(since) => last_modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .zip(since.duration_since(SystemTime::UNIX_EPOCH).ok())
            .is_some_and(|(modified, since)| modified.as_secs() <= since.as_secs()),
        None => false,
    }
}

/// One `bytes=` range of an object of `size` bytes, end exclusive; `Ok(None)`
/// for no Range header, a unit other than bytes, or several ranges (each
/// answered with the whole object).
pub(crate) fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, EdgeError> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    parse_range_value(value, size)
}

/// [`parse_range`] of the header's text. A range unit is matched without
/// regard to case, and one this server does not know (`items=0-5`) makes
/// the header ignored, as RFC 9110 §14.2 requires of an origin: 200 with
/// the whole object, never 416.
pub fn parse_range_value(value: &str, size: u64) -> Result<Option<(u64, u64)>, EdgeError> {
    let unsatisfiable = || EdgeError::RangeNotSatisfiable(size);
    let Some((unit, spec)) = value.split_once('=') else {
        return Ok(None);
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ok(None);
    }
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let number = |s: &str| s.parse::<u64>().map_err(|_| unsatisfiable());
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => (size.saturating_sub(number(suffix)?), size),
        (a, "") => (number(a)?, size),
        (a, b) => {
            let (a, b) = (number(a)?, number(b)?);
            if b < a {
                return Err(unsatisfiable());
            }
            (a, b.saturating_add(1).min(size))
        }
    };
    if start >= end || start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

fn respond(
    edge: &Edge,
    method: &Method,
    request: &HeaderMap,
    object: &CachedObject,
    served: Served,
    signed: bool,
) -> Response {
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(header::CONTENT_TYPE, object.content_type.clone());
    headers.insert(header::LAST_MODIFIED, object.last_modified_header.clone());
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CACHE_STATUS.clone(), HeaderValue::from_static(served.header()));
    let cache_control = if signed { &object.private_cache_control } else { &object.cache_control };
    headers.insert(header::CACHE_CONTROL, cache_control.clone());
    if object.access == Access::Signed {
        headers.insert(ACCESS_HEADER, HeaderValue::from_static("signed"));
    }
    if object.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    let gzip = object.gzip.as_ref().filter(|_| accepts_gzip(request) && !request.contains_key(header::RANGE));
    headers.insert(header::ETAG, if gzip.is_some() { &object.gzip_etag } else { &object.etag }.clone());

    let (status, body) = if not_modified(request, object) {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if let Some(gzip) = gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        (StatusCode::OK, gzip.clone())
    } else {
        match parse_range(request, object.body.len() as u64) {
            Ok(None) => (StatusCode::OK, object.body.clone()),
            Ok(Some((start, end))) => {
                let range = format!("bytes {start}-{}/{}", end - 1, object.body.len());
                if let Ok(value) = HeaderValue::from_str(&range) {
                    headers.insert(header::CONTENT_RANGE, value);
                }
                (StatusCode::PARTIAL_CONTENT, object.body.slice(start as usize..end as usize))
            }
            Err(error) => {
                let mut response = error.into_response();
                response.headers_mut().insert(header::ETAG, object.etag.clone());
                return response;
            }
        }
    };
    if *method == Method::HEAD {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    } else {
        edge.metrics.sent_bytes.add(body.len() as u64);
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers
        .insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_ALLOW_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

async fn metrics(State(edge): State<Arc<Edge>>) -> Response {
    let gauges = crate::metrics::Gauges {
        memory_bytes: edge.cache.memory_weight(),
        memory_budget: edge.cache.memory_budget(),
        disk: edge.cache.disk_usage(),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], edge.metrics.render(&gauges)).into_response()
}

/// What to purge: `{"asset": "ID"}` (one asset) or `{"all": true}` (everything).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PurgeRequest)]
pub struct PurgeRequest {
    asset: Option<String>,
    #[serde(default)]
    all: bool,
}

async fn purge(State(edge): State<Arc<Edge>>, headers: HeaderMap, body: Bytes) -> Response {
    let result =
        if is_admin(&edge, &headers) { purge_body(&edge, &body) } else { Err(EdgeError::Unauthorized) };
    let mut response = match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    };
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// Carries out a purge request's JSON body, once the caller is known to be
/// allowed; the answer's body.
pub(crate) fn purge_body(edge: &Edge, body: &[u8]) -> Result<serde_json::Value, EdgeError> {
    let request: PurgeRequest = serde_json::from_slice(body).map_err(|e| {
        EdgeError::BadRequest(format!("send {{\"asset\": \"ID\"}} or {{\"all\": true}} as JSON: {e}"))
    })?;
    match (request.asset, request.all) {
        (Some(asset), false) => {
            if !is_asset_name(&asset) {
                return Err(EdgeError::BadRequest("asset must be an asset id".into()));
            }
            edge.purge_asset(&asset);
            Ok(serde_json::json!({ "purged": { "asset": asset } }))
        }
        (None, true) => {
            edge.purge_all();
            Ok(serde_json::json!({ "purged": "all" }))
        }
        _ => Err(EdgeError::BadRequest("send either {\"asset\": \"ID\"} or {\"all\": true}".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<(u64, u64)>, EdgeError> {
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
        assert!(matches!(range("bytes=1000-", 1000), Err(EdgeError::RangeNotSatisfiable(1000))));
        assert!(matches!(range("bytes=5-2", 1000), Err(EdgeError::RangeNotSatisfiable(_))));
        assert_eq!(range("items=0-1", 1000).ok().flatten(), None, "an unknown unit is ignored");
        assert_eq!(range("0-1", 1000).ok().flatten(), None, "no unit: not a range header to honour");
        assert_eq!(range("Bytes=0-1", 1000).ok().flatten(), Some((0, 2)), "units ignore case");
        assert_eq!(range("bytes=0-1,5-6", 1000).ok().flatten(), None, "multi-range gets the whole object");
    }

    #[test]
    fn stream_paths_are_checked() {
        let ok = parse_stream_path("/streams/abc/~k1.5.ff/720p/00001.m4s").expect("valid");
        assert_eq!((ok.asset, ok.token, ok.path), ("abc", Some("k1.5.ff"), "720p/00001.m4s"));
        let plain = parse_stream_path("/streams/abc/master.m3u8").expect("valid");
        assert_eq!((plain.token, plain.path), (None, "master.m3u8"));
        for bad in
            ["/streams/abc/../x", "/streams/abc/a//b", "/streams/a%2e/x", "/streams/abc/", "/streams/abc/~t"]
        {
            assert!(parse_stream_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gzip_is_chosen_from_accept_encoding() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).expect("header"));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.5"));
        assert!(!with("gzip;q=0, br"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
