//! Where the edge gets what it does not hold: the [`Origin`] port and two
//! origins of its own, [`HttpOrigin`] (another cdlc server) and
//! [`StoreOrigin`] (an object store). `cdlc serve` implements a third, in
//! process, that also knows which assets are private and which are ready.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cdlc_storage::{ObjectStore, StorageError};

/// Response header by which an origin marks an object of a private asset:
/// the edge then serves it only on a signed URL.
pub const ACCESS_HEADER: &str = "cdlc-access";

/// Who may receive an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Only on a valid signed URL (or to the admin).
    Signed,
}

/// An object as the origin gave it.
#[derive(Debug, Clone)]
pub struct OriginObject {
    pub body: Bytes,
    /// The origin's validator; the edge derives one from the body when absent.
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    pub content_type: Option<String>,
    /// How long the object stays fresh (`max-age`, `immutable`, `no-store`);
    /// by the object's kind when absent.
    pub cache_control: Option<String>,
    pub access: Access,
}

/// The answer to a fetch.
#[derive(Debug, Clone)]
pub enum OriginResponse {
    Fetched(OriginObject),
    /// The cached copy (whose ETag was sent) is still current.
    NotModified {
        cache_control: Option<String>,
    },
}

/// Why the origin gave nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OriginError {
    #[error("{0}")]
    NotFound(String),
    #[error("the origin refused: {0}")]
    Forbidden(String),
    #[error("the object is larger than the edge's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// Down, timed out, or a 5xx: a cached copy may be served instead.
    #[error("the origin is unavailable: {0}")]
    Unavailable(String),
}

/// The port the edge fetches through.
#[async_trait::async_trait]
pub trait Origin: Send + Sync + 'static {
    /// Called on a miss, and when a cached copy is stale (then `cached_etag`
    /// is that copy's ETag, for a conditional fetch). Called once for any
    /// number of concurrent requests of the same object.
    async fn fetch(
        &self,
        asset: &str,
        path: &str,
        cached_etag: Option<&str>,
    ) -> Result<OriginResponse, OriginError>;

    /// Says what the origin is, for logs and error messages.
    fn describe(&self) -> String;
}

/// A cdlc server (or any server with the same `/streams/{asset}/{path}`
/// layout) over HTTP/1.1 or HTTP/2, plain or TLS (rustls).
pub struct HttpOrigin {
    base: String,
    client: reqwest::Client,
    bearer: Option<String>,
    max_object_bytes: u64,
}

