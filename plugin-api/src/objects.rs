//! A plugin's own part of object storage: posters, photos, imported files.
//! Keys are the plugin's own (`posters/tt0068646.jpg`); the host keeps each
//! plugin's objects under a prefix of its own, so a plugin cannot read or
//! overwrite another's objects or the host's streams. A plugin serves what
//! it stores through its own routes.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;

/// The longest key a plugin may use.
pub const MAX_OBJECT_KEY: usize = 512;

/// One stored object of the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The plugin's key (without the host's prefix).
    pub key: String,
    pub size: u64,
    /// Changes whenever the content does.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("the object key {key:?} {reason}")]
    BadKey { key: String, reason: &'static str },
    #[error("the range {start}-{end} is outside the {size} bytes of {key}")]
    BadRange { key: String, start: u64, end: u64, size: u64 },
    #[error("object storage is unavailable: {0}")]
    Unavailable(String),
}

/// Checks a plugin's key: 1–512 bytes of letters, digits and `-_.=/`, no
/// empty, `.` or `..` segment, no leading or trailing `/`.
pub fn check_key(key: &str) -> Result<(), ObjectsError> {
    let bad = |reason| Err(ObjectsError::BadKey { key: key.chars().take(80).collect(), reason });
    if key.is_empty() || key.len() > MAX_OBJECT_KEY {
        return bad("must be 1-512 bytes long");
    }
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=/".contains(&b)) {
        return bad("may hold only letters, digits and - _ . = /");
    }
    if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return bad("must not have an empty, '.' or '..' segment");
    }
    Ok(())
}

/// Object storage as a plugin sees it: only its own keys.
#[async_trait]
pub trait Objects: Send + Sync {
    async fn put(&self, key: &str, data: Bytes) -> Result<ObjectInfo, ObjectsError>;
    /// Stores a file without reading it into memory.
    async fn put_file(&self, key: &str, path: &Path) -> Result<ObjectInfo, ObjectsError>;
    /// The object, or `None` when there is none under `key`.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, ObjectsError>;
    /// Bytes `start..end` of the object, for a reader that needs only part
    /// of it (a Parquet footer, one column's pages); `None` when there is
    /// none under `key`. A range outside the object is an error.
    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Bytes>, ObjectsError>;
    /// Writes the object to `path` without holding it in memory; `None`
    /// when there is none under `key`, else its size.
    async fn download_to(&self, key: &str, path: &Path) -> Result<Option<u64>, ObjectsError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectsError>;
    /// Whether there was an object to remove.
    async fn delete(&self, key: &str) -> Result<bool, ObjectsError>;
    /// The objects whose keys start with `prefix` (`""` for all), by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in ["a", "posters/tt1.jpg", "landing/2026-12-01/title.basics.tsv.gz", "a=b/c_d-e"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        let long = "a".repeat(513);
        for bad in ["", "/a", "a/", "a//b", "../x", "a/./b", "a b", "ä", long.as_str()] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
