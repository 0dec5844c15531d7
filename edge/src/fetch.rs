//! Finding an object: memory, then disk, then one origin fetch shared by
//! every request that wants it meanwhile (coalescing), with revalidation of
//! stale copies and stale-if-error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::OnceCell;

use crate::cache::CachedObject;
use crate::origin::{OriginError, OriginResponse};
use crate::{Edge, EdgeError};

/// How a request was answered, for metrics and the `cdlc-cache` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Memory,
    Disk,
    /// Fetched from the origin (by this request or one it waited for).
    Miss,
    /// A stale copy the origin confirmed.
    Revalidated,
    /// A stale copy served because the origin failed.
    Stale,
}

impl Served {
    pub fn header(self) -> &'static str {
        match self {
            Served::Memory => "hit-memory",
            Served::Disk => "hit-disk",
            Served::Miss => "miss",
            Served::Revalidated => "revalidated",
            Served::Stale => "stale",
        }
    }
}

type Outcome = Result<(Arc<CachedObject>, Served), EdgeError>;

/// Origin fetches under way, by `asset/path`.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>);

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Outcome>>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Edge {
    pub(crate) async fn object(&self, asset: &str, path: &str) -> Outcome {
        let mut stale = None;
        if let Some(object) = self.cache.memory_get(asset, path) {
            if object.is_fresh(Instant::now()) {
                self.metrics.hits_memory.inc();
                return Ok((object, Served::Memory));
            }
            stale = Some(object);
        } else if let Some(object) = self.cache.disk_get(asset, path).await {
            if object.is_fresh(Instant::now()) {
                self.metrics.hits_disk.inc();
                return Ok((object, Served::Disk));
            }
            stale = Some(object);
        }
        self.metrics.misses.inc();
        let key = format!("{asset}/{path}");
        let (cell, joined) = {
            let mut inflight = self.inflight.lock();
            match inflight.get(&key) {
                Some(cell) => (cell.clone(), true),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    inflight.insert(key.clone(), cell.clone());
                    (cell, false)
                }
            }
        };
        if joined {
            self.metrics.coalesced_waits.inc();
        }
        // If the request running the fetch goes away, a waiter runs it.
        let outcome = cell.get_or_init(|| self.fetch_from_origin(asset, path, stale)).await.clone();
        let mut inflight = self.inflight.lock();
        if inflight.get(&key).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
            inflight.remove(&key);
        }
        outcome
    }

    async fn fetch_from_origin(&self, asset: &str, path: &str, stale: Option<Arc<CachedObject>>) -> Outcome {
        let epoch = self.cache.epoch();
        self.metrics.origin_fetches.inc();
        let cached_etag = stale.as_ref().map(|s| s.etag_text().to_owned());
        let answer = self.origin.fetch(asset, path, cached_etag.as_deref()).await;
        let now = Instant::now();
        match answer {
            Ok(OriginResponse::Fetched(object)) => {
                self.metrics.origin_bytes.add(object.body.len() as u64);
                let fetched = CachedObject::from_origin(path, object, now);
                let (object, served) = match &stale {
                    Some(old) if old.etag == fetched.etag && old.body == fetched.body => {
                        self.metrics.revalidations.inc();
                        (Arc::new(CachedObject { fetched_at: now, ..(**old).clone() }), Served::Revalidated)
                    }
                    _ => (Arc::new(fetched), Served::Miss),
                };
                if object.policy.store {
                    self.cache.insert(epoch, asset, path, object.clone(), served == Served::Miss);
                }
                Ok((object, served))
            }
            Ok(OriginResponse::NotModified { cache_control }) => match stale {
                Some(old) => {
                    self.metrics.revalidations.inc();
                    let object = Arc::new(old.revalidated(cache_control.as_deref(), path, now));
                    self.cache.insert(epoch, asset, path, object.clone(), false);
                    Ok((object, Served::Revalidated))
                }
                None => Err(EdgeError::BadOrigin(format!(
                    "the origin answered 304 Not Modified to an unconditional request for {path}"
                ))),
            },
            Err(OriginError::Unavailable(reason)) => {
                self.metrics.origin_errors.inc();
                tracing::warn!(asset_id = asset, path, %reason, "origin fetch failed");
                match stale {
                    Some(old) if old.usable_when_origin_fails(now, self.settings.stale_if_error) => {
                        self.metrics.stale_served.inc();
                        Ok((old, Served::Stale))
                    }
                    _ => Err(EdgeError::OriginUnavailable {
                        origin: self.origin.describe(),
                        what: format!("/streams/{asset}/{path}"),
                    }),
                }
            }
            Err(OriginError::NotFound(message)) => {
                if stale.is_some() {
                    self.cache.remove(asset, path);
                }
                Err(EdgeError::NotFound(message))
            }
            Err(error @ (OriginError::Forbidden(_) | OriginError::TooLarge { .. })) => {
                self.metrics.origin_errors.inc();
                Err(EdgeError::BadOrigin(error.to_string()))
            }
        }
    }
}
