//! `cdlc serve` on a loopback port, driven over HTTP with curl.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{cdlc_bin, decode_all, files_under, Clip};

pub(crate) const TOKEN: &str = "integration-test-token-0123456789";

/// A running `cdlc serve` with its own data directory; killed on drop.
pub(crate) struct Server {
    child: Child,
    port: u16,
    pub(crate) data: PathBuf,
}

pub(crate) use cdlc_testkit::free_port;

impl Server {
    pub(crate) fn start(data: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_with_config(data, None, env)
    }

    /// `start`, reading the TOML file `config` too.
    pub(crate) fn start_with_config(data: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut command = Command::new(cdlc_bin());
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(data);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command.env("CDLC_ADMIN_TOKEN", TOKEN).stdout(Stdio::null()).stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start cdlc serve");
        let server = Server { child, port, data: data.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.get("/healthz").0 != 200 {
            assert!(Instant::now() < deadline, "cdlc serve did not answer /healthz");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Runs curl; returns the status and the body.
    pub(crate) fn curl(&self, args: &[&str], path: &str) -> (u16, String) {
        let output = Command::new("curl")
            .args(["-s", "-S", "--max-time", "60", "-w", "\n%{http_code}"])
            .args(args)
            .arg(self.url(path))
            .output()
            .expect("curl is installed (make test installs it)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        self.curl(&[], path)
    }

    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    pub(crate) fn upload(&self, file: &Path, token: Option<&str>) -> (u16, serde_json::Value) {
        let form = format!("file=@{}", file.display());
        let auth = format!("Authorization: Bearer {}", token.unwrap_or(""));
        let mut args = vec!["-X", "POST", "-F", &form, "-F", "title=test clip"];
        if token.is_some() {
            args.extend(["-H", &auth]);
        }
        let (status, body) = self.curl(&args, "/api/v1/assets");
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
    }

    /// Polls the asset until its status is one of `wanted`.
    pub(crate) fn wait_for(&self, id: &str, wanted: &[&str], timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let asset = self.json(&format!("/api/v1/assets/{id}"));
            if wanted.contains(&asset["status"].as_str().unwrap_or_default()) {
                return asset;
            }
            assert!(Instant::now() < deadline, "asset never reached {wanted:?}: {asset}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The process id of `cdlc serve`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn clip(seconds: u32) -> (tempfile::TempDir, PathBuf) {
    Clip::video(&format!("testsrc2=s=640x360:r=30:d={seconds}"))
        .input(&format!("sine=d={seconds}"))
        .h264()
        .aac()
        .write("clip.mp4")
}

/// Objects of an asset's stream, relative to its folder.
fn stream_objects(server: &Server, id: &str) -> BTreeSet<String> {
    files_under(&server.data.join("objects/streams").join(id)).into_iter().collect()
}

/// Every object the final manifests name, plus the manifests themselves and
/// the stills the asset names (the poster, the storyboard's index and the
/// sprite that index points at).
fn referenced_objects(server: &Server, id: &str) -> BTreeSet<String> {
    let root = server.data.join("objects/streams").join(id);
    let asset = server.json(&format!("/api/v1/assets/{id}"));
    objects_named_by_asset(&asset, |name| std::fs::read_to_string(root.join(name)).expect("playlist"))
}

/// The stream objects (relative names) the HLS manifests reach from the
/// master playlist, plus both manifests and the stills `asset` (its JSON)
/// names; `read` returns a playlist's text.
pub(crate) fn objects_named_by_asset(
    asset: &serde_json::Value,
    read: impl Fn(&str) -> String,
) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["master.m3u8", "manifest.mpd"].map(String::from).into();
    let prefix = format!("/streams/{}/", asset["id"].as_str().expect("asset id"));
    for field in ["poster", "storyboard"] {
        if let Some(name) = asset[field].as_str().and_then(|url| url.strip_prefix(&prefix)) {
            names.insert(name.to_owned());
        }
    }
    if asset["storyboard"].is_string() {
        let vtt = read("storyboard.vtt");
        names.extend(vtt.lines().filter_map(|l| l.split_once("#xywh=")).map(|(image, _)| image.to_owned()));
    }
    let master = read("master.m3u8");
    let playlists = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .chain(master.split("URI=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_owned));
    for playlist in playlists {
        let folder = playlist.rsplit_once('/').map(|(f, _)| f.to_owned()).unwrap_or_default();
        let text = read(&playlist);
        names.insert(playlist.clone());
        names.insert(format!("{folder}/init.mp4"));
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            names.insert(format!("{folder}/{line}"));
        }
    }
    names
}

#[test]
fn an_upload_is_transcoded_published_and_plays_over_http() {
    let (dir, src) = clip(4);
    let server = Server::start(&dir.path().join("data"), &[]);
    let (status, asset) = server.upload(&src, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    assert_eq!(asset["status"], "processing");
    let id = asset["id"].as_str().expect("id").to_owned();

    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["progress"], 100.0);
    assert_eq!(ready["renditions"].as_array().map(Vec::len), Some(2), "360p and audio: {ready}");
    let hls = ready["playback"]["hls"].as_str().expect("hls URL");
    let dash = ready["playback"]["dash"].as_str().expect("dash URL");

    decode_all(Path::new(&server.url(hls)));
    decode_all(Path::new(&server.url(dash)));

    let segment = format!("/streams/{id}/360p/00001.m4s");
    let (status, headers) = server.curl(&["-D", "-", "-o", "/dev/null"], &segment);
    assert_eq!(status, 200);
    let headers = headers.to_lowercase();
    assert!(headers.contains("content-type: video/iso.segment"), "{headers}");
    assert!(headers.contains("immutable"), "{headers}");
    assert!(headers.contains("access-control-allow-origin: *"), "{headers}");
    let etag = headers.lines().find_map(|l| l.strip_prefix("etag: ")).expect("etag").trim().to_owned();
    let (status, _) = server.curl(&["-H", &format!("If-None-Match: {etag}")], &segment);
    assert_eq!(status, 304);
    let (status, body) = server.curl(&["-H", "Range: bytes=0-7"], &segment);
    let on_disk =
        std::fs::read(server.data.join(format!("objects/streams/{id}/360p/00001.m4s"))).expect("object");
    assert_eq!((status, body.as_bytes()), (206, &on_disk[..8]));
    let (status, _) = server.curl(&["-H", "Range: bytes=999999999-"], &segment);
    assert_eq!(status, 416);
    let (_, playlist_headers) =
        server.curl(&["-D", "-", "-o", "/dev/null"], &format!("/streams/{id}/master.m3u8"));
    assert!(playlist_headers.to_lowercase().contains("application/vnd.apple.mpegurl"));

    // The stills the asset names, served as what they are.
    assert_eq!(ready["poster"], format!("/streams/{id}/poster.jpg").as_str(), "{ready}");
    assert_eq!(ready["storyboard"], format!("/streams/{id}/storyboard.vtt").as_str(), "{ready}");
    let mut stills = Vec::new();
    for (path, content_type) in
        [("poster.jpg", "image/jpeg"), ("storyboard.jpg", "image/jpeg"), ("storyboard.vtt", "text/vtt")]
    {
        let saved = dir.path().join(path);
        let saved_arg = saved.to_str().expect("utf-8");
        let (status, headers) = server.curl(&["-D", "-", "-o", saved_arg], &format!("/streams/{id}/{path}"));
        assert_eq!(status, 200, "{path}");
        assert!(
            headers.to_lowercase().contains(&format!("content-type: {content_type}")),
            "{path}: {headers}"
        );
        stills.push(saved);
    }
    decode_all(&stills[0]);
    decode_all(&stills[1]);
    let vtt = std::fs::read_to_string(&stills[2]).expect("vtt");
    assert!(vtt.starts_with("WEBVTT") && vtt.contains("storyboard.jpg#xywh=0,0,160,90"), "{vtt}");

    assert_eq!(
        stream_objects(&server, &id),
        referenced_objects(&server, &id),
        "exactly the objects the manifests and the asset name"
    );
    let listed = server.json("/api/v1/assets?status=ready");
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0]["poster"], ready["poster"], "the library list shows the poster");
}

#[test]
fn bad_uploads_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = Server::start(&dir.path().join("data"), &[("CDLC_MAX_UPLOAD_BYTES", "300000")]);
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a movie\n".repeat(100)).expect("write");

    let (status, body) = server.upload(&text, None);
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("Bearer"), "{body}");

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let (status, body) = server.upload(&empty, Some(TOKEN));
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("empty"), "{body}");

    let big = dir.path().join("big.mp4");
    std::fs::write(&big, vec![7u8; 400_000]).expect("write");
    let (status, body) = server.upload(&big, Some(TOKEN));
    assert_eq!(status, 413, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("300000"), "{body}");

    let (status, asset) = server.upload(&text, Some(TOKEN));
    assert_eq!(status, 201);
    let id = asset["id"].as_str().expect("id");
    let errored = server.wait_for(id, &["errored", "ready"], Duration::from_secs(60));
    assert_eq!(errored["status"], "errored");
    assert!(errored["error"].as_str().unwrap_or_default().contains("not a video"), "{errored}");
    assert!(errored["playback"].is_null());

    // Truncated: the index says 6 s, the media stops halfway.
    let (_clip_dir, whole) = Clip::video("testsrc2=s=320x180:r=30:d=6")
        .h264()
        .args(&["-crf", "40", "-movflags", "+faststart"])
        .write("whole.mp4");
    let bytes = std::fs::read(&whole).expect("read");
    assert!(bytes.len() / 2 < 300_000, "under the upload limit of this test");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let (status, asset) = server.upload(&cut, Some(TOKEN));
    assert_eq!(status, 201);
    let cut_id = asset["id"].as_str().expect("id");
    let errored = server.wait_for(cut_id, &["errored", "ready"], Duration::from_secs(60));
    assert_eq!(errored["status"], "errored");
    assert!(errored["error"].as_str().unwrap_or_default().contains("truncated"), "{errored}");
    assert!(stream_objects(&server, cut_id).is_empty(), "nothing half-written stays behind");

    let (status, body) = server.get("/api/v1/assets?status=bogus");
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.get("/api/v1/assets/0123456789abcdef0123456789abcdef");
    assert_eq!(status, 404);
    let (status, _) = server.get("/streams/0123456789abcdef0123456789abcdef/master.m3u8");
    assert_eq!(status, 404);
}

#[test]
fn three_uploads_at_once_all_finish_and_delete_removes_everything() {
    let (dir, src) = clip(2);
    let server = Server::start(&dir.path().join("data"), &[("CDLC_WORKERS", "2")]);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let uploads: Vec<_> = (0..3).map(|_| scope.spawn(|| server.upload(&src, Some(TOKEN)))).collect();
        uploads
            .into_iter()
            .map(|u| {
                let (status, asset) = u.join().expect("upload thread");
                assert_eq!(status, 201, "{asset}");
                asset["id"].as_str().expect("id").to_owned()
            })
            .collect()
    });
    for id in &ids {
        let asset = server.wait_for(id, &["ready", "errored"], Duration::from_secs(180));
        assert_eq!(asset["status"], "ready", "{asset}");
    }
    let (status, _) = server.curl(&["-X", "DELETE"], &format!("/api/v1/assets/{}", ids[0]));
    assert_eq!(status, 401, "deleting needs the token");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, _) = server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/assets/{}", ids[0]));
    assert_eq!(status, 204);
    assert!(stream_objects(&server, &ids[0]).is_empty());
    assert!(!server.data.join("objects/sources").join(&ids[0]).exists());
    assert_eq!(server.get(&format!("/api/v1/assets/{}", ids[0])).0, 404);
    assert!(!stream_objects(&server, &ids[1]).is_empty(), "the others are untouched");
}

