//! The edge: an HTTP cache for manifests and segments, in front of an
//! [`Origin`] (the object store and metadata of `cdlc serve` in-process, a
//! cdlc origin over HTTP, or an object store).
//!
//! - [`Edge::router`] serves `/streams/{asset}/{path}` (Range, ETag/304,
//!   Cache-Control, gzip for manifests, CORS), `/metrics` and the purge API.
//! - Two tiers, each with a byte budget: memory ([`quick_cache`], S3-FIFO,
//!   weighted by bytes and strict about its budget) and an optional disk tier
//!   (one directory per asset, least recently used out first).
//! - Misses are coalesced: concurrent requests for an object that is not
//!   cached share one origin fetch.
//! - Private assets need a signed URL ([`signing`]): the token is a path
//!   segment, `/streams/{asset}/~{token}/master.m3u8`, so the relative URIs
//!   inside playlists keep it.

pub mod bearer;
mod cache;
pub mod clearkey;
mod error;
mod fetch;
mod http;
mod metrics;
pub mod origin;
pub mod server;
pub mod settings;
pub mod signing;

use std::sync::Arc;

pub use error::EdgeError;
pub use http::{is_not_modified, parse_range_value, PurgeRequest};
pub use origin::{Access, HttpOrigin, Origin, OriginError, OriginObject, OriginResponse, StoreOrigin};
pub use settings::{EdgeSettings, SettingsError};
pub use signing::{SignatureError, SigningKey, SigningKeys};

/// One edge: its settings, its origin, its tiers and its counters.
pub struct Edge {
    settings: EdgeSettings,
    origin: Arc<dyn Origin>,
    cache: cache::Tiers,
    inflight: fetch::InFlight,
    metrics: metrics::Metrics,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge").field("origin", &self.origin.describe()).finish_non_exhaustive()
    }
}

impl Edge {
    /// Validates `settings`, prepares the disk tier (if any) and returns the edge.
    pub fn new(settings: EdgeSettings, origin: Arc<dyn Origin>) -> Result<Arc<Edge>, SettingsError> {
        settings.validate()?;
        let cache = cache::Tiers::new(&settings)?;
        Ok(Arc::new(Edge {
            settings,
            origin,
            cache,
            inflight: fetch::InFlight::default(),
            metrics: metrics::Metrics::default(),
        }))
    }

    /// The routes: `/streams/{asset}/{*path}`, `/metrics`, `/api/v1/edge/purge`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        http::router(self.clone())
    }

    /// The edge's totals since it started: (hits, misses, bytes sent).
    pub fn counts(&self) -> (u64, u64, u64) {
        let m = &self.metrics;
        (m.hits_memory.get() + m.hits_disk.get(), m.misses.get(), m.sent_bytes.get())
    }

    /// Forgets everything cached of one asset, in both tiers. Objects being
    /// fetched right now are served to their waiters but not stored.
    pub fn purge_asset(&self, asset: &str) {
        self.cache.purge_asset(asset);
    }

    /// A purge request's JSON body (`{"asset": "ID"}` or `{"all": true}`),
    /// carried out for a caller the host has already authorized (`cdlc
    /// serve` checks its own principals; `cdlc edge` checks the admin token
    /// in its router). The error answers as JSON.
    pub fn purge_request(&self, body: &[u8]) -> Result<serde_json::Value, EdgeError> {
        http::purge_body(self, body)
    }

    /// Forgets everything cached.
    pub fn purge_all(&self) {
        self.cache.purge_all();
    }

    /// The path prefix `/streams/{asset}/~{token}` of URLs valid for
    /// `valid_for`, signed with the first signing key, and when they expire
    /// (Unix seconds); `None` when the edge has no signing key.
    pub fn signed_prefix(&self, asset: &str, valid_for: std::time::Duration) -> Option<(String, u64)> {
        let expires = signing::unix_now().saturating_add(valid_for.as_secs());
        let token = self.settings.signing_keys.sign(asset, expires)?;
        Some((format!("/streams/{asset}/~{token}"), expires))
    }

    /// Bytes held by the memory tier now (never above `memory_bytes`).
    pub fn memory_bytes_used(&self) -> u64 {
        self.cache.memory_weight()
    }
}
