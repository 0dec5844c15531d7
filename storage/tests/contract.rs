//! The behaviour every object-storage backend must have; the local
//! directory backend runs it here.

use cdlc_storage::{Bytes, LocalStore, ObjectStore, StorageError};

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = LocalStore::open(dir.path().join("objects")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn objects_round_trip_with_metadata() {
    let (_dir, store) = store();
    let meta =
        store.put("streams/a/720p/00001.m4s", Bytes::from_static(b"segment bytes")).await.expect("put");
    assert_eq!((meta.size, meta.key.as_str()), (13, "streams/a/720p/00001.m4s"));
    assert_eq!(
        store.get("streams/a/720p/00001.m4s").await.expect("get"),
        Bytes::from_static(b"segment bytes")
    );
    let head = store.head("streams/a/720p/00001.m4s").await.expect("head").expect("exists");
    assert_eq!(head.etag, meta.etag);
    assert!(store.head("streams/a/720p/00002.m4s").await.expect("head").is_none());
    assert!(matches!(store.get("streams/a/nope").await, Err(StorageError::NotFound(_))));

    let replaced =
        store.put("streams/a/720p/00001.m4s", Bytes::from_static(b"new bytes, longer")).await.expect("put");
    assert_ne!(replaced.etag, meta.etag, "new content, new etag");
}

#[tokio::test]
async fn ranges_are_exact_and_bounded() {
    let (_dir, store) = store();
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    store.put("k", Bytes::from(data.clone())).await.expect("put");
    assert_eq!(store.get_range("k", 100, 356).await.expect("range"), &data[100..356]);
    assert_eq!(store.get_range("k", 9_999, 10_000).await.expect("last byte"), &data[9_999..]);
    assert!(matches!(
        store.get_range("k", 9_000, 10_001).await,
        Err(StorageError::BadRange { size: 10_000, .. })
    ));
}

#[tokio::test]
async fn large_files_are_stored_from_disk() {
    let (dir, store) = store();
    let source = dir.path().join("upload.bin");
    let data: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &data).expect("write");
    let meta = store.put_file("sources/a/original", &source).await.expect("put_file");
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(store.get("sources/a/original").await.expect("get"), data);
}

#[tokio::test]
async fn listing_and_deleting_by_prefix() {
    let (_dir, store) = store();
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
    assert!(store.list("nothing/").await.expect("list").is_empty());
}

#[tokio::test]
async fn keys_that_escape_the_store_are_refused() {
    let (dir, store) = store();
    for key in ["../outside", "/etc/passwd", "a/../../b", ""] {
        let error = store.put(key, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey { .. }), "{key:?}: {error}");
    }
    assert!(!dir.path().join("outside").exists());
}
