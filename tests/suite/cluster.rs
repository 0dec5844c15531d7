//! A farm: one `cdlc serve` (no workers of its own) and two `cdlc worker`
//! processes on a real NATS JetStream server and shared object storage
//! (a real S3 server, SeaweedFS, for the main test; a shared folder for the others).
//! One worker is killed with SIGKILL in the middle of a job; its job goes
//! to the other worker and every asset still ends ready, playable, with
//! exactly one set of objects. A plugin's job (a day of the analytics lake)
//! runs on a worker too, and serve records how it ended.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdlc_testkit::cassandra::CassandraNode;
use cdlc_testkit::nats::NatsServer;
use cdlc_testkit::seaweed::{SeaweedServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

use crate::s3::Bucket;
use crate::server::{objects_named_by_asset, Server, TOKEN};
use crate::support::{beacon_batch, cdlc_bin, decode_all, files_under, utc_today, Clip};

/// A `cdlc worker` process whose log goes to a file; killed on drop.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, queue: &str, objects: &str, env: &[(&str, &str)]) -> Worker {
        std::fs::create_dir_all(dir).expect("worker dir");
        let log = dir.join("worker.log");
        let child = Command::new(cdlc_bin())
            .args(["worker", "--queue", queue, "--objects", objects, "--workers", "1", "--data-dir"])
            .arg(dir)
            // A slower preset so the long job is still running when it is killed.
            .env("CDLC_X264_PRESET", "slow")
            .env("CDLC_LOG", "cdlc=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start cdlc worker");
        Worker { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether this worker started attempt `attempt` of the asset's job.
    fn started(&self, asset_id: &str, attempt: u32) -> bool {
        self.log().lines().any(|l| {
            l.contains(asset_id) && l.contains("job started") && l.contains(&format!("attempt={attempt}"))
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Uploads a 20 s clip and returns its id once its transcode has begun.
fn upload_long_clip_and_wait_until_running(server: &Server) -> String {
    let (_clip_dir, clip) =
        Clip::video("testsrc2=s=640x360:r=30:d=20").input("sine=d=20").h264().aac().write("long.mp4");
    let (status, asset) = server.upload(&clip, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    let id = asset["id"].as_str().expect("id").to_owned();
    wait_until("the job is running", Duration::from_secs(120), || {
        let asset = server.json(&format!("/api/v1/assets/{id}"));
        assert_eq!(asset["status"], "processing", "the job ended before the test could stop it: {asset}");
        asset["progress"].as_f64().unwrap_or_default() > 1.0
    });
    id
}

/// What serve and the workers share: the queue and the object storage.
struct Shared {
    nats: NatsServer,
    /// Serve's `DATA_DIR/objects`, which the workers open as `objects`.
    objects_dir: PathBuf,
    objects: String,
}

impl Shared {
    fn start(dir: &Path) -> Shared {
        let nats = NatsServer::start(dir.join("nats"));
        let objects_dir = dir.join("serve/objects");
        std::fs::create_dir_all(&objects_dir).expect("objects dir");
        let objects = format!("file://{}", objects_dir.display());
        Shared { nats, objects_dir, objects }
    }
}

#[test]
fn a_worker_killed_mid_job_leaves_every_asset_ready_with_one_set_of_objects() {
    let dir = tempfile::tempdir().expect("tmp");
    let nats = NatsServer::start(dir.path().join("nats"));
    let bucket = "cdlc-cluster";
    let objects = SeaweedServer::shared().url(bucket);
    let s3 = [("CDLC_S3_ACCESS_KEY_ID", ACCESS_KEY_ID), ("CDLC_S3_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)];
    let mut serve_env = vec![("CDLC_QUEUE", nats.url()), ("CDLC_WORKERS", "0"), ("CDLC_OBJECTS", &objects)];
    serve_env.extend(s3);
    let server = Server::start(&dir.path().join("serve"), &serve_env);
    let mut workers = [
        Worker::start(&dir.path().join("w1"), nats.url(), &objects, &s3),
        Worker::start(&dir.path().join("w2"), nats.url(), &objects, &s3),
    ];

    let (_long_dir, long) =
        Clip::video("testsrc2=s=640x360:r=30:d=20").input("sine=d=20").h264().aac().write("long.mp4");
    let (_short_dir, short) =
        Clip::video("testsrc2=s=640x360:r=30:d=3").input("sine=d=3").h264().aac().write("short.mp4");
    let upload = |file: &Path| {
        let (status, asset) = server.upload(file, Some(TOKEN));
        assert_eq!(status, 201, "{asset}");
        asset["id"].as_str().expect("id").to_owned()
    };
    let long_id = upload(&long);
    let mut holder = None;
    wait_until("a worker takes the long job", Duration::from_secs(60), || {
        holder = workers.iter().position(|w| w.started(&long_id, 1));
        holder.is_some()
    });
    let holder = holder.expect("holder");
    let ids = [long_id.clone(), upload(&short), upload(&short)];

    // Kill the holder in the middle of the transcode.
    wait_until("the long job is between 1 and 90 %", Duration::from_secs(120), || {
        let asset = server.json(&format!("/api/v1/assets/{long_id}"));
        assert_eq!(asset["status"], "processing", "the long job ended before it could be killed: {asset}");
        let progress = asset["progress"].as_f64().unwrap_or_default();
        progress > 1.0 && progress < 90.0
    });
    workers[holder].kill();
    let survivor = &workers[1 - holder];

    for id in &ids {
        let asset = server.wait_for(id, &["ready", "errored"], Duration::from_secs(400));
        assert_eq!(asset["status"], "ready", "{asset}");
        assert_eq!(asset["progress"], 100.0, "{asset}");
        decode_all(Path::new(&server.url(&format!("/streams/{id}/master.m3u8"))));
        decode_all(Path::new(&server.url(&format!("/streams/{id}/manifest.mpd"))));
    }
    assert!(survivor.started(&long_id, 2), "the other worker ran the killed job again:\n{}", survivor.log());

    // Exactly the sources and the objects the final manifests name.
    let mut expected = BTreeSet::new();
    for id in &ids {
        expected.insert(format!("sources/{id}/original"));
        expected.insert(format!("sources/{id}/package.json"));
        let read = |name: &str| {
            let (status, body) = server.get(&format!("/streams/{id}/{name}"));
            assert_eq!(status, 200, "{name} of {id}");
            body
        };
        let asset = server.json(&format!("/api/v1/assets/{id}"));
        expected.extend(
            objects_named_by_asset(&asset, read).into_iter().map(|key| format!("streams/{id}/{key}")),
        );
    }
    // The plugins' objects (the analytics lake's landed server events) live
    // under plugins/; everything else in the bucket belongs to an asset.
    let bucket = Bucket::open(bucket);
    let mut assets_objects = bucket.keys("sources/");
    assets_objects.extend(bucket.keys("streams/"));
    assert_eq!(assets_objects, expected, "the bucket holds exactly one set of objects per asset");
    let strays: Vec<String> = bucket
        .keys("")
        .into_iter()
        .filter(|key| !key.starts_with("plugins/") && !assets_objects.contains(key))
        .collect();
    assert!(strays.is_empty(), "objects outside sources/, streams/ and plugins/: {strays:?}");
}

/// The farm with serve's metadata on a real CQL node: two workers share
/// three jobs; every asset ends ready and playable, with its record on the node.
#[test]
fn a_farm_on_cql_metadata_makes_every_asset_ready() {
    let node = CassandraNode::shared();
    let dir = tempfile::tempdir().expect("tmp");
    let Shared { nats, objects_dir: _, objects } = Shared::start(dir.path());
    let metadata = crate::cql::fresh_keyspace(node);
    let server = Server::start(
        &dir.path().join("serve"),
        &[("CDLC_QUEUE", nats.url()), ("CDLC_WORKERS", "0"), ("CDLC_METADATA", &metadata)],
    );
    let fast = [("CDLC_X264_PRESET", "veryfast")];
    let workers = [
        Worker::start(&dir.path().join("w1"), nats.url(), &objects, &fast),
        Worker::start(&dir.path().join("w2"), nats.url(), &objects, &fast),
    ];
    let (_clip_dir, clip) =
        Clip::video("testsrc2=s=320x240:r=30:d=3").input("sine=d=3").h264().aac().write("clip.mp4");
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let (status, asset) = server.upload(&clip, Some(TOKEN));
            assert_eq!(status, 201, "{asset}");
            asset["id"].as_str().expect("id").to_owned()
        })
        .collect();
    for id in &ids {
        let asset = server.wait_for(id, &["ready", "errored"], Duration::from_secs(180));
        assert_eq!(asset["status"], "ready", "{asset}");
        decode_all(Path::new(&server.url(&format!("/streams/{id}/master.m3u8"))));
        assert!(
            workers.iter().any(|w| w.started(id, 1)),
            "a worker of the farm ran {id}:\n{}\n{}",
            workers[0].log(),
            workers[1].log()
        );
    }
    let listed = server.json("/api/v1/assets?status=ready&limit=10");
    let mut listed: Vec<String> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected, "the CQL listing of ready assets holds the three");
}

#[test]
fn failures_in_a_farm_error_the_asset_with_the_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let Shared { nats, objects_dir, objects } = Shared::start(dir.path());
    let data = dir.path().join("serve");
    let one_attempt = [("CDLC_MAX_ATTEMPTS", "1")];
    let server = Server::start(
        &data,
        &[("CDLC_QUEUE", nats.url()), ("CDLC_WORKERS", "0"), ("CDLC_MAX_ATTEMPTS", "1")],
    );
    let mut first = Worker::start(&dir.path().join("w1"), nats.url(), &objects, &one_attempt);

    // A source that is not a video: the worker reports why, serve errors the asset.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a movie\n".repeat(100)).expect("write");
    let (status, asset) = server.upload(&text, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    let bad_id = asset["id"].as_str().expect("id").to_owned();
    let errored = server.wait_for(&bad_id, &["errored", "ready"], Duration::from_secs(60));
    assert!(errored["error"].as_str().unwrap_or_default().contains("not a video"), "{errored}");

    // The only attempt's worker dies: the queue gives up and serve says so.
    let id = upload_long_clip_and_wait_until_running(&server);
    first.kill();
    let _second = Worker::start(&dir.path().join("w2"), nats.url(), &objects, &one_attempt);
    let errored = server.wait_for(&id, &["errored", "ready"], Duration::from_secs(120));
    assert_eq!(errored["status"], "errored", "{errored}");
    assert!(
        errored["error"].as_str().unwrap_or_default().contains("no worker finished the job in 1 attempt "),
        "{errored}"
    );
    assert!(errored["playback"].is_null(), "{errored}");
    let leftovers: Vec<String> =
        files_under(&objects_dir).into_iter().filter(|key| key.starts_with("streams/")).collect();
    assert!(leftovers.is_empty(), "nothing half-written stays behind: {leftovers:?}");
}

#[test]
fn a_worker_stopped_with_sigterm_hands_its_job_to_another_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let Shared { nats, objects_dir: _, objects } = Shared::start(dir.path());
    let server =
        Server::start(&dir.path().join("serve"), &[("CDLC_QUEUE", nats.url()), ("CDLC_WORKERS", "0")]);
    let mut first = Worker::start(&dir.path().join("w1"), nats.url(), &objects, &[]);
    let id = upload_long_clip_and_wait_until_running(&server);
    let second = Worker::start(&dir.path().join("w2"), nats.url(), &objects, &[]);
    let terminate =
        Command::new("kill").args(["-TERM", &first.child.id().to_string()]).status().expect("kill");
    assert!(terminate.success());
    let stopped = Instant::now();
    wait_until("the stopped worker exits", Duration::from_secs(15), || {
        first.child.try_wait().expect("wait").is_some()
    });
    // Well before the 30 s ack wait a crash would need.
    wait_until("the other worker takes the job", Duration::from_secs(15), || second.started(&id, 2));
    assert!(stopped.elapsed() < Duration::from_secs(15));
    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(300));
    assert_eq!(ready["status"], "ready", "{ready}");
    decode_all(Path::new(&server.url(&format!("/streams/{id}/master.m3u8"))));
    assert!(first.log().contains("handing the job back"), "{}", first.log());
}

#[test]
fn the_farm_runs_the_analytics_day_and_serve_records_how_it_ended() {
    let dir = tempfile::tempdir().expect("tmp");
    let Shared { nats, objects_dir, objects } = Shared::start(dir.path());
    // serve runs no jobs itself: only the worker can run the day.
    let server =
        Server::start(&dir.path().join("serve"), &[("CDLC_QUEUE", nats.url()), ("CDLC_WORKERS", "0")]);
    let worker = Worker::start(&dir.path().join("w1"), nats.url(), &objects, &[]);

    let batch = beacon_batch("farmview0001", "farmasset");
    let (status, body) = server.curl(
        &["-X", "POST", "-H", "content-type: application/json", "--data", &batch.to_string()],
        "/api/v1/analytics/beacons",
    );
    assert_eq!(status, 202, "{body}");

    let today = utc_today();
    let auth = format!("authorization: Bearer {TOKEN}");
    let (status, body) = server.curl(
        &[
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "content-type: application/json",
            "--data",
            &format!("{{\"day\":\"{today}\"}}"),
        ],
        "/api/v1/analytics/runs",
    );
    assert_eq!(status, 200, "the worker ran the day and serve answered its report: {body}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (report["day"].as_str(), report["validated"].as_u64()),
        (Some(today.as_str()), Some(3)),
        "{report}"
    );

    // The worker ran it (serve has no workers), and serve recorded how it ended.
    let log = worker.log();
    for step in ["refine", "validate", "produce"] {
        let subject = format!("analytics/{step}/{today}:");
        assert!(
            log.lines().any(|l| l.contains("plugin job started") && l.contains(&subject)),
            "{step}: {log}"
        );
    }
    let (status, runs) = server.curl(&["-H", &auth], "/api/v1/analytics/runs");
    assert_eq!(status, 200, "{runs}");
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("JSON");
    let run = &runs[0];
    assert_eq!(
        (run["day"].as_str(), run["trigger"].as_str()),
        (Some(today.as_str()), Some("admin")),
        "{run}"
    );
    assert!(run["finished_at"].is_i64() && run["job_id"].is_string() && run["failure"].is_null(), "{run}");
    assert_eq!(run["report"]["validated"], 3, "{run}");
    let production = files_under(&objects_dir)
        .into_iter()
        .filter(|key| key.starts_with("plugins/analytics/lake/production/views_by_asset/"))
        .count();
    assert_eq!(production, 1, "the worker wrote the day's production file to the shared objects");
}
