//! Objects as files under one directory.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::{validate_key, ObjectMeta, ObjectStore, StorageError};

/// The embedded object store: `key` lives at `root/key`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalStore {
    /// A store rooted at `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalStore, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| StorageError::Io { key: String::new(), source })?;
        Ok(LocalStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key` (for serving it with sendfile and the like).
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        key: &str,
        work: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let root = self.root.clone();
        let owned_key = key.to_owned();
        tokio::task::spawn_blocking(move || work(&root))
            .await
            .map_err(|e| StorageError::Io { key: owned_key.clone(), source: std::io::Error::other(e) })?
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => StorageError::NotFound(owned_key),
                _ => StorageError::Io { key: owned_key, source },
            })
    }
}

fn meta_of(key: &str, metadata: &std::fs::Metadata) -> ObjectMeta {
    let modified =
        metadata.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
    ObjectMeta {
        key: key.to_owned(),
        size: metadata.len(),
        modified_ms: modified.as_millis() as i64,
        etag: format!("\"{:x}-{:x}\"", modified.as_nanos(), metadata.len()),
    }
}

/// Writes through a temporary file in the same folder, then renames it
/// over the target, so no reader ever sees a partial object.
fn write_atomically(
    path: &Path,
    key: &str,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<ObjectMeta> {
    let parent = path.parent().ok_or_else(|| std::io::Error::other("key has no folder"))?;
    std::fs::create_dir_all(parent)?;
    let temp =
        parent.join(format!(".tmp-{}-{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        fill(&mut file)?;
        file.sync_data()?;
        std::fs::rename(&temp, path)?;
        Ok(meta_of(key, &std::fs::metadata(path)?))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Removes `.tmp-{pid}-{n}` files of other processes under `dir`, then the
/// folders left empty (best effort: a failure leaves a file, never an error).
fn remove_abandoned_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let ours = format!(".tmp-{}-", std::process::id());
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match entry.file_type() {
            Ok(t) if t.is_dir() => remove_abandoned_temps(&path),
            Ok(t) if t.is_file() && name.starts_with(".tmp-") && !name.starts_with(&ours) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_dir(dir);
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        let Some(key) = path.strip_prefix(root).ok().and_then(|p| p.to_str()).map(|k| k.replace('\\', "/"))
        else {
            continue;
        };
        if file_type.is_dir() {
            if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                walk(root, &path, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) && validate_key(&key).is_ok() {
            out.push(meta_of(&key, &entry.metadata()?));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, data: Bytes) -> Result<ObjectMeta, StorageError> {
        let path = self.path_of(key)?;
        let owned = key.to_owned();
        self.blocking(key, move |_| write_atomically(&path, &owned, |f| std::io::Write::write_all(f, &data)))
            .await
    }

    async fn put_file(&self, key: &str, source: &Path) -> Result<ObjectMeta, StorageError> {
        let path = self.path_of(key)?;
        let (owned, source) = (key.to_owned(), source.to_owned());
        self.blocking(key, move |_| {
            write_atomically(&path, &owned, |f| {
                std::io::copy(&mut std::fs::File::open(&source)?, f)?;
                Ok(())
            })
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = self.path_of(key)?;
        self.blocking(key, move |_| std::fs::read(&path).map(Bytes::from)).await
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StorageError> {
        let path = self.path_of(key)?;
        let owned = key.to_owned();
        let read = self
            .blocking(key, move |_| {
                let mut file = std::fs::File::open(&path)?;
                let size = file.metadata()?.len();
                if start > end || end > size {
                    return Ok(Err(size));
                }
                file.seek(SeekFrom::Start(start))?;
                let mut buffer = vec![0; (end - start) as usize];
                file.read_exact(&mut buffer)?;
                Ok(Ok(Bytes::from(buffer)))
            })
            .await?;
        read.map_err(|size| StorageError::BadRange { key: owned, start, end, size })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let path = self.path_of(key)?;
        let owned = key.to_owned();
        match self.blocking(key, move |_| std::fs::metadata(&path)).await {
            Ok(metadata) if metadata.is_file() => Ok(Some(meta_of(&owned, &metadata))),
            Ok(_) | Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path_of(key)?;
        let result = self
            .blocking(key, move |root| {
                std::fs::remove_file(&path)?;
                // Prune the folders the object leaves empty.
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != root) {
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
                Ok(())
            })
            .await;
        match result {
            Ok(()) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix`, and the temp files of writes whose
    /// process was killed before their rename (no listing shows them, and
    /// they would keep the folders alive). This process's own temp files
    /// are writes in flight and stay.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let mut removed = 0;
        for object in self.list(prefix).await? {
            if self.delete(&object.key).await? {
                removed += 1;
            }
        }
        let folder = prefix.trim_end_matches('/');
        if !folder.is_empty() && validate_key(folder).is_ok() {
            let dir = self.root.join(folder);
            self.blocking(prefix, move |_| {
                remove_abandoned_temps(&dir);
                Ok(())
            })
            .await?;
        }
        Ok(removed)
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_of(key).ok()
    }

    async fn download_to(&self, key: &str, path: &Path) -> Result<u64, StorageError> {
        let source = self.path_of(key)?;
        let target = path.to_owned();
        self.blocking(key, move |_| std::fs::copy(&source, &target)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let prefix = prefix.to_owned();
        let key = prefix.clone();
        self.blocking(&key, move |root| {
            let mut out = Vec::new();
            walk(root, root, &prefix, &mut out)?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectStore;

    #[tokio::test]
    async fn delete_prefix_also_removes_temp_files_a_killed_writer_left() {
        let scratch = tempfile::tempdir().unwrap();
        let store = LocalStore::open(scratch.path().join("objects")).unwrap();
        store.put("streams/a/360p/00001.m4s", Bytes::from_static(b"segment")).await.unwrap();
        store.put("streams/b/360p/00001.m4s", Bytes::from_static(b"other")).await.unwrap();
        let folder = scratch.path().join("objects/streams/a/360p");
        // What a process killed between create and rename leaves (pid 1 is never ours).
        std::fs::write(folder.join(".tmp-1-7"), b"half").unwrap();
        let ours = folder.join(format!(".tmp-{}-99", std::process::id()));
        std::fs::write(&ours, b"in flight").unwrap();

        assert_eq!(store.delete_prefix("streams/a/").await.unwrap(), 1);
        assert!(!folder.join(".tmp-1-7").exists(), "the abandoned temp file is gone");
        assert!(ours.exists(), "a write of this process in flight is left alone");
        assert_eq!(store.list("streams/b/").await.unwrap().len(), 1, "other prefixes untouched");
    }
}
