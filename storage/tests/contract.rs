//! The behaviour every object-storage backend must have. Each check runs
//! against the local directory backend and against the S3 backend on a
//! real SeaweedFS server the tests start (`weed`; `make test` installs it).

use std::path::Path;

use cdlc_storage::{Bytes, LocalStore, ObjectStore, StorageError};
use cdlc_testkit::seaweed::SeaweedServer;

/// One backend under test, with a scratch folder for source files.
struct Backend {
    scratch: tempfile::TempDir,
    store: Box<dyn ObjectStore>,
}

impl Backend {
    fn local() -> Backend {
        let scratch = tempfile::tempdir().expect("tmp");
        let store = LocalStore::open(scratch.path().join("objects")).expect("open");
        Backend { scratch, store: Box::new(store) }
    }

    /// A store on a bucket of its own, so tests running at once never see
    /// each other's objects.
    async fn s3(bucket: &str) -> Backend {
        let store = SeaweedServer::shared().store(bucket).await.expect("connect to weed");
        Backend { scratch: tempfile::tempdir().expect("tmp"), store: Box::new(store) }
    }

    fn scratch(&self) -> &Path {
        self.scratch.path()
    }
}

/// Runs each named check once per backend: `local::NAME` and `s3::NAME`.
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod local {
            $( #[tokio::test] async fn $check() { super::$check(super::Backend::local()).await } )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(super::Backend::s3(&stringify!($check).replace('_', "-")).await).await
                }
            )*
        }
    };
}

contract!(
    objects_round_trip_with_metadata,
    ranges_are_exact_and_bounded,
    large_files_are_stored_from_disk,
    listing_and_deleting_by_prefix,
    keys_that_escape_the_store_are_refused,
    objects_download_to_local_files,
);

async fn objects_round_trip_with_metadata(backend: Backend) {
    let store = &backend.store;
    let meta =
        store.put("streams/a/720p/00001.m4s", Bytes::from_static(b"segment bytes")).await.expect("put");
    assert_eq!((meta.size, meta.key.as_str()), (13, "streams/a/720p/00001.m4s"));
    assert_eq!(
        store.get("streams/a/720p/00001.m4s").await.expect("get"),
        Bytes::from_static(b"segment bytes")
    );
    let head = store.head("streams/a/720p/00001.m4s").await.expect("head").expect("exists");
    assert_eq!(head.etag, meta.etag);
    assert_eq!(head.size, 13);
    assert!(head.modified_ms > 1_600_000_000_000, "a real modification time: {}", head.modified_ms);
    assert!(store.head("streams/a/720p/00002.m4s").await.expect("head").is_none());
    assert!(matches!(store.get("streams/a/nope").await, Err(StorageError::NotFound(_))));

    let replaced =
        store.put("streams/a/720p/00001.m4s", Bytes::from_static(b"new bytes, longer")).await.expect("put");
    assert_ne!(replaced.etag, meta.etag, "new content, new etag");
    assert_eq!(store.get("streams/a/720p/00001.m4s").await.expect("get"), &b"new bytes, longer"[..]);
}

async fn ranges_are_exact_and_bounded(backend: Backend) {
    let store = &backend.store;
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    store.put("k", Bytes::from(data.clone())).await.expect("put");
    assert_eq!(store.get_range("k", 100, 356).await.expect("range"), &data[100..356]);
    assert_eq!(store.get_range("k", 9_999, 10_000).await.expect("last byte"), &data[9_999..]);
    assert_eq!(store.get_range("k", 0, 10_000).await.expect("whole"), data);
    for (start, end) in [(9_000, 10_001), (10_000, 10_005), (20_000, 20_001), (500, 400)] {
        let result = store.get_range("k", start, end).await;
        assert!(
            matches!(result, Err(StorageError::BadRange { size: 10_000, .. })),
            "{start}..{end}: {result:?}"
        );
    }
    assert!(matches!(store.get_range("missing", 0, 1).await, Err(StorageError::NotFound(_))));
}

async fn large_files_are_stored_from_disk(backend: Backend) {
    let store = &backend.store;
    let source = backend.scratch().join("upload.bin");
    let data: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &data).expect("write");
    let meta = store.put_file("sources/a/original", &source).await.expect("put_file");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(store.get("sources/a/original").await.expect("get"), data);
    assert_eq!(store.head("sources/a/original").await.expect("head").expect("exists").size, meta.size);
}

async fn listing_and_deleting_by_prefix(backend: Backend) {
    let store = &backend.store;
    for key in
        ["streams/a/master.m3u8", "streams/a/720p/00001.m4s", "streams/ab/master.m3u8", "sources/a/original"]
    {
        store.put(key, Bytes::from_static(b"x")).await.expect("put");
    }
    let keys = |list: Vec<cdlc_storage::ObjectMeta>| list.into_iter().map(|m| m.key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list("streams/a/").await.expect("list")),
        vec!["streams/a/720p/00001.m4s", "streams/a/master.m3u8"],
        "prefix ends at the slash: streams/ab is not listed"
    );
    assert_eq!(store.delete_prefix("streams/a/").await.expect("delete"), 2);
    assert_eq!(
        keys(store.list("").await.expect("list")),
        vec!["sources/a/original", "streams/ab/master.m3u8"]
    );
    assert!(!store.delete("streams/a/master.m3u8").await.expect("delete twice"));
    assert!(store.delete("sources/a/original").await.expect("delete"));
    assert!(store.list("nothing/").await.expect("list").is_empty());
    assert_eq!(store.delete_prefix("nothing/").await.expect("delete nothing"), 0);
}

async fn keys_that_escape_the_store_are_refused(backend: Backend) {
    let store = &backend.store;
    for key in ["../outside", "/etc/passwd", "a/../../b", ""] {
        let error = store.put(key, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey { .. }), "{key:?}: {error}");
        let error = store.get(key).await.unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey { .. }), "{key:?}: {error}");
    }
    assert!(!backend.scratch().join("outside").exists());
    assert!(store.list("").await.expect("list").is_empty(), "nothing was stored");
}

async fn objects_download_to_local_files(backend: Backend) {
    let store = &backend.store;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    store.put("sources/b/original", Bytes::from(data.clone())).await.expect("put");
    let target = backend.scratch().join("source.mp4");
    let size = store.download_to("sources/b/original", &target).await.expect("download");
    assert_eq!(size, data.len() as u64);
    assert_eq!(std::fs::read(&target).expect("read"), data);
    let error = store.download_to("sources/none/original", &backend.scratch().join("x")).await.unwrap_err();
    assert!(matches!(error, StorageError::NotFound(_)), "{error}");
    assert!(!backend.scratch().join("x").exists(), "no file for a missing object");
}
