//! The metadata service: every asset, its source, renditions and segments,
//! the jobs that produce them and the events they raise.
//!
//! [`MetadataStore`] is the port; [`SqliteStore`] is the embedded backend
//! (one file, zero setup) and [`ScyllaStore`] the scale-out one (a ScyllaDB
//! cluster). Both pass the same contract tests (`tests/contract.rs`);
//! [`open`] picks one from a URL.

mod error;
mod model;
mod scylla;
mod sqlite;

use std::time::Duration;

pub use self::scylla::{Replication, ScyllaStore, ScyllaUrl};
pub use error::MetadataError;
pub use model::{
    Asset, AssetStatus, Event, Job, JobKind, JobState, NewAsset, Page, RenditionRecord, SegmentRecord,
};
pub use sqlite::SqliteStore;

/// Whether `text` has the form of the ids this crate makes for assets (and
/// jobs): 32 lowercase hex digits, a UUIDv7 in its simple form. The one
/// check for ids that arrive from outside (URLs, cursors, upload ids that
/// become file names).
pub fn is_asset_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Opens the store a URL names: `sqlite:///path/to/cdlc.db` (a file,
/// created when absent) or `scylla://host:9042,…/keyspace?…` (see
/// [`ScyllaUrl`]).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn MetadataStore>, MetadataError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if !path.starts_with('/') {
            return Err(MetadataError::BadUrl(format!(
                "{url:?} needs an absolute path: sqlite:///var/lib/cdlc/cdlc.db"
            )));
        }
        let path = std::path::PathBuf::from(path);
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await
            .map_err(|e| MetadataError::Database(format!("the metadata task failed: {e}")))??;
        return Ok(std::sync::Arc::new(store));
    }
    if url.starts_with("scylla://") {
        return Ok(std::sync::Arc::new(ScyllaStore::connect(url).await?));
    }
    Err(MetadataError::BadUrl(format!("{url:?} must start with sqlite:/// or scylla://")))
}

/// Largest page a list call returns.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The metadata port. Every method is one atomic change or read.
#[async_trait::async_trait]
pub trait MetadataStore: Send + Sync {
    /// Creates an asset in `uploading` state.
    async fn create_asset(&self, new: NewAsset) -> Result<Asset, MetadataError>;
    async fn get_asset(&self, id: &str) -> Result<Option<Asset>, MetadataError>;
    /// Newest first; `status` filters; `cursor` is the `next` of the previous page.
    async fn list_assets(
        &self,
        status: Option<AssetStatus>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Asset>, MetadataError>;
    /// Moves an asset to `status`; `error` is kept only for `errored`.
    async fn set_status(
        &self,
        id: &str,
        status: AssetStatus,
        error: Option<&str>,
    ) -> Result<Asset, MetadataError>;
    /// Records progress (0–100) of the running transcode.
    async fn set_progress(&self, id: &str, percent: f64) -> Result<(), MetadataError>;
    /// Records what the probe found (JSON of the media info).
    async fn set_source(&self, id: &str, source: serde_json::Value) -> Result<(), MetadataError>;
    /// Removes the asset and everything recorded about it. False if it did not exist.
    async fn delete_asset(&self, id: &str) -> Result<bool, MetadataError>;

    /// Inserts or replaces a rendition of an asset.
    async fn put_rendition(&self, rendition: RenditionRecord) -> Result<(), MetadataError>;
    async fn renditions(&self, asset_id: &str) -> Result<Vec<RenditionRecord>, MetadataError>;
    /// Records a segment; writing the same (asset, rendition, number) again replaces it.
    async fn put_segment(&self, segment: SegmentRecord) -> Result<(), MetadataError>;
    async fn segments(&self, asset_id: &str, rendition: &str) -> Result<Vec<SegmentRecord>, MetadataError>;
    /// Forgets every rendition and segment of an asset (before a job runs again).
    async fn clear_outputs(&self, asset_id: &str) -> Result<(), MetadataError>;

    /// Queues a job for an asset.
    async fn enqueue_job(
        &self,
        asset_id: &str,
        kind: JobKind,
        max_attempts: u32,
    ) -> Result<Job, MetadataError>;
    /// Takes the oldest job that is due (queued, or running with an expired
    /// lease) for `worker`, leased for `lease`.
    async fn claim_job(&self, worker: &str, lease: Duration) -> Result<Option<Job>, MetadataError>;
    /// Extends the lease of a job `worker` holds; false if it lost it.
    async fn renew_lease(&self, job_id: &str, worker: &str, lease: Duration) -> Result<bool, MetadataError>;
    /// Marks a job `worker` holds as done.
    async fn complete_job(&self, job_id: &str, worker: &str) -> Result<(), MetadataError>;
    /// Records a failed attempt: queued again after `retry_in` while attempts
    /// remain (and `retry_in` is given), otherwise failed for good.
    async fn fail_job(
        &self,
        job_id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<JobState, MetadataError>;
    async fn jobs(&self, asset_id: &str) -> Result<Vec<Job>, MetadataError>;
    /// Puts every running job back in the queue; returns how many. For a
    /// store that one process owns (embedded mode), called at start: the
    /// workers that held those jobs died with the previous process.
    async fn requeue_running_jobs(&self) -> Result<usize, MetadataError>;

    /// Appends an event; events are numbered in the order they were appended.
    async fn append_event(
        &self,
        asset_id: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<Event, MetadataError>;
    /// Events with a sequence number above `after`, oldest first.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, MetadataError>;
}