impl HttpOrigin {
    /// `base` is `http://host:port` (or https); `bearer` is sent as
    /// `Authorization: Bearer` so the origin hands over private assets.
    pub fn new(
        base: &str,
        bearer: Option<String>,
        max_object_bytes: u64,
        timeout: Duration,
    ) -> Result<HttpOrigin, OriginError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(OriginError::Unavailable(format!(
                "the origin URL {base:?} must start with http:// or https://"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| OriginError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpOrigin { base: base.trim_end_matches('/').to_owned(), client, bearer, max_object_bytes })
    }
}

fn header_string(
    headers: &reqwest::header::HeaderMap,
    name: impl reqwest::header::AsHeaderName,
) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[async_trait::async_trait]
impl Origin for HttpOrigin {
    async fn fetch(
        &self,
        asset: &str,
        path: &str,
        cached_etag: Option<&str>,
    ) -> Result<OriginResponse, OriginError> {
        use reqwest::header;
        let url = format!("{}/streams/{asset}/{path}", self.base);
        let mut request = self.client.get(&url);
        if let Some(etag) = cached_etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| OriginError::Unavailable(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        match status.as_u16() {
            200 => {}
            304 => {
                return Ok(OriginResponse::NotModified {
                    cache_control: header_string(&headers, header::CACHE_CONTROL),
                })
            }
            404 | 410 => return Err(OriginError::NotFound(format!("no {path} in asset {asset}"))),
            401 | 403 => {
                return Err(OriginError::Forbidden(format!(
                    "{url} answered {status}; give the edge an origin token that the origin accepts"
                )))
            }
            _ => return Err(OriginError::Unavailable(format!("{url} answered {status}"))),
        }
        if response.content_length().is_some_and(|n| n > self.max_object_bytes) {
            return Err(OriginError::TooLarge { limit: self.max_object_bytes });
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        while let Some(chunk) =
            response.chunk().await.map_err(|e| OriginError::Unavailable(format!("{url}: {e}")))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_object_bytes {
                return Err(OriginError::TooLarge { limit: self.max_object_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        let access = match headers.get(ACCESS_HEADER).and_then(|v| v.to_str().ok()) {
            Some("signed") => Access::Signed,
            _ => Access::Public,
        };
        Ok(OriginResponse::Fetched(OriginObject {
            body: Bytes::from(body),
            etag: header_string(&headers, header::ETAG),
            last_modified: header_string(&headers, header::LAST_MODIFIED)
                .and_then(|v| httpdate::parse_http_date(&v).ok()),
            content_type: header_string(&headers, header::CONTENT_TYPE),
            cache_control: header_string(&headers, header::CACHE_CONTROL),
            access,
        }))
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// Objects `{prefix}{asset}/{path}` of an object store, all public. It
/// cannot know whether an asset is still transcoding, so it reads the
/// manifest: a media playlist with `#EXT-X-ENDLIST` or a static MPD is
/// final (immutable); any other manifest, the master playlist among them,
/// is fresh for one second; segments are immutable.
pub struct StoreOrigin {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    name: String,
    max_object_bytes: u64,
}

impl StoreOrigin {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, name: &str, max_object_bytes: u64) -> StoreOrigin {
        StoreOrigin { store, prefix: prefix.to_owned(), name: name.to_owned(), max_object_bytes }
    }
}

/// Cache-Control of a final object: a year, never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of a manifest that may still change.
pub const SHORT: &str = "public, max-age=1";

/// Whether `path` names a playlist or an MPD.
pub fn is_manifest(path: &str) -> bool {
    path.ends_with(".m3u8") || path.ends_with(".mpd")
}

fn manifest_is_final(path: &str, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    if path.ends_with(".m3u8") {
        text.contains("#EXT-X-ENDLIST")
    } else {
        text.contains("type=\"static\"")
    }
}

/// Reads `key` (object `path` of `asset`) and when it was written, for an
/// origin over an object store: a missing object is `NotFound`, one above
/// `max_bytes` is `TooLarge`, any other failure `Unavailable`.
pub async fn read_object(
    store: &dyn ObjectStore,
    key: &str,
    asset: &str,
    path: &str,
    max_bytes: u64,
) -> Result<(Bytes, Option<SystemTime>), OriginError> {
    let not_found = || OriginError::NotFound(format!("no {path} in asset {asset}"));
    let meta = match store.head(key).await {
        Ok(Some(meta)) => meta,
        Ok(None) | Err(StorageError::NotFound(_) | StorageError::InvalidKey { .. }) => {
            return Err(not_found())
        }
        Err(e) => return Err(OriginError::Unavailable(e.to_string())),
    };
    if meta.size > max_bytes {
        return Err(OriginError::TooLarge { limit: max_bytes });
    }
    let body = match store.get(key).await {
        Ok(body) => body,
        Err(StorageError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(OriginError::Unavailable(e.to_string())),
    };
    let modified =
        u64::try_from(meta.modified_ms).ok().map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    Ok((body, modified))
}

#[async_trait::async_trait]
impl Origin for StoreOrigin {
    async fn fetch(&self, asset: &str, path: &str, _: Option<&str>) -> Result<OriginResponse, OriginError> {
        let key = format!("{}{asset}/{path}", self.prefix);
        let (body, last_modified) =
            read_object(&*self.store, &key, asset, path, self.max_object_bytes).await?;
        let cache_control =
            if is_manifest(path) && !manifest_is_final(path, &body) { SHORT } else { IMMUTABLE };
        Ok(OriginResponse::Fetched(OriginObject {
            body,
            // The store's ETag may describe a newer write than the body read
            // after it; the edge derives one from the body instead.
            etag: None,
            last_modified,
            content_type: None,
            cache_control: Some(cache_control.to_owned()),
            access: Access::Public,
        }))
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
