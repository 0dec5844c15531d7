//! The plugin's objects as DataFusion's object store, read-only, so that a
//! query reads a Parquet file by ranges (its footer, then the pages of the
//! columns and row groups it needs) instead of the whole file.
//!
//! Keys are the plugin's own (`lake/validated/day=2026-12-01/events.parquet`),
//! under the URL [`LAKE_URL`]. A storage failure comes back from the engine
//! as an error whose source chain holds the [`ObjectsError`]; see
//! [`objects_error_in`].

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use cdlc_plugin_api::{ObjectInfo, Objects, ObjectsError};
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    self, Attributes, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use futures_util::stream::{self, BoxStream, StreamExt};

/// Where the engine finds the lake: `lake://objects/{key}`.
pub const LAKE_URL: &str = "lake://objects";

const STORE: &str = "lake";

/// Ranges of one read closer than this are fetched as one: a small gap is
/// cheaper to read than another request. (The object_store default, 1 MiB,
/// reads most of a lake file for a query of two columns.)
const COALESCE_GAP: u64 = 64 * 1024;

/// A plugin's [`Objects`], read-only, as an [`ObjectStore`]. It remembers
/// each object's size from the listing and the first `head`, so a ranged
/// read is one request.
pub struct LakeStore {
    objects: Arc<dyn Objects>,
    known: Mutex<HashMap<String, ObjectInfo>>,
}

impl LakeStore {
    pub fn new(objects: Arc<dyn Objects>) -> LakeStore {
        LakeStore { objects, known: Mutex::new(HashMap::new()) }
    }

    fn remember(&self, info: &ObjectInfo) {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).insert(info.key.clone(), info.clone());
    }

    fn remembered(&self, key: &str) -> Option<ObjectInfo> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    async fn info(&self, location: &Path) -> object_store::Result<ObjectInfo> {
        let key = location.as_ref();
        if let Some(info) = self.remembered(key) {
            return Ok(info);
        }
        let info = self.objects.head(key).await.map_err(storage_error)?.ok_or_else(|| not_found(key))?;
        self.remember(&info);
        Ok(info)
    }
}

impl fmt::Debug for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LakeStore")
    }
}

impl fmt::Display for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the analytics plugin's objects")
    }
}

fn storage_error(error: ObjectsError) -> object_store::Error {
    object_store::Error::Generic { store: STORE, source: Box::new(error) }
}

fn not_found(key: &str) -> object_store::Error {
    object_store::Error::NotFound {
        path: key.to_owned(),
        source: format!("the lake has no object {key}").into(),
    }
}

fn read_only(operation: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("the lake is read-only to queries: {operation} is refused").into(),
    }
}

fn meta(info: &ObjectInfo) -> ObjectMeta {
    ObjectMeta {
        location: Path::from_iter(info.key.split('/')),
        last_modified: chrono::DateTime::from_timestamp_millis(info.modified_ms).unwrap_or_default(),
        size: info.size,
        e_tag: Some(info.etag.clone()),
        version: None,
    }
}

fn payload(data: Bytes) -> GetResultPayload {
    GetResultPayload::Stream(stream::once(async move { Ok(data) }).boxed())
}

