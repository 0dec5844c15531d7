//! `cdlc serve` with its objects in a bucket of a real S3 server
//! (SeaweedFS, started on loopback ports; `make test` installs `weed`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cdlc_storage::{ObjectStore, S3Store};
use cdlc_testkit::seaweed::{put_presigned_part, SeaweedServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

use crate::server::{clip, objects_named_by_asset, Server, TOKEN};
use crate::support::{beacon_batch, decode_all, utc_today, Clip};

/// `cdlc serve` on `bucket` of the shared SeaweedFS.
fn serve_on_bucket(data: &Path, bucket: &str) -> Server {
    let objects = SeaweedServer::shared().url(bucket);
    Server::start(
        data,
        &[
            ("CDLC_OBJECTS", objects.as_str()),
            ("CDLC_S3_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("CDLC_S3_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ],
    )
}

/// Reads the bucket through the S3 API, as an operator would.
pub(crate) struct Bucket {
    runtime: tokio::runtime::Runtime,
    store: S3Store,
}

impl Bucket {
    pub(crate) fn open(name: &str) -> Bucket {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store = runtime.block_on(SeaweedServer::shared().store(name)).expect("connect to the bucket");
        Bucket { runtime, store }
    }

    pub(crate) fn keys(&self, prefix: &str) -> BTreeSet<String> {
        let listed = self.runtime.block_on(self.store.list(prefix)).expect("list the bucket");
        listed.into_iter().map(|object| object.key).collect()
    }

    fn size(&self, key: &str) -> Option<u64> {
        self.runtime.block_on(self.store.head(key)).expect("head").map(|meta| meta.size)
    }
}

/// The playback checks every upload path shares: the stream decodes over
/// HTTP with no error, and the bucket holds exactly the source and the
/// objects the manifests name.
fn assert_published(server: &Server, bucket: &Bucket, id: &str, source_size: u64) {
    let ready = server.wait_for(id, &["ready", "errored"], Duration::from_secs(180));
    assert_eq!(ready["status"], "ready", "{ready}");
    let hls = ready["playback"]["hls"].as_str().expect("hls URL");
    decode_all(Path::new(&server.url(hls)));
    decode_all(Path::new(&server.url(&format!("/streams/{id}/manifest.mpd"))));

    let prefix = format!("streams/{id}/");
    let stored: BTreeSet<String> =
        bucket.keys(&prefix).into_iter().map(|key| key[prefix.len()..].to_owned()).collect();
    let named = objects_named_by_asset(&ready, |name| {
        let (status, body) = server.get(&format!("/streams/{id}/{name}"));
        assert_eq!(status, 200, "{name}: {body}");
        body
    });
    assert_eq!(stored, named, "the bucket holds exactly the objects the manifests and the asset name");
    let source = format!("sources/{id}/original");
    // The source, and the package the server rewrites manifests from (captions).
    let package = format!("sources/{id}/package.json");
    assert_eq!(bucket.keys(&format!("sources/{id}/")), BTreeSet::from([source.clone(), package]));
    assert_eq!(bucket.size(&source), Some(source_size), "the source is stored whole");
    assert!(!server.data.join("objects").exists(), "nothing is written to the local disk store");
    let spool: Vec<_> = std::fs::read_dir(server.data.join("spool")).expect("spool").collect();
    assert!(spool.is_empty(), "downloads and spooled uploads are removed: {spool:?}");
}

#[test]
fn an_upload_is_transcoded_into_the_bucket_and_deleted_from_it() {
    let (dir, src) = clip(3);
    let bucket = Bucket::open("e2e-upload");
    let server = serve_on_bucket(&dir.path().join("data"), "e2e-upload");
    let (status, asset) = server.upload(&src, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    let id = asset["id"].as_str().expect("id").to_owned();
    assert_published(&server, &bucket, &id, std::fs::metadata(&src).expect("clip").len());

    let (status, body) = server.curl(
        &["-X", "DELETE", "-H", &format!("Authorization: Bearer {TOKEN}")],
        &format!("/api/v1/assets/{id}"),
    );
    assert_eq!(status, 204, "{body}");
    assert!(bucket.keys("").iter().all(|key| !key.contains(&id)), "every object of the asset is gone");
}

fn post_json(server: &Server, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let auth = format!("Authorization: Bearer {TOKEN}");
    let body = body.to_string();
    let args = ["-X", "POST", "-H", &auth, "-H", "Content-Type: application/json", "--data-binary", &body];
    let (status, text) = server.curl(&args, path);
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

#[test]
fn content_teams_upload_straight_to_the_bucket() {
    // Noise at a fixed high bitrate: about 7 MB, so two 5 MiB parts.
    let (dir, src) = Clip::video("testsrc2=s=640x360:r=30:d=3,noise=alls=30:allf=t")
        .input("sine=d=3")
        .h264()
        .args(&["-b:v", "20M", "-maxrate", "20M", "-bufsize", "20M"])
        .aac()
        .write("big.mp4");
    let bytes = std::fs::read(&src).expect("clip");
    let data = dir.path().join("data");
    // part_size_mib=5: the smallest S3 allows, so this clip needs two parts.
    let objects = format!("{}&part_size_mib=5", SeaweedServer::shared().url("e2e-direct"));
    let server = Server::start(
        &data,
        &[
            ("CDLC_OBJECTS", objects.as_str()),
            ("CDLC_S3_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("CDLC_S3_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ],
    );
    let bucket = Bucket::open("e2e-direct");

    let request = serde_json::json!({ "filename": "big.mp4", "size": bytes.len(), "title": "direct" });
    let (status, upload) = post_json(&server, "/api/v1/direct-uploads", &request);
    assert_eq!(status, 201, "{upload}");
    let id = upload["id"].as_str().expect("id").to_owned();
    let part_size = upload["part_size"].as_u64().expect("part_size") as usize;
    let parts = upload["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), bytes.len().div_ceil(part_size), "one URL per part: {upload}");
    assert!(parts.len() >= 2, "the clip spans several parts ({} bytes)", bytes.len());
    assert_eq!(server.json(&format!("/api/v1/assets/{id}"))["status"], "uploading");

    let mut completed = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let chunk = &bytes[index * part_size..((index + 1) * part_size).min(bytes.len())];
        let file = dir.path().join(format!("part-{index}"));
        std::fs::write(&file, chunk).expect("part");
        let etag = put_presigned_part(part["url"].as_str().expect("url"), &file);
        completed.push(serde_json::json!({ "number": part["number"], "etag": etag }));
    }
    let (status, body) = post_json(
        &server,
        &format!("/api/v1/direct-uploads/{id}/complete"),
        &serde_json::json!({ "parts": [] }),
    );
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    let complete = serde_json::json!({ "parts": completed });
    let (status, asset) = post_json(&server, &format!("/api/v1/direct-uploads/{id}/complete"), &complete);
    assert_eq!(status, 200, "{asset}");
    assert_eq!(asset["status"], "processing");
    assert_published(&server, &bucket, &id, bytes.len() as u64);
    let (status, _) = post_json(&server, &format!("/api/v1/direct-uploads/{id}/complete"), &complete);
    assert_eq!(status, 404, "a completed upload cannot be completed again");

    // An abandoned upload leaves neither asset nor object behind, not even
    // the content key of an encrypted one.
    let abandoned = serde_json::json!({ "filename": "x.mp4", "size": 10, "encrypted": true });
    let (status, abandoned) = post_json(&server, "/api/v1/direct-uploads", &abandoned);
    assert_eq!(status, 201, "{abandoned}");
    let abandoned_id = abandoned["id"].as_str().expect("id");
    assert_eq!(server.json(&format!("/api/v1/assets/{abandoned_id}"))["encrypted"], true);
    assert_eq!(
        bucket.keys(&format!("sources/{abandoned_id}/content-key.json")).len(),
        1,
        "the key is in the bucket"
    );
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) =
        server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/direct-uploads/{abandoned_id}"));
    assert_eq!(status, 204, "{body}");
    assert_eq!(server.get(&format!("/api/v1/assets/{abandoned_id}")).0, 404);
    assert!(bucket.keys(&format!("sources/{abandoned_id}/")).is_empty());

    // Bounded: larger than max_upload_bytes, or not JSON.
    let (status, body) = post_json(
        &server,
        "/api/v1/direct-uploads",
        &serde_json::json!({ "filename": "x", "size": 1u64 << 50 }),
    );
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
    let (status, body) = post_json(&server, "/api/v1/direct-uploads", &serde_json::json!({ "size": 5 }));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
}

#[test]
fn direct_uploads_need_a_bucket() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Server::start(&dir.path().join("data"), &[]);
    let request = serde_json::json!({ "filename": "film.mp4", "size": 1000 });
    let (status, body) = post_json(&server, "/api/v1/direct-uploads", &request);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("local disk"), "{body}");
}

#[test]
fn a_wrong_secret_stops_the_server_at_start_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let objects = SeaweedServer::shared().url("e2e-secret");
    let output = Command::new(crate::support::cdlc_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("CDLC_OBJECTS", &objects)
        .env("CDLC_S3_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("CDLC_S3_SECRET_ACCESS_KEY", "wrong-secret")
        .output()
        .expect("run cdlc serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused to start: {stderr}");
    assert!(stderr.contains("S3 object store") && stderr.contains("secret"), "says what to check: {stderr}");
}

#[test]
fn the_analytics_lake_lives_in_the_bucket_and_admins_query_it_there() {
    let dir = tempfile::tempdir().expect("tmp");
    let bucket = Bucket::open("e2e-lake");
    let server = serve_on_bucket(&dir.path().join("data"), "e2e-lake");
    let batch = beacon_batch("lakeview0001", "lakeasset");
    let (status, body) = post_json(&server, "/api/v1/analytics/beacons", &batch);
    assert_eq!(status, 202, "{body}");
    let today = utc_today();
    let (status, report) = post_json(&server, "/api/v1/analytics/runs", &serde_json::json!({ "day": today }));
    assert_eq!((status, report["validated"].as_u64()), (200, Some(3)), "{report}");
    let validated = format!("plugins/analytics/lake/validated/day={today}/events.parquet");
    assert!(bucket.keys("plugins/analytics/lake/").contains(&validated), "the day's lake is in the bucket");

    // The SQL reads the day's Parquet from the bucket by ranges.
    let sql = "SELECT COUNT(*) AS n, SUM(value_ms) AS ms FROM events WHERE view_id = 'lakeview0001'";
    let (status, rows) = post_json(
        &server,
        "/api/v1/analytics/sql",
        &serde_json::json!({ "sql": sql, "from": today, "to": today }),
    );
    assert_eq!(status, 200, "{rows}");
    assert_eq!(rows["rows"], serde_json::json!([[3, 2450]]), "{rows}");
    assert!(!server.data.join("objects").exists(), "nothing is written to the local disk store");
}
