//! Settings of an edge, with their defaults; validated by [`Edge::new`](crate::Edge::new).

use std::path::PathBuf;
use std::time::Duration;

use crate::signing::SigningKeys;

/// Default memory budget: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;
/// Default disk budget when a disk directory is set: 4 GiB.
pub const DEFAULT_DISK_BYTES: u64 = 4 << 30;
/// Default largest object the edge fetches and keeps: 64 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 64 << 20;
/// Default time a cached copy may be served past its freshness when the origin fails: one day.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(24 * 3600);

/// Every setting of an edge. Each has a default ([`Default`]).
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    /// Byte budget of the memory tier (bodies, gzip copies and per-entry overhead).
    pub memory_bytes: u64,
    /// Directory of the disk tier; `None` runs with memory only. The edge
    /// owns its `cdlc-edge-cache` subdirectory and empties it at start.
    pub disk_dir: Option<PathBuf>,
    /// Byte budget of the disk tier.
    pub disk_bytes: u64,
    /// Largest object fetched from the origin; larger ones answer 502.
    pub max_object_bytes: u64,
    /// How long past its freshness a cached copy is served while the origin fails.
    pub stale_if_error: Duration,
    /// Keys that sign and check URLs of private assets; the first one signs.
    pub signing_keys: SigningKeys,
    /// Bearer token of the purge API; `None` refuses every purge.
    pub admin_token: Option<String>,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        EdgeSettings {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            disk_dir: None,
            disk_bytes: DEFAULT_DISK_BYTES,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            stale_if_error: DEFAULT_STALE_IF_ERROR,
            signing_keys: SigningKeys::default(),
            admin_token: None,
        }
    }
}

/// A setting that cannot work; the message names it and says what to set.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{setting} {problem}")]
    Invalid { setting: &'static str, problem: String },
    #[error("cannot prepare the disk tier in {dir}: {source}")]
    DiskDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid { setting, problem: problem.into() }
}

impl EdgeSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.memory_bytes < 1 << 20 {
            return Err(invalid("memory_bytes", "must be at least 1 MiB (1048576)"));
        }
        if self.max_object_bytes == 0 {
            return Err(invalid("max_object_bytes", "must be above 0"));
        }
        if self.max_object_bytes > self.memory_bytes / 4 {
            return Err(invalid(
                "max_object_bytes",
                format!(
                    "must be at most a quarter of memory_bytes ({}), so one object never fills the memory tier",
                    self.memory_bytes / 4
                ),
            ));
        }
        if self.disk_dir.is_some() && self.disk_bytes < self.max_object_bytes {
            return Err(invalid("disk_bytes", "must be at least max_object_bytes when disk_dir is set"));
        }
        if let Some(token) = &self.admin_token {
            if token.len() < 16 {
                return Err(invalid("admin_token", "must be at least 16 characters"));
            }
        }
        Ok(())
    }
}
