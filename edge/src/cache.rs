//! The two tiers: memory (quick_cache, weighted by bytes) and disk (one
//! directory per asset, least recently used out first), and what they hold.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::HeaderValue;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::origin::{self, Access, OriginObject};
use crate::settings::{EdgeSettings, SettingsError};

/// Bytes charged per entry on top of its bodies: headers, key, bookkeeping.
const ENTRY_OVERHEAD: u64 = 512;
/// Manifests smaller than this are sent as they are.
const MIN_GZIP_LEN: usize = 256;

/// How long an object stays fresh and whether it may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_age: Duration,
    pub store: bool,
}

impl Policy {
    /// From the origin's Cache-Control; by the object's kind when absent
    /// (segments a year, manifests a second).
    pub fn parse(cache_control: Option<&str>, path: &str) -> Policy {
        let default_age = if origin::is_manifest(path) { 1 } else { 31_536_000 };
        let Some(value) = cache_control else {
            return Policy { max_age: Duration::from_secs(default_age), store: true };
        };
        let (mut max_age, mut shared_max_age, mut store) = (None, None, true);
        for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if directive == "no-store" {
                store = false;
            } else if directive == "no-cache" {
                max_age = Some(0);
            } else if let Some(n) = directive.strip_prefix("s-maxage=") {
                shared_max_age = n.trim_matches('"').parse().ok();
            } else if let Some(n) = directive.strip_prefix("max-age=") {
                max_age = max_age.or(n.trim_matches('"').parse().ok());
            }
        }
        let seconds = shared_max_age.or(max_age).unwrap_or(default_age);
        Policy { max_age: Duration::from_secs(seconds), store }
    }
}

/// One cached object, with every header value prepared once so a hit
/// allocates nothing for them.
#[derive(Debug, Clone)]
pub struct CachedObject {
    pub body: Bytes,
    /// The gzip copy of a manifest, when it is smaller.
    pub gzip: Option<Bytes>,
    pub etag: HeaderValue,
    pub gzip_etag: HeaderValue,
    pub last_modified: SystemTime,
    pub last_modified_header: HeaderValue,
    pub content_type: HeaderValue,
    pub cache_control: HeaderValue,
    /// What a viewer with a signed URL gets: the same freshness, `private`
    /// so no shared cache keeps it past the URL's life.
    pub private_cache_control: HeaderValue,
    pub policy: Policy,
    pub fetched_at: Instant,
    pub access: Access,
    pub is_manifest: bool,
}

fn content_type_of(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mpd") => "application/dash+xml",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("vtt") => "text/vtt",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(body).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < body.len()).then(|| Bytes::from(compressed))
}

fn private_of(policy: &Policy) -> String {
    if !policy.store {
        // A content key: kept by no cache at all, the browser's included.
        return "private, no-store".into();
    }
    match policy.max_age.as_secs() {
        31_536_000.. => "private, max-age=31536000, immutable".into(),
        seconds => format!("private, max-age={seconds}"),
    }
}

/// `"…"` of the first 12 bytes of the body's SHA-256.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..12]))
}

fn gzip_etag_of(etag: &str) -> String {
    match etag.strip_suffix('"') {
        Some(open) => format!("{open}-gzip\""),
        None => format!("{etag}-gzip"),
    }
}

impl CachedObject {
    pub fn from_origin(path: &str, object: OriginObject, now: Instant) -> CachedObject {
        let is_manifest = origin::is_manifest(path);
        let etag = object
            .etag
            .filter(|e| HeaderValue::from_str(e).is_ok() && !e.is_empty())
            .unwrap_or_else(|| etag_of(&object.body));
        let policy = Policy::parse(object.cache_control.as_deref(), path);
        let cache_control =
            object.cache_control.and_then(|v| HeaderValue::from_str(&v).ok()).unwrap_or_else(|| {
                HeaderValue::from_static(if is_manifest { origin::SHORT } else { origin::IMMUTABLE })
            });
        // A generic type from the origin says less than the name does.
        let content_type = object
            .content_type
            .filter(|v| v != "application/octet-stream")
            .and_then(|v| HeaderValue::from_str(&v).ok())
            .unwrap_or_else(|| HeaderValue::from_static(content_type_of(path)));
        let last_modified = object.last_modified.unwrap_or_else(SystemTime::now);
        let header =
            |text: &str| HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        let private_cache_control = header(&private_of(&policy));
        CachedObject {
            private_cache_control,
            gzip: if is_manifest && object.body.len() >= MIN_GZIP_LEN { gzip(&object.body) } else { None },
            body: object.body,
            gzip_etag: header(&gzip_etag_of(&etag)),
            etag: header(&etag),
            last_modified,
            last_modified_header: header(&httpdate::fmt_http_date(last_modified)),
            content_type,
            cache_control,
            policy,
            fetched_at: now,
            access: object.access,
            is_manifest,
        }
    }

