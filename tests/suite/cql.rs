//! `cdlc serve` with its metadata on a real CQL node (Apache Cassandra 5.0,
//! started once for this test binary by `cdlc_testkit::cassandra`):
//! the life of an asset, and a node that stops and comes back while serve runs.

use std::path::Path;
use std::time::{Duration, Instant};

use cdlc_testkit::cassandra::CassandraNode;

use crate::server::{Server, TOKEN};
use crate::support::{decode_all, Clip};

/// The `metadata` URL of a fresh keyspace on `node`.
pub(crate) fn fresh_keyspace(node: &CassandraNode) -> String {
    node.url(&format!("cdlc_e2e_{}", unique_suffix()))
}

/// Hex of the time in ns and the process id: no two test keyspaces share it.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

fn short_clip() -> (tempfile::TempDir, std::path::PathBuf) {
    Clip::video("testsrc2=s=320x240:r=30:d=2").input("sine=d=2").h264().aac().write("short.mp4")
}

fn upload(server: &Server, clip: &Path) -> String {
    let (status, asset) = server.upload(clip, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    asset["id"].as_str().expect("id").to_owned()
}

#[test]
fn an_asset_on_cql_metadata_uploads_plays_and_deletes() {
    let node = CassandraNode::shared();
    let dir = tempfile::tempdir().expect("tmp");
    let metadata = fresh_keyspace(node);
    let server = Server::start(&dir.path().join("serve"), &[("CDLC_METADATA", &metadata)]);
    let (_clip_dir, clip) = short_clip();

    let id = upload(&server, &clip);
    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "{ready}");
    decode_all(Path::new(&server.url(&format!("/streams/{id}/master.m3u8"))));
    let listed = server.json("/api/v1/assets?limit=10");
    let ids: Vec<&str> =
        listed["items"].as_array().expect("items").iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, vec![id.as_str()], "{listed}");

    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) = server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/assets/{id}"));
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.get(&format!("/api/v1/assets/{id}"));
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.get(&format!("/streams/{id}/master.m3u8"));
    assert_eq!(status, 404, "the deleted asset's stream is gone");
}

/// GET `path`; the status, the body and how long the answer took.
fn timed_get(server: &Server, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let (status, body) = server.get(path);
    (status, body, started.elapsed())
}

#[test]
fn a_cql_node_that_stops_gets_503_and_serve_recovers_when_it_is_back() {
    let mut node = CassandraNode::start();
    let dir = tempfile::tempdir().expect("tmp");
    let metadata = fresh_keyspace(&node);
    let server = Server::start(&dir.path().join("serve"), &[("CDLC_METADATA", &metadata)]);
    let (_clip_dir, clip) = short_clip();
    let id = upload(&server, &clip);
    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "{ready}");

    node.stop();
    for path in [format!("/api/v1/assets/{id}"), "/api/v1/assets".into(), "/readyz".into()] {
        let (status, body, took) = timed_get(&server, &path);
        assert_eq!(status, 503, "GET {path} with the node down: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["error"]["code"], "unavailable", "{body}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("metadata database is not answering"), "{body}");
        assert!(took < Duration::from_secs(15), "GET {path} took {took:?}: an answer, not a hang");
    }
    let (status, body) = server.upload(&clip, Some(TOKEN));
    assert_eq!(status, 503, "an upload with the node down: {body}");

    node.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = server.get(&format!("/api/v1/assets/{id}"));
        if status == 200 {
            let asset: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(asset["status"], "ready", "the asset survived the node's restart: {asset}");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "serve did not recover within 60 s of the node's restart: {body}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let again = upload(&server, &clip);
    let ready = server.wait_for(&again, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "a new upload after the restart: {ready}");
    decode_all(Path::new(&server.url(&format!("/streams/{again}/master.m3u8"))));
}