#[test]
fn a_server_killed_mid_transcode_finishes_the_job_after_restart() {
    let (dir, src) = clip(20);
    let data = dir.path().join("data");
    // A slow preset, so the kill lands while the job runs.
    let env = [("CDLC_X264_PRESET", "slow")];
    let mut server = Server::start(&data, &env);
    let (status, asset) = server.upload(&src, Some(TOKEN));
    assert_eq!(status, 201);
    let id = asset["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let asset = server.json(&format!("/api/v1/assets/{id}"));
        if asset["progress"].as_f64().unwrap_or(0.0) > 5.0 {
            assert_eq!(asset["status"], "processing", "killed mid-transcode, not after");
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {asset}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill(); // SIGKILL

    let server = Server::start(&data, &env);
    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(240));
    assert_eq!(ready["status"], "ready", "{ready}");
    decode_all(Path::new(&server.url(ready["playback"]["hls"].as_str().expect("hls"))));
    assert_eq!(
        stream_objects(&server, &id),
        referenced_objects(&server, &id),
        "no orphaned or missing objects"
    );
    assert!(files_under(&data.join("spool")).is_empty(), "no spooled upload left behind");
}

/// A tus upload as a client does it: POST, then PATCHes from HEAD's offset.
struct TusUpload<'a> {
    server: &'a Server,
    location: String,
}