    /// The same object, fresh again from `now` (the origin answered 304).
    pub fn revalidated(&self, cache_control: Option<&str>, path: &str, now: Instant) -> CachedObject {
        let mut copy = self.clone();
        if let Some(value) = cache_control.and_then(|v| HeaderValue::from_str(v).ok()) {
            copy.policy = Policy::parse(cache_control, path);
            copy.cache_control = value;
            copy.private_cache_control =
                HeaderValue::from_str(&private_of(&copy.policy)).unwrap_or(copy.private_cache_control);
        }
        copy.fetched_at = now;
        copy
    }

    pub fn etag_text(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }

    pub fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) < self.policy.max_age
    }

    /// Whether it may stand in for the origin that fails now.
    pub fn usable_when_origin_fails(&self, now: Instant, stale_if_error: Duration) -> bool {
        now.saturating_duration_since(self.fetched_at) < self.policy.max_age.saturating_add(stale_if_error)
    }

    fn weight(&self) -> u64 {
        self.body.len() as u64 + self.gzip.as_ref().map_or(0, |g| g.len() as u64) + ENTRY_OVERHEAD
    }

    /// The object without its bodies, as the disk index keeps it.
    fn without_bodies(&self) -> CachedObject {
        CachedObject { body: Bytes::new(), gzip: None, ..self.clone() }
    }
}

/// The memory tier's key. It hashes like [`KeyRef`], so lookups borrow.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    asset: Box<str>,
    path: Box<str>,
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.asset.hash(state);
        self.path.hash(state);
    }
}

#[derive(Debug)]
struct KeyRef<'a> {
    asset: &'a str,
    path: &'a str,
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.asset.hash(state);
        self.path.hash(state);
    }
}

impl quick_cache::Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        *key.asset == *self.asset && *key.path == *self.path
    }
}

#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl quick_cache::Weighter<CacheKey, Arc<CachedObject>> for ByBytes {
    fn weight(&self, _: &CacheKey, value: &Arc<CachedObject>) -> u64 {
        value.weight()
    }
}

type MemoryTier = quick_cache::sync::Cache<CacheKey, Arc<CachedObject>, ByBytes>;

/// Both tiers, and the purge epoch that keeps a fetch begun before a purge
/// from storing what the purge removed.
pub struct Tiers {
    memory: MemoryTier,
    memory_budget: u64,
    disk: Option<Arc<DiskTier>>,
    epoch: Arc<AtomicU64>,
}

impl Tiers {
    pub fn new(settings: &EdgeSettings) -> Result<Tiers, SettingsError> {
        // quick_cache splits the budget between shards and refuses an item
        // above a shard's share: keep every shard at least twice the
        // largest object.
        let shards = (settings.memory_bytes / (2 * settings.max_object_bytes)).clamp(1, 16);
        let shards = 1usize << (63 - shards.leading_zeros());
        let options = quick_cache::OptionsBuilder::new()
            .shards(shards)
            .estimated_items_capacity((settings.memory_bytes / (64 << 10)).clamp(64, 1 << 20) as usize)
            .weight_capacity(settings.memory_bytes)
            .build()
            .map_err(|e| SettingsError::Invalid { setting: "memory_bytes", problem: e.to_string() })?;
        let memory = MemoryTier::with_options(options, ByBytes, Default::default(), Default::default());
        let epoch = Arc::new(AtomicU64::new(0));
        let disk = match &settings.disk_dir {
            Some(dir) => Some(Arc::new(DiskTier::open(dir, settings.disk_bytes, epoch.clone())?)),
            None => None,
        };
        Ok(Tiers { memory, memory_budget: settings.memory_bytes, disk, epoch })
    }

