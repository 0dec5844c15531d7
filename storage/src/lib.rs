//! Object storage: a flat namespace of keys such as
//! `sources/{asset}/original` or `streams/{asset}/720p/00001.m4s`.
//!
//! [`ObjectStore`] is the port; [`LocalStore`] keeps objects as files under
//! a directory (the embedded default) and [`S3Store`] keeps them in a bucket
//! of any S3 API (AWS, SeaweedFS, MinIO, Garage, R2…). Both pass the same
//! contract tests (`tests/contract.rs`).

mod key;
mod local;
mod s3;

use std::path::{Path, PathBuf};

pub use bytes::Bytes;
pub use key::{validate_key, MAX_KEY_LEN};
pub use local::LocalStore;
pub use s3::{S3Config, S3Store, MAX_PARTS, MIN_PART_SIZE};

/// What is known about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// Changes whenever the content does.
    pub etag: String,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object {0}")]
    NotFound(String),
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("the range {start}-{end} is outside the {size} bytes of {key}")]
    BadRange { key: String, start: u64, end: u64, size: u64 },
    #[error("object storage failed on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// A transient failure: the server is unreachable, overloaded or
    /// answered 5xx, even after the client's own retries.
    #[error("object storage is unavailable ({key}): {message}")]
    Unavailable { key: String, message: String },
    /// The server refused the request for a reason a retry cannot fix:
    /// credentials, permissions, a missing bucket.
    #[error("object storage refused the request ({key}): {message}")]
    Rejected { key: String, message: String },
    #[error("invalid object storage setting: {0}")]
    InvalidConfig(String),
}

impl StorageError {
    /// Whether trying again could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Io { .. } | StorageError::Unavailable { .. })
    }
}

/// The object storage port. Writes are atomic: a reader sees the whole old
/// object, the whole new one, or none.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put(&self, key: &str, data: Bytes) -> Result<ObjectMeta, StorageError>;
    /// Stores the file at `path` without reading it all into memory.
    async fn put_file(&self, key: &str, path: &Path) -> Result<ObjectMeta, StorageError>;
    async fn get(&self, key: &str) -> Result<Bytes, StorageError>;
    /// Bytes `start..end` (end exclusive) of an object.
    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StorageError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;
    /// Removes an object; false if there was none.
    async fn delete(&self, key: &str) -> Result<bool, StorageError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError>;
    /// Removes every object under `prefix`; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let mut removed = 0;
        for object in self.list(prefix).await? {
            if self.delete(&object.key).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }
    /// The file that already holds `key` when the backend keeps objects as
    /// local files, so a reader (the transcoder) can use it in place.
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let _ = key;
        None
    }
    /// Copies the object into the file at `path` (created or replaced) and
    /// returns its size. Backends override this to stream instead of
    /// holding the object in memory.
    async fn download_to(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let data = self.get(key).await?;
        tokio::fs::write(path, &data)
            .await
            .map_err(|source| StorageError::Io { key: key.to_owned(), source })?;
        Ok(data.len() as u64)
    }
}