impl<'a> TusUpload<'a> {
    fn create(server: &'a Server, length: usize) -> TusUpload<'a> {
        let auth = format!("Authorization: Bearer {TOKEN}");
        let (status, headers) = server.curl(
            &[
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                "-H",
                &auth,
                "-H",
                "Tus-Resumable: 1.0.0",
                "-H",
                &format!("Upload-Length: {length}"),
                "-H",
                "Upload-Metadata: filename Y2xpcC5tcDQ=",
            ],
            "/api/v1/uploads",
        );
        assert_eq!(status, 201, "{headers}");
        let location = headers
            .lines()
            .find_map(|l| l.to_lowercase().starts_with("location:").then(|| l[9..].trim().to_owned()))
            .expect("Location");
        TusUpload { server, location }
    }

    fn id(&self) -> &str {
        self.location.rsplit('/').next().expect("id")
    }

    fn offset(&self) -> u64 {
        // The offset is its uploader's (or an admin's) to know.
        let auth = format!("Authorization: Bearer {TOKEN}");
        let (status, headers) =
            self.server.curl(&["-I", "-H", "Tus-Resumable: 1.0.0", "-H", &auth], &self.location);
        assert_eq!(status, 200, "{headers}");
        headers
            .lines()
            .find_map(|l| l.to_lowercase().strip_prefix("upload-offset:").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse().ok())
            .expect("Upload-Offset")
    }

    fn patch(&self, data: &[u8], offset: u64) -> u16 {
        let chunk = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(chunk.path(), data).expect("write");
        let auth = format!("Authorization: Bearer {TOKEN}");
        let body = format!("@{}", chunk.path().display());
        let (status, _) = self.server.curl(
            &[
                "-X",
                "PATCH",
                "-H",
                &auth,
                "-H",
                "Tus-Resumable: 1.0.0",
                "-H",
                "Content-Type: application/offset+octet-stream",
                "-H",
                &format!("Upload-Offset: {offset}"),
                "--data-binary",
                &body,
            ],
            &self.location,
        );
        status
    }

    /// Sends PATCH headers announcing `data` but only `sent` bytes of it, then
    /// drops the connection, as a phone losing its network does.
    fn patch_and_drop(&self, data: &[u8], offset: u64, sent: usize) {
        use std::io::Write;
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", self.server.port)).expect("connect");
        let head = format!(
            "PATCH {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nTus-Resumable: 1.0.0\r\n\
             Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {}\r\n\r\n",
            self.location,
            data.len()
        );
        socket.write_all(head.as_bytes()).expect("headers");
        socket.write_all(&data[..sent]).expect("part of the body");
        socket.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(300));
        drop(socket);
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_tus_upload_in_chunks_survives_a_dropped_connection_and_a_server_kill() {
    let (dir, src) = clip(4);
    let data = dir.path().join("data");
    let file = std::fs::read(&src).expect("clip");
    let third = file.len() / 3;
    let mut server = Server::start(&data, &[]);
    let (status, headers) = server.curl(&["-X", "OPTIONS", "-D", "-"], "/api/v1/uploads");
    assert_eq!(status, 204);
    assert!(headers.to_lowercase().contains("tus-extension: creation,termination"), "{headers}");
    let (status, headers) = server.curl(
        &[
            "-X",
            "OPTIONS",
            "-D",
            "-",
            "-H",
            "Origin: http://example.test",
            "-H",
            "Access-Control-Request-Method: PATCH",
        ],
        "/api/v1/uploads/abc",
    );
    assert_eq!(status, 200, "a browser preflight, answered by the CORS layer");
    let headers = headers.to_lowercase();
    assert!(headers.contains("upload-offset") && headers.contains("x-csrf-token"), "{headers}");

    let upload = TusUpload::create(&server, file.len());
    let id = upload.id().to_owned();
    assert_eq!(server.json(&format!("/api/v1/assets/{id}"))["status"], "uploading");
    assert_eq!(upload.patch(&file[..third], 0), 204);
    assert_eq!(upload.offset(), third as u64);
    assert_eq!(upload.patch(&file[..10], 0), 409, "a stale offset is refused");

    // The connection drops halfway through the second chunk: what arrived is kept.
    upload.patch_and_drop(&file[third..2 * third], third as u64, third / 2);
    let resumed_at = upload.offset();
    assert!(resumed_at > third as u64 && resumed_at <= (third + third / 2) as u64, "kept {resumed_at}");

    // The server dies; the upload resumes where the restarted server says.
    let location = upload.location.clone();
    drop(upload);
    server.kill();
    let server = Server::start(&data, &[]);
    let upload = TusUpload { server: &server, location };
    let offset = upload.offset();
    assert_eq!(offset, resumed_at, "the offset survives a kill");
    assert_eq!(upload.patch(&file[offset as usize..], offset), 204);

    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(ready["status"], "ready", "{ready}");
    let stored = std::fs::read(data.join(format!("objects/sources/{id}/original"))).expect("source");
    assert!(stored == file, "the source is byte for byte the file");
    decode_all(Path::new(&server.url(ready["playback"]["dash"].as_str().expect("dash"))));
}

#[test]
fn streams_are_playable_while_the_transcode_runs() {
    let (dir, src) = clip(20);
    let server = Server::start(&dir.path().join("data"), &[("CDLC_X264_PRESET", "slow")]);
    let (status, asset) = server.upload(&src, Some(TOKEN));
    assert_eq!(status, 201);
    let id = asset["id"].as_str().expect("id").to_owned();

    let uploaded = Instant::now();
    let asset = loop {
        let asset = server.json(&format!("/api/v1/assets/{id}"));
        if !asset["playback"].is_null() {
            break asset;
        }
        assert!(uploaded.elapsed() < Duration::from_secs(60), "never playable: {asset}");
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("playable {:?} after the upload, at {}%", uploaded.elapsed(), asset["progress"]);
    assert_eq!(asset["status"], "processing", "playable before the transcode ends");

    let (status, media) = server.get(&format!("/streams/{id}/360p/playlist.m3u8"));
    assert_eq!(status, 200);
    assert!(media.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !media.contains("#EXT-X-ENDLIST"), "{media}");
    let (status, mpd) = server.get(&format!("/streams/{id}/manifest.mpd"));
    assert_eq!(status, 200);
    let parsed = dash_mpd_core::parse(&mpd).expect("dynamic MPD parses");
    assert_eq!(parsed.mpdtype.as_deref(), Some("dynamic"), "{mpd}");
    let (_, headers) = server.curl(&["-D", "-", "-o", "/dev/null"], &format!("/streams/{id}/master.m3u8"));
    assert!(headers.contains("max-age=1"), "growing manifests are not cached for long: {headers}");

    // A player that starts now follows the growing playlist to its end.
    decode_all(Path::new(&server.url(&format!("/streams/{id}/master.m3u8"))));
    let ready = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(240));
    assert_eq!(ready["status"], "ready");
    let (_, mpd) = server.get(&format!("/streams/{id}/manifest.mpd"));
    assert_eq!(dash_mpd_core::parse(&mpd).expect("static MPD").mpdtype.as_deref(), Some("static"));
}

/// One HTTP request as a webhook receiver sees it.
#[derive(Debug)]
struct Received {
    headers: String,
    body: String,
}

/// Accepts `count` requests on a loopback port, answering 200 to each.
fn webhook_receiver(count: usize) -> (u16, std::thread::JoinHandle<Vec<Received>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = std::thread::spawn(move || {
        let mut received = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        while received.len() < count && Instant::now() < deadline {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            stream.set_nonblocking(false).expect("blocking");
            stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push_str(&line.to_lowercase());
            }
            let length: usize = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            received.push(Received { headers, body: String::from_utf8_lossy(&body).into_owned() });
        }
        received
    });
    (port, handle)
}

#[test]
fn progress_streams_as_server_sent_events_and_webhooks_are_signed() {
    use hmac::{Hmac, Mac};
    let (dir, src) = clip(8);
    let (hook_port, hook) = webhook_receiver(2);
    let secret = "webhook-secret-0123456789";
    let url = format!("http://127.0.0.1:{hook_port}/hook");
    let server = Server::start(
        &dir.path().join("data"),
        &[("CDLC_WEBHOOK_URL", &url), ("CDLC_WEBHOOK_SECRET", secret), ("CDLC_X264_PRESET", "medium")],
    );
    let (_, asset) = server.upload(&src, Some(TOKEN));
    let id = asset["id"].as_str().expect("id").to_owned();

    let (status, stream) = server.curl(&["-N", "--max-time", "120"], &format!("/api/v1/assets/{id}/events"));
    assert_eq!(status, 200, "{stream}");
    let snapshots: Vec<serde_json::Value> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).expect("event JSON"))
        .collect();
    assert!(snapshots.len() >= 3, "several progress events: {stream}");
    let progress: Vec<f64> = snapshots.iter().map(|s| s["progress"].as_f64().unwrap_or(-1.0)).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress only rises: {progress:?}");
    assert_eq!(snapshots.last().map(|s| s["status"].clone()), Some("ready".into()), "ends at ready");

    // An errored asset too, so both kinds of webhook are sent.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a movie\n".repeat(100)).expect("write");
    let (_, bad) = server.upload(&text, Some(TOKEN));
    let bad_id = bad["id"].as_str().expect("id").to_owned();
    server.wait_for(&bad_id, &["errored"], Duration::from_secs(60));

    let mut received = hook.join().expect("receiver");
    assert_eq!(received.len(), 2, "one webhook for ready, one for errored: {received:?}");
    received.sort_by_key(|r| r.body.contains("asset.errored"));
    for (request, (kind, asset_id)) in received.iter().zip([("asset.ready", &id), ("asset.errored", &bad_id)])
    {
        let body: serde_json::Value = serde_json::from_str(&request.body).expect("webhook JSON");
        assert_eq!(
            (body["type"].as_str(), body["asset"]["id"].as_str()),
            (Some(kind), Some(asset_id.as_str()))
        );
        let header =
            request.headers.lines().find_map(|l| l.strip_prefix("cdlc-signature:")).expect("signature");
        let (t, v1) = header.trim().split_once(",v1=").expect("t=…,v1=…");
        let t = t.trim_start_matches("t=");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{}", request.body).as_bytes());
        assert_eq!(hex::encode(mac.finalize().into_bytes()), v1, "the signature checks out");
    }
}

