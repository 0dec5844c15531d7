//! Which assets are encrypted, and their content keys.
//!
//! An asset is encrypted when `sources/{id}/content-key.json` (a
//! [`WrappedKey`]) exists. It is written when the asset is created, before
//! its upload can complete, and never changes; it goes with the asset's
//! other source objects on delete. Keeping it with the source, not in the
//! metadata store, needs no schema change on either metadata backend, and a
//! failed transcode attempt (which clears `streams/{id}/`) cannot lose it.
//!
//! Lookups are remembered: a key never changes, and the absence of one is
//! final once the asset has left `uploading` (the record is written before).

use std::sync::Arc;

use bytes::Bytes;
use cdlc_metadata::{Asset, AssetStatus};
use cdlc_storage::{ObjectStore, StorageError};
use quick_cache::sync::Cache;

use crate::key_wrap::{ContentKey, KeyError, MasterKeys, WrappedKey};

/// Assets remembered; beyond this the least used are read again.
const CAPACITY: usize = 100_000;

/// The object that holds an asset's wrapped key.
pub fn record_key(asset: &str) -> String {
    format!("sources/{asset}/content-key.json")
}

#[derive(Debug, thiserror::Error)]
pub enum ContentKeyError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot read or write a content key: {0}")]
    Storage(#[from] StorageError),
}

pub struct ContentKeys {
    masters: MasterKeys,
    objects: Arc<dyn ObjectStore>,
    known: Cache<String, Option<ContentKey>>,
}

impl std::fmt::Debug for ContentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentKeys").field("master_key", &self.masters.current_id()).finish_non_exhaustive()
    }
}

impl ContentKeys {
    pub fn new(masters: MasterKeys, objects: Arc<dyn ObjectStore>) -> ContentKeys {
        ContentKeys { masters, objects, known: Cache::new(CAPACITY) }
    }

    /// Makes a new content key for `asset` and stores it wrapped.
    pub async fn create(&self, asset: &str) -> Result<(), ContentKeyError> {
        let key = ContentKey::generate()?;
        self.store(asset, &key).await?;
        self.known.insert(asset.to_owned(), Some(key));
        Ok(())
    }

    async fn store(&self, asset: &str, key: &ContentKey) -> Result<(), ContentKeyError> {
        let record = self.masters.wrap(asset, key)?;
        let text = serde_json::to_vec(&record)
            .map_err(|e| KeyError::BadRecord { asset: asset.to_owned(), reason: e.to_string() })?;
        self.objects.put(&record_key(asset), Bytes::from(text)).await?;
        Ok(())
    }

    /// The content key of `asset`, or `None` when it is not encrypted.
    /// A record sealed under a previous master key is sealed again under
    /// the current one (rotation).
    pub async fn of(&self, asset: &Asset) -> Result<Option<ContentKey>, ContentKeyError> {
        if let Some(known) = self.known.get(&asset.id) {
            return Ok(known);
        }
        let key = match self.objects.get(&record_key(&asset.id)).await {
            Ok(text) => {
                let record: WrappedKey = serde_json::from_slice(&text)
                    .map_err(|e| KeyError::BadRecord { asset: asset.id.clone(), reason: e.to_string() })?;
                let key = self.masters.unwrap(&asset.id, &record)?;
                if self.masters.needs_rewrap(&record) {
                    self.store(&asset.id, &key).await?;
                    tracing::info!(asset_id = %asset.id, master_key = self.masters.current_id(), "content key re-wrapped");
                }
                Some(key)
            }
            Err(StorageError::NotFound(_)) => None,
            Err(error) => return Err(error.into()),
        };
        if key.is_some() || asset.status != AssetStatus::Uploading {
            self.known.insert(asset.id.clone(), key);
        }
        Ok(key)
    }

    /// Forgets `asset` (deleted).
    pub fn forget(&self, asset: &str) {
        self.known.remove(asset);
    }
}

#[cfg(test)]
mod tests {
    use cdlc_storage::LocalStore;

    use super::*;

    const OLD: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const NEW: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

    fn asset(id: &str, status: AssetStatus) -> Asset {
        Asset {
            id: id.into(),
            title: None,
            status,
            progress: 0.0,
            error: None,
            private: true,
            source: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn local_objects() -> (tempfile::TempDir, Arc<dyn ObjectStore>) {
        let dir = tempfile::tempdir().unwrap();
        let objects = Arc::new(LocalStore::open(dir.path()).unwrap());
        (dir, objects)
    }

    /// A server's keys over `objects`, as if started with these master keys.
    fn keys(objects: &Arc<dyn ObjectStore>, current: &str, previous: &str) -> ContentKeys {
        ContentKeys::new(MasterKeys::parse(current, previous).unwrap(), objects.clone())
    }

    #[tokio::test]
    async fn keys_survive_a_restart_and_a_master_key_rotation() {
        let (_dir, objects) = local_objects();
        let first = keys(&objects, OLD, "");
        let ready = asset("a1", AssetStatus::Ready);
        first.create("a1").await.unwrap();
        let key = first.of(&ready).await.unwrap().expect("encrypted");
        assert_eq!(first.of(&asset("a2", AssetStatus::Ready)).await.unwrap(), None);

        // Another process (or a restart) with the master key rotated.
        let rotated = keys(&objects, NEW, OLD);
        assert_eq!(rotated.of(&ready).await.unwrap(), Some(key));
        let record: WrappedKey =
            serde_json::from_slice(&objects.get(&record_key("a1")).await.unwrap()).unwrap();
        assert_eq!(record.master_key, MasterKeys::parse(NEW, "").unwrap().current_id(), "re-wrapped");

        let new_only = keys(&objects, NEW, "");
        assert_eq!(new_only.of(&ready).await.unwrap(), Some(key), "the old key can go");
        let old_only = keys(&objects, OLD, "");
        let error = old_only.of(&ready).await.expect_err("the old key alone no longer opens it");
        assert!(error.to_string().contains("encryption_previous_master_keys"), "{error}");
    }

    #[tokio::test]
    async fn an_uploading_asset_without_a_key_is_asked_again() {
        let (_dir, objects) = local_objects();
        let here = keys(&objects, OLD, "");
        let uploading = asset("a3", AssetStatus::Uploading);
        assert_eq!(here.of(&uploading).await.unwrap(), None);
        // Another server created the key meanwhile.
        keys(&objects, OLD, "").create("a3").await.unwrap();
        assert!(here.of(&uploading).await.unwrap().is_some());
    }
}