#[async_trait]
impl ObjectStore for LakeStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> object_store::Result<PutResult> {
        Err(read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only("multipart put"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let info = self.info(location).await?;
        let meta = meta(&info);
        options.check_preconditions(&meta)?;
        let range: Range<u64> = match &options.range {
            None => 0..info.size,
            Some(range) => range
                .as_range(info.size)
                .map_err(|e| object_store::Error::Generic { store: STORE, source: Box::new(e) })?,
        };
        let attributes = Attributes::default();
        if options.head {
            return Ok(GetResult { payload: payload(Bytes::new()), meta, range, attributes });
        }
        let key = location.as_ref();
        let data = if matches!(options.range, None | Some(GetRange::Offset(0))) {
            self.objects.get(key).await
        } else {
            self.objects.get_range(key, range.start, range.end).await
        };
        let data = data.map_err(storage_error)?.ok_or_else(|| not_found(key))?;
        Ok(GetResult { payload: payload(data), meta, range, attributes })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let key = location.as_ref();
        let fetch = |range: Range<u64>| async move {
            self.objects
                .get_range(key, range.start, range.end)
                .await
                .map_err(storage_error)?
                .ok_or_else(|| not_found(key))
        };
        object_store::coalesce_ranges(ranges, fetch, COALESCE_GAP).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|_| Err(read_only("delete"))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let objects = self.objects.clone();
        let prefix = prefix.map(|p| format!("{}/", p.as_ref())).unwrap_or_default();
        let listed = async move { objects.list(&prefix).await.map_err(storage_error) };
        // The stream outlives `&self`, so these sizes are not remembered:
        // a listing table of files asks `head` for each, which is.
        stream::once(listed)
            .flat_map(|listed| match listed {
                Ok(infos) => stream::iter(infos.iter().map(|i| Ok(meta(i))).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let prefix = prefix.map(|p| format!("{}/", p.as_ref())).unwrap_or_default();
        let listed = self.objects.list(&prefix).await.map_err(storage_error)?;
        let mut common_prefixes = Vec::new();
        let mut objects = Vec::new();
        for info in &listed {
            let rest = &info.key[prefix.len().min(info.key.len())..];
            match rest.split_once('/') {
                Some((directory, _)) => {
                    let path = Path::from_iter(format!("{prefix}{directory}").split('/'));
                    if common_prefixes.last() != Some(&path) {
                        common_prefixes.push(path);
                    }
                }
                None => {
                    self.remember(info);
                    objects.push(meta(info));
                }
            }
        }
        Ok(ListResult { common_prefixes, objects })
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> object_store::Result<()> {
        Err(read_only("copy"))
    }
}

/// The storage failure behind an engine error, if that is what it is: the
/// caller answers 503 for it (try again) rather than blaming the query.
pub fn objects_error_in(error: &(dyn std::error::Error + 'static)) -> Option<ObjectsError> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<ObjectsError>() {
            return Some(match found {
                ObjectsError::Unavailable(message) => ObjectsError::Unavailable(message.clone()),
                other => ObjectsError::Unavailable(other.to_string()),
            });
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use cdlc_plugin_api::host::PrefixedObjects;
    use datafusion::object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    #[tokio::test]
    async fn reads_ranges_lists_by_folder_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(cdlc_storage::LocalStore::open(dir.path()).unwrap());
        let objects = Arc::new(PrefixedObjects::new(store, "analytics"));
        objects.put("a/b/one.parquet", Bytes::from_static(b"0123456789")).await.unwrap();
        objects.put("a/two.txt", Bytes::from_static(b"two")).await.unwrap();
        let lake = LakeStore::new(objects);

        let one = Path::from("a/b/one.parquet");
        assert_eq!(lake.get_range(&one, 2..5).await.unwrap(), Bytes::from_static(b"234"));
        let options = GetOptions { range: Some(GetRange::Suffix(3)), ..GetOptions::default() };
        let tail = lake.get_opts(&one, options).await.unwrap();
        assert_eq!(tail.range, 7..10);
        assert_eq!(tail.bytes().await.unwrap(), Bytes::from_static(b"789"));
        let ranges = lake.get_ranges(&one, &[0..1, 4..6, 9..10]).await.unwrap();
        assert_eq!(
            ranges,
            vec![Bytes::from_static(b"0"), Bytes::from_static(b"45"), Bytes::from_static(b"9")]
        );
        assert_eq!(lake.head(&one).await.unwrap().size, 10);
        assert!(matches!(lake.head(&Path::from("a/none")).await, Err(object_store::Error::NotFound { .. })));

        let listed = lake.list_with_delimiter(Some(&Path::from("a"))).await.unwrap();
        assert_eq!(listed.common_prefixes, vec![Path::from("a/b")]);
        let keys: Vec<String> = listed.objects.iter().map(|m| m.location.to_string()).collect();
        assert_eq!(keys, vec!["a/two.txt".to_owned()]);

        let refused = lake.put(&one, PutPayload::from_static(b"x")).await;
        assert!(matches!(refused, Err(object_store::Error::NotSupported { .. })), "{refused:?}");
        assert_eq!(lake.get(&one).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"0123456789"));
    }
}