    pub fn memory_get(&self, asset: &str, path: &str) -> Option<Arc<CachedObject>> {
        self.memory.get(&KeyRef { asset, path })
    }

    pub fn memory_weight(&self) -> u64 {
        self.memory.weight()
    }

    pub fn memory_budget(&self) -> u64 {
        self.memory_budget
    }

    pub fn disk_usage(&self) -> Option<(u64, u64)> {
        self.disk.as_ref().map(|d| (d.used(), d.budget))
    }

    pub async fn disk_get(&self, asset: &str, path: &str) -> Option<Arc<CachedObject>> {
        let object = Arc::new(self.disk.as_ref()?.get(asset, path).await?);
        self.memory.insert(CacheKey { asset: asset.into(), path: path.into() }, object.clone());
        Some(object)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Stores in memory, and on disk in the background, unless a purge
    /// happened since `epoch`.
    pub fn insert(&self, epoch: u64, asset: &str, path: &str, object: Arc<CachedObject>, to_disk: bool) {
        if self.epoch() != epoch {
            return;
        }
        self.memory.insert(CacheKey { asset: asset.into(), path: path.into() }, object.clone());
        if let (Some(disk), true) = (&self.disk, to_disk) {
            let (disk, asset, path) = (disk.clone(), asset.to_owned(), path.to_owned());
            tokio::spawn(async move { disk.put(&asset, &path, &object, epoch).await });
        }
    }

    pub fn remove(&self, asset: &str, path: &str) {
        self.memory.remove(&KeyRef { asset, path });
        if let Some(disk) = &self.disk {
            disk.remove(asset, path);
        }
    }

    pub fn purge_asset(&self, asset: &str) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.memory.retain(|key, _| &*key.asset != asset);
        if let Some(disk) = &self.disk {
            disk.purge_asset(asset);
        }
    }

    pub fn purge_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.memory.clear();
        if let Some(disk) = &self.disk {
            disk.purge_all();
        }
    }
}

struct DiskEntry {
    size: u64,
    tick: u64,
    meta: CachedObject,
}

#[derive(Default)]
struct DiskIndex {
    assets: HashMap<String, HashMap<String, DiskEntry>>,
    /// Least recently used first.
    order: BTreeMap<u64, (String, String)>,
    used: u64,
    tick: u64,
}

impl DiskIndex {
    fn drop_entry(&mut self, asset: &str, path: &str) -> Option<DiskEntry> {
        let paths = self.assets.get_mut(asset)?;
        let entry = paths.remove(path)?;
        if paths.is_empty() {
            self.assets.remove(asset);
        }
        self.order.remove(&entry.tick);
        self.used -= entry.size;
        Some(entry)
    }
}

/// Bodies as files `{root}/{asset}/{sha256(path)}`; the index (headers,
/// sizes, recency) lives in memory, so the tier starts empty at each start.
struct DiskTier {
    root: PathBuf,
    budget: u64,
    index: Mutex<DiskIndex>,
    /// The purge epoch of [`Tiers`]: a write begun before a purge is thrown away.
    epoch: Arc<AtomicU64>,
}

impl DiskTier {
    fn open(dir: &Path, budget: u64, epoch: Arc<AtomicU64>) -> Result<DiskTier, SettingsError> {
        let root = dir.join("cdlc-edge-cache");
        let failed = |source| SettingsError::DiskDir { dir: root.clone(), source };
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(failed)?;
        }
        std::fs::create_dir_all(&root).map_err(failed)?;
        Ok(DiskTier { root, budget, index: Mutex::new(DiskIndex::default()), epoch })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn used(&self) -> u64 {
        self.lock().used
    }

    fn file(&self, asset: &str, path: &str) -> PathBuf {
        self.root.join(asset).join(hex::encode(&Sha256::digest(path.as_bytes())[..16]))
    }

