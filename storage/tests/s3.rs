//! What only the S3 backend does: multipart uploads, presigned part URLs
//! for browsers, and clear errors for wrong settings and dead servers,
//! all against a real SeaweedFS server (`weed`; `make test` installs it).

use std::process::Command;
use std::time::Duration;

use cdlc_storage::{Bytes, ObjectStore, S3Config, S3Store, StorageError};
use cdlc_testkit::seaweed::{put_presigned_part, SeaweedServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

/// Longer than any bounded failure may take; hitting it means a hang.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn patterned(len: usize, seed: u32) -> Vec<u8> {
    // Not periodic at any power of two, so a misplaced part shows.
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

#[tokio::test]
async fn large_files_go_up_in_parts_and_come_back_exact() {
    let store = SeaweedServer::shared().store("multipart").await.expect("connect");
    let dir = tempfile::tempdir().expect("tmp");
    let source = dir.path().join("film.mov");
    let data = patterned(40 * 1024 * 1024 + 12_345, 7);
    std::fs::write(&source, &data).expect("write");

    let meta = store.put_file("sources/film/original", &source).await.expect("put_file");
    assert_eq!(meta.size, data.len() as u64);
    // S3 marks an object assembled from N parts with an ETag ending in -N.
    let head = store.head("sources/film/original").await.expect("head").expect("stored");
    assert!(head.etag.trim_matches('"').ends_with("-3"), "three 16 MiB parts, etag {}", head.etag);
    assert_eq!(head.size, data.len() as u64);

    let back = dir.path().join("back.mov");
    assert_eq!(store.download_to("sources/film/original", &back).await.expect("download"), data.len() as u64);
    assert!(std::fs::read(&back).expect("read") == data, "downloaded bytes differ from the source");

    let part = 16 * 1024 * 1024;
    for (start, end) in [(part - 100, part + 100), (0, 1), (data.len() - 10, data.len())] {
        let range = store.get_range("sources/film/original", start as u64, end as u64).await.expect("range");
        assert!(range == data[start..end], "bytes {start}..{end} differ");
    }
    assert!(matches!(
        store.get_range("sources/film/original", 0, data.len() as u64 + 1).await,
        Err(StorageError::BadRange { .. })
    ));
    assert!(
        store.list("").await.expect("list").iter().all(|o| o.key == "sources/film/original"),
        "no part objects are left visible"
    );
}

#[tokio::test]
async fn browsers_upload_parts_to_presigned_urls() {
    let store = SeaweedServer::shared().store("presigned").await.expect("connect");
    let dir = tempfile::tempdir().expect("tmp");
    let first = patterned(5 * 1024 * 1024, 1);
    let second = patterned(777_777, 2);
    std::fs::write(dir.path().join("1"), &first).expect("write");
    std::fs::write(dir.path().join("2"), &second).expect("write");

    let key = "sources/direct/original";
    let upload = store.create_multipart(key).await.expect("create");
    let mut parts = Vec::new();
    // The second part goes up first: browsers send parts in any order.
    for number in [2, 1] {
        let url = store.presign_part(key, &upload, number, Duration::from_secs(600)).await.expect("presign");
        assert!(url.contains("X-Amz-Signature="), "a signed URL: {url}");
        assert!(!url.contains(SECRET_ACCESS_KEY), "the secret never leaves the server");
        parts.push((number, put_presigned_part(&url, &dir.path().join(number.to_string()))));
    }
    assert!(store.head(key).await.expect("head").is_none(), "nothing is visible before completion");
    let meta = store.complete_multipart(key, &upload, &parts).await.expect("complete");
    assert_eq!(meta.size, (first.len() + second.len()) as u64);
    let stored = store.get(key).await.expect("get");
    assert!(stored[..first.len()] == first[..] && stored[first.len()..] == second[..], "parts in order");

    // A tampered URL is refused by the server, not accepted.
    let url = store.presign_part("sources/other/original", &upload, 1, Duration::from_secs(600)).await;
    let tampered = url.expect("presign").replace("sources/other", "sources/evil");
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "x", &tampered])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&status.stdout), "403", "a URL signed for another key is refused");

    // An aborted upload leaves nothing behind.
    let aborted = store.create_multipart("sources/gone/original").await.expect("create");
    let url = store.presign_part("sources/gone/original", &aborted, 1, Duration::from_secs(600)).await;
    put_presigned_part(&url.expect("presign"), &dir.path().join("2"));
    store.abort_multipart("sources/gone/original", &aborted).await.expect("abort");
    let completed = store.complete_multipart("sources/gone/original", &aborted, &[(1, "x".into())]).await;
    assert!(completed.is_err(), "an aborted upload cannot be completed");
    assert!(store.head("sources/gone/original").await.expect("head").is_none());
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_a_clear_error() {
    let server = SeaweedServer::shared();
    let config = S3Config::from_url(&server.url("credentials"))
        .expect("url")
        .with_credentials(ACCESS_KEY_ID.into(), "not-the-secret".into());
    let error = tokio::time::timeout(HANG_GUARD, S3Store::connect(config))
        .await
        .expect("a refusal, not a hang")
        .expect_err("the wrong secret is refused");
    assert!(!error.is_retryable(), "retrying cannot fix credentials: {error}");
    let message = error.to_string();
    assert!(message.contains("denied") && message.contains("secret"), "says what to check: {message}");

    let config = S3Config::from_url(&server.url("credentials"))
        .expect("url")
        .with_credentials("nobody".into(), SECRET_ACCESS_KEY.into());
    let error = S3Store::connect(config).await.expect_err("an unknown key id is refused");
    assert!(!error.is_retryable() && error.to_string().contains("access key id"), "{error}");
}

#[tokio::test]
async fn a_missing_bucket_says_so() {
    let server = SeaweedServer::shared();
    let mut config = server.config("never-created");
    config.create_bucket = false;
    let error = S3Store::connect(config).await.expect_err("no such bucket");
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(error.to_string().contains("create_bucket=true"), "{error}");
}

#[tokio::test]
async fn a_stopped_server_gives_a_retryable_error() {
    let server = SeaweedServer::start();
    let store = server.store("stopping").await.expect("connect");
    store.put("k", Bytes::from_static(b"before")).await.expect("put while running");
    drop(server);

    let started = std::time::Instant::now();
    let error = tokio::time::timeout(HANG_GUARD, store.get("k"))
        .await
        .expect("an error, not a hang")
        .expect_err("the server is gone");
    assert!(error.is_retryable(), "a later try can succeed: {error}");
    assert!(error.to_string().contains("check the endpoint"), "{error}");
    eprintln!("the stopped server was reported after {:?}", started.elapsed());
}