/// A running `cdlc edge` in front of an origin; killed on drop.
pub(crate) struct StandaloneEdge {
    child: Child,
    port: u16,
}

impl StandaloneEdge {
    pub(crate) fn start(origin: &str, env: &[(&str, &str)]) -> StandaloneEdge {
        let port = free_port();
        let mut command = Command::new(cdlc_bin());
        command
            .args(["edge", "--origin", origin, "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let edge = StandaloneEdge { child: command.spawn().expect("start cdlc edge"), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while curl_status(&edge.url("/healthz"), &[]) != 200 {
            assert!(Instant::now() < deadline, "cdlc edge did not answer /healthz");
            std::thread::sleep(Duration::from_millis(100));
        }
        edge
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for StandaloneEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl_status(url: &str, args: &[&str]) -> u16 {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "30", "-w", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn a_private_asset_plays_only_on_signed_urls_through_serve_and_a_standalone_edge() {
    const KEYS: &str = "k2:integration-signing-key-new-0123,k1:integration-signing-key-old-0123";
    let (dir, src) = clip(4);
    let server = Server::start(&dir.path().join("data"), &[("CDLC_SIGNING_KEYS", KEYS)]);
    let form = format!("file=@{}", src.display());
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) =
        server.curl(&["-X", "POST", "-F", &form, "-F", "private=true", "-H", &auth], "/api/v1/assets");
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let public_view = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(public_view["status"], "ready", "{public_view}");
    let unsigned = public_view["playback"]["hls"].as_str().expect("hls");
    let (status, body) = server.get(unsigned);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"forbidden\""), "{body}");

    let (_, admin_view) = server.curl(&["-H", &auth], &format!("/api/v1/assets/{id}"));
    let admin_view: serde_json::Value = serde_json::from_str(&admin_view).expect("JSON");
    let hls = admin_view["playback"]["hls"].as_str().expect("signed hls").to_owned();
    let dash = admin_view["playback"]["dash"].as_str().expect("signed dash").to_owned();
    assert!(hls.starts_with(&format!("/streams/{id}/~k2.")), "signed by the first key: {hls}");
    assert!(admin_view["playback"]["expires"].as_u64().is_some(), "{admin_view}");
    // Relative URIs in the playlists and the MPD resolve under the token.
    decode_all(Path::new(&server.url(&hls)));
    decode_all(Path::new(&server.url(&dash)));
    let tampered = hls.replacen(&format!("/streams/{id}/"), &format!("/streams/{}/", "0".repeat(32)), 1);
    assert_eq!(server.get(&tampered).0, 403, "a token is scoped to its asset");

    let edge = StandaloneEdge::start(
        &server.url(""),
        &[("CDLC_SIGNING_KEYS", KEYS), ("CDLC_EDGE_ORIGIN_TOKEN", TOKEN), ("CDLC_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(curl_status(&edge.url(unsigned), &[]), 403, "the standalone edge asks for a signature too");
    decode_all(Path::new(&edge.url(&hls)));
    let segment = hls.replace("master.m3u8", "360p/00001.m4s");
    assert_eq!(curl_status(&edge.url(&segment), &["--http2-prior-knowledge"]), 200, "HTTP/2 cleartext");
    let metrics = Command::new("curl").args(["-s", &edge.url("/metrics")]).output().expect("curl").stdout;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("cdlc_edge_hits_total{tier=\"memory\"}"), "{metrics}");

    drop(server); // the origin goes away
    assert_eq!(curl_status(&edge.url(&segment), &[]), 200, "cached segments outlive the origin");
    let missing = hls.replace("master.m3u8", "360p/99999.m4s");
    assert_eq!(curl_status(&edge.url(&missing), &[]), 502, "nothing cached, origin down");
    let purge = curl_status(
        &edge.url("/api/v1/edge/purge"),
        &["-X", "POST", "-H", &auth, "--data", &format!("{{\"asset\":\"{id}\"}}")],
    );
    assert_eq!(purge, 200);
    assert_eq!(curl_status(&edge.url(&segment), &[]), 502, "purged, and the origin is down");
}