    async fn get(&self, asset: &str, path: &str) -> Option<CachedObject> {
        let (meta, size) = {
            let mut index = self.lock();
            index.tick += 1;
            let tick = index.tick;
            let entry = index.assets.get_mut(asset)?.get_mut(path)?;
            let old = std::mem::replace(&mut entry.tick, tick);
            let (meta, size) = (entry.meta.clone(), entry.size);
            index.order.remove(&old);
            index.order.insert(tick, (asset.to_owned(), path.to_owned()));
            (meta, size)
        };
        match tokio::fs::read(self.file(asset, path)).await {
            Ok(body) if body.len() as u64 == size => {
                let body = Bytes::from(body);
                let gzip = if meta.is_manifest && body.len() >= MIN_GZIP_LEN { gzip(&body) } else { None };
                Some(CachedObject { body, gzip, ..meta })
            }
            _ => {
                self.lock().drop_entry(asset, path);
                None
            }
        }
    }

    async fn put(&self, asset: &str, path: &str, object: &CachedObject, epoch: u64) {
        let file = self.file(asset, path);
        let temporary = file.with_extension("partial");
        let written = async {
            tokio::fs::create_dir_all(self.root.join(asset)).await?;
            tokio::fs::write(&temporary, &object.body).await?;
            tokio::fs::rename(&temporary, &file).await
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
            return;
        }
        let evicted = {
            let mut index = self.lock();
            if self.epoch.load(Ordering::SeqCst) != epoch {
                drop(index);
                let _ = tokio::fs::remove_file(&file).await;
                return;
            }
            index.drop_entry(asset, path);
            index.tick += 1;
            let tick = index.tick;
            let size = object.body.len() as u64;
            index.order.insert(tick, (asset.to_owned(), path.to_owned()));
            index.used += size;
            index
                .assets
                .entry(asset.to_owned())
                .or_default()
                .insert(path.to_owned(), DiskEntry { size, tick, meta: object.without_bodies() });
            let mut evicted = Vec::new();
            while index.used > self.budget {
                let Some((_, (a, p))) = index.order.pop_first() else { break };
                if index.drop_entry(&a, &p).is_some() {
                    evicted.push(self.file(&a, &p));
                }
            }
            evicted
        };
        for file in evicted {
            let _ = tokio::fs::remove_file(file).await;
        }
    }

    fn remove(&self, asset: &str, path: &str) {
        if self.lock().drop_entry(asset, path).is_some() {
            let _ = std::fs::remove_file(self.file(asset, path));
        }
    }

    fn purge_asset(&self, asset: &str) {
        {
            let mut index = self.lock();
            let paths: Vec<String> =
                index.assets.get(asset).map(|p| p.keys().cloned().collect()).unwrap_or_default();
            for path in paths {
                index.drop_entry(asset, &path);
            }
        }
        let _ = std::fs::remove_dir_all(self.root.join(asset));
    }

    fn purge_all(&self) {
        *self.lock() = DiskIndex::default();
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_sets_freshness_by_kind() {
        let year = Duration::from_secs(31_536_000);
        assert_eq!(Policy::parse(None, "720p/00001.m4s"), Policy { max_age: year, store: true });
        assert_eq!(Policy::parse(None, "master.m3u8").max_age, Duration::from_secs(1));
        assert_eq!(Policy::parse(Some("public, max-age=1"), "a.m4s").max_age, Duration::from_secs(1));
        assert_eq!(Policy::parse(Some("max-age=60, s-maxage=5"), "a.mpd").max_age, Duration::from_secs(5));
        assert!(!Policy::parse(Some("no-store"), "a.m4s").store);
        assert_eq!(Policy::parse(Some("no-cache"), "a.m4s").max_age, Duration::ZERO);
    }

    #[test]
    fn what_no_cache_may_keep_stays_unkept_on_signed_urls_too() {
        assert_eq!(private_of(&Policy::parse(Some("private, no-store"), "content.key")), "private, no-store");
        assert_eq!(private_of(&Policy::parse(None, "a.m4s")), "private, max-age=31536000, immutable");
        assert_eq!(private_of(&Policy::parse(None, "a.m3u8")), "private, max-age=1");
    }
}
