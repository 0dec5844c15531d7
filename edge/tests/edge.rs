//! A real edge on a loopback port in front of a real HTTP origin on another
//! loopback port: an axum server that serves files from a temporary
//! directory the way `cdlc serve` does (ETag, Cache-Control by kind,
//! `cdlc-access: signed` for private assets), counts every request it
//! gets, and can be stopped to play an origin that is down.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cdlc_edge::{Edge, EdgeSettings, HttpOrigin, SigningKeys};

const ADMIN: &str = "admin-token-0123456789";
const KEY_OLD: &str = "old:secret-old-0123456789";
const KEY_NEW: &str = "new:secret-new-0123456789";

/// Deterministic bytes that no compression shrinks.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

struct OriginState {
    root: PathBuf,
    private_assets: Vec<String>,
    fetches: Mutex<HashMap<String, u64>>,
    total: AtomicU64,
}

async fn serve_file(State(origin): State<Arc<OriginState>>, uri: Uri, headers: HeaderMap) -> Response {
    let relative = uri.path().trim_start_matches("/streams/").to_owned();
    origin.total.fetch_add(1, Ordering::SeqCst);
    *origin.fetches.lock().unwrap().entry(relative.clone()).or_default() += 1;
    // An origin a continent away: long enough for every cold request to
    // arrive while the first fetch is under way.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let Ok(body) = tokio::fs::read(origin.root.join(&relative)).await else {
        return (StatusCode::NOT_FOUND, "no such object").into_response();
    };
    let etag = format!(
        "\"{:x}-{}\"",
        body.iter().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64)),
        body.len()
    );
    let asset = relative.split('/').next().unwrap_or_default();
    let manifest = relative.ends_with(".m3u8") || relative.ends_with(".mpd");
    let cache_control = if manifest { "public, max-age=1" } else { "public, max-age=31536000, immutable" };
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag.parse().unwrap());
    h.insert(header::CACHE_CONTROL, cache_control.parse().unwrap());
    if origin.private_assets.iter().any(|a| a == asset) {
        h.insert("cdlc-access", "signed".parse().unwrap());
    }
    response
}

/// The origin: files under `root/{asset}/{path}`.
struct Origin {
    state: Arc<OriginState>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Origin {
    async fn start(root: &Path, private_assets: &[&str]) -> Origin {
        let state = Arc::new(OriginState {
            root: root.to_owned(),
            private_assets: private_assets.iter().map(|s| s.to_string()).collect(),
            fetches: Mutex::default(),
            total: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/streams/{asset}/{*path}", axum::routing::get(serve_file))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Origin { state, addr, stop: Some(stop), task: Some(task) }
    }

    fn fetches(&self, relative: &str) -> u64 {
        self.state.fetches.lock().unwrap().get(relative).copied().unwrap_or(0)
    }

    /// Closes the port: later fetches meet a refused connection.
    async fn take_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

struct TestEdge {
    edge: Arc<Edge>,
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        // Not joined: the server drains its connections on its own thread.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestEdge {
    async fn start(origin: SocketAddr, settings: EdgeSettings) -> TestEdge {
        TestEdge::start_with_header_timeout(origin, settings, cdlc_edge::server::HEADER_READ_TIMEOUT).await
    }

    async fn start_with_header_timeout(
        origin: SocketAddr,
        settings: EdgeSettings,
        header_timeout: Duration,
    ) -> TestEdge {
        let origin = HttpOrigin::new(
            &format!("http://{origin}"),
            None,
            settings.max_object_bytes,
            Duration::from_secs(10),
        )
        .unwrap();
        let edge = Edge::new(settings, Arc::new(origin)).expect("valid settings");
        // The server `cdlc edge` runs, with two serving threads.
        let server = cdlc_edge::server::EdgeServer::bind("127.0.0.1:0".parse().unwrap(), 2)
            .unwrap()
            .header_read_timeout(header_timeout);
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (served_edge, router) = (edge.clone(), edge.router());
        let server = std::thread::spawn(move || {
            server.serve(served_edge, router, async move {
                let _ = stopped.await;
            })
        });
        let client = reqwest::Client::builder().no_gzip().pool_max_idle_per_host(256).build().unwrap();
        TestEdge { edge, base, client, stop: Some(stop), server: Some(server) }
    }

    /// Stops the server and waits until it has drained.
    fn stop(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().map_or(Ok(()), |server| server.join().expect("the server thread ended"))
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the edge answers")
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = self.get("/metrics", &[]).await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .parse()
            .unwrap()
    }
}

fn settings() -> EdgeSettings {
    EdgeSettings {
        memory_bytes: 64 << 20,
        max_object_bytes: 8 << 20,
        signing_keys: SigningKeys::parse(KEY_OLD).unwrap(),
        admin_token: Some(ADMIN.into()),
        ..EdgeSettings::default()
    }
}

/// A VOD asset: a 1 MB segment, an init segment and a media playlist.
fn write_asset(root: &Path, asset: &str) -> (Vec<u8>, String) {
    let dir = root.join(asset).join("720p");
    std::fs::create_dir_all(&dir).unwrap();
    let segment = noise(1 << 20, asset.len() as u64);
    std::fs::write(dir.join("00001.m4s"), &segment).unwrap();
    std::fs::write(dir.join("init.mp4"), noise(800, 7)).unwrap();
    let mut playlist =
        String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n");
    for n in 1..=60 {
        playlist.push_str(&format!("#EXTINF:2.000,\n{n:05}.m4s\n"));
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(dir.join("playlist.m3u8"), &playlist).unwrap();
    (segment, playlist)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_cold_requests_make_one_origin_fetch() {
    let root = tempfile::tempdir().unwrap();
    let (segment, _) = write_asset(root.path(), "a1");
    let origin = Origin::start(root.path(), &[]).await;
    let edge = TestEdge::start(origin.addr, settings()).await;
    let requests = (0..200).map(|_| {
        let edge = &edge;
        async move {
            let response = edge.get("/streams/a1/720p/00001.m4s", &[]).await;
            (response.status(), response.bytes().await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert!(body[..] == segment[..], "every viewer gets the file's bytes");
    }
    assert_eq!(origin.fetches("a1/720p/00001.m4s"), 1, "one origin fetch for 200 cold requests");
    assert_eq!(edge.metric("cdlc_edge_origin_fetches_total").await, 1);
    let waits = edge.metric("cdlc_edge_coalesced_waits_total").await;
    let hits = edge.metric("cdlc_edge_hits_total{tier=\"memory\"}").await;
    assert_eq!(waits + hits, 199, "the others waited for the fetch or found it cached");
    assert!(waits > 100, "most requests arrived during the 150 ms fetch: {waits}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_validators_compression_and_cache_control() {
    let root = tempfile::tempdir().unwrap();
    let (segment, playlist) = write_asset(root.path(), "a1");
    let origin = Origin::start(root.path(), &[]).await;
    let edge = TestEdge::start(origin.addr, settings()).await;
    let path = "/streams/a1/720p/00001.m4s";
    let size = segment.len();

    let full = edge.get(path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(full.status(), 200);
    let headers = full.headers().clone();
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(headers["content-type"], "video/iso.segment");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers.get("content-encoding").is_none(), "segments are never compressed");
    assert_eq!(full.bytes().await.unwrap()[..], segment[..]);

    for (range, start, end) in [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-", 1000, size),
        ("bytes=-500", size - 500, size),
        ("bytes=5000-9999999", 5000, size),
    ] {
        let response = edge.get(path, &[("range", range)]).await;
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(response.headers()["content-range"], format!("bytes {start}-{}/{size}", end - 1).as_str());
        assert!(response.bytes().await.unwrap()[..] == segment[start..end], "{range} matches the file");
    }
    let multi = edge.get(path, &[("range", "bytes=0-1,10-11")]).await;
    assert_eq!(multi.status(), 200, "several ranges get the whole object");
    let other_unit = edge.get(path, &[("range", "items=0-5")]).await;
    assert_eq!(other_unit.status(), 200, "a range unit the edge does not know is ignored (RFC 9110 14.2)");
    assert!(other_unit.headers().get("content-range").is_none());
    assert!(other_unit.bytes().await.unwrap()[..] == segment[..], "the whole object");
    let unsatisfiable = edge.get(path, &[("range", &format!("bytes={size}-"))]).await;
    assert_eq!(unsatisfiable.status(), 416);
    assert_eq!(unsatisfiable.headers()["content-range"], format!("bytes */{size}").as_str());
    let body: serde_json::Value = serde_json::from_slice(&unsatisfiable.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable");

    let etag = headers["etag"].to_str().unwrap().to_owned();
    let revalidated = edge.get(path, &[("if-none-match", &etag)]).await;
    assert_eq!(revalidated.status(), 304);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    let last_modified = headers["last-modified"].to_str().unwrap().to_owned();
    assert_eq!(edge.get(path, &[("if-modified-since", &last_modified)]).await.status(), 304);
    assert_eq!(edge.get(path, &[("if-none-match", "\"other\"")]).await.status(), 200);

    let manifest = edge.get("/streams/a1/720p/playlist.m3u8", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(manifest.status(), 200);
    assert_eq!(manifest.headers()["content-encoding"], "gzip");
    assert_eq!(manifest.headers()["vary"], "Accept-Encoding");
    assert_eq!(manifest.headers()["cache-control"], "public, max-age=1", "the origin's policy is kept");
    let compressed = manifest.bytes().await.unwrap();
    assert!(compressed.len() < playlist.len() / 3);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut text).unwrap();
    assert_eq!(text, playlist);
    let plain = edge.get("/streams/a1/720p/playlist.m3u8", &[]).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.unwrap(), playlist);

    let bad = edge.get("/streams/a1/..%2f..%2fetc/passwd", &[]).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(edge.get("/streams/a1/720p/99999.m4s", &[]).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_guard_private_assets() {
    let root = tempfile::tempdir().unwrap();
    let (segment, _) = write_asset(root.path(), "secret");
    write_asset(root.path(), "other");
    let origin = Origin::start(root.path(), &["secret", "other"]).await;
    let old_keys = SigningKeys::parse(KEY_OLD).unwrap();
    let rotated = EdgeSettings {
        signing_keys: SigningKeys::parse(&format!("{KEY_NEW},{KEY_OLD}")).unwrap(),
        ..settings()
    };
    let edge = TestEdge::start(origin.addr, rotated).await;
    let now = cdlc_edge::signing::unix_now();
    let forbidden = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 403);
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
        body["error"]["message"].as_str().unwrap().to_owned()
    };

    let message = forbidden(edge.get("/streams/secret/720p/00001.m4s", &[]).await).await;
    assert!(message.contains("signed URL"), "{message}");

    let (prefix, expires) = edge.edge.signed_prefix("secret", Duration::from_secs(600)).unwrap();
    assert!(prefix.starts_with("/streams/secret/~new."), "the first key signs: {prefix}");
    assert!(expires >= now + 599);
    let valid = edge.get(&format!("{prefix}/720p/00001.m4s"), &[]).await;
    assert_eq!(valid.status(), 200);
    assert!(valid.headers()["cache-control"].to_str().unwrap().starts_with("private"));
    assert_eq!(valid.bytes().await.unwrap()[..], segment[..]);
    let playlist = edge.get(&format!("{prefix}/720p/playlist.m3u8"), &[]).await;
    assert_eq!(playlist.status(), 200, "relative URIs resolve under the same token");

    let by_old_key = old_keys.sign("secret", now + 600).unwrap();
    assert_eq!(
        edge.get(&format!("/streams/secret/~{by_old_key}/720p/00001.m4s"), &[]).await.status(),
        200,
        "the rotated-out key still verifies"
    );
    let expired = old_keys.sign("secret", now - 1).unwrap();
    assert!(forbidden(edge.get(&format!("/streams/secret/~{expired}/720p/00001.m4s"), &[]).await)
        .await
        .contains("expired"));
    let token = prefix.trim_start_matches("/streams/secret/~");
    let (head, last) = token.split_at(token.len() - 1);
    let tampered = format!("{head}{}", if last == "0" { "1" } else { "0" });
    forbidden(edge.get(&format!("/streams/secret/~{tampered}/720p/00001.m4s"), &[]).await).await;
    let later = token.replacen(&format!(".{expires}."), &format!(".{}.", expires + 3600), 1);
    forbidden(edge.get(&format!("/streams/secret/~{later}/720p/00001.m4s"), &[]).await).await;
    forbidden(edge.get(&format!("/streams/other/~{token}/720p/00001.m4s"), &[]).await).await;
    let unknown =
        SigningKeys::parse("gone:secret-gone-0123456789").unwrap().sign("secret", now + 600).unwrap();
    forbidden(edge.get(&format!("/streams/secret/~{unknown}/720p/00001.m4s"), &[]).await).await;
    let admin =
        edge.get("/streams/secret/720p/00001.m4s", &[("authorization", &format!("Bearer {ADMIN}"))]).await;
    assert_eq!(admin.status(), 200, "the admin (and edges holding its token) fetch without a signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_origin_gets_stale_copies_or_a_clear_502() {
    let root = tempfile::tempdir().unwrap();
    let (segment, playlist) = write_asset(root.path(), "a1");
    let mut origin = Origin::start(root.path(), &[]).await;
    let edge = TestEdge::start(origin.addr, settings()).await;
    assert_eq!(edge.get("/streams/a1/720p/playlist.m3u8", &[]).await.status(), 200);
    assert_eq!(edge.get("/streams/a1/720p/00001.m4s", &[]).await.status(), 200);
    origin.take_down().await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // the playlist's max-age=1 runs out

    let stale = edge.get("/streams/a1/720p/playlist.m3u8", &[]).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["cdlc-cache"], "stale");
    assert_eq!(stale.text().await.unwrap(), playlist);
    let fresh = edge.get("/streams/a1/720p/00001.m4s", &[]).await;
    assert_eq!(fresh.headers()["cdlc-cache"], "hit-memory", "immutable segments need no origin");
    assert_eq!(fresh.bytes().await.unwrap()[..], segment[..]);

    let missing = edge.get("/streams/a1/720p/init.mp4", &[]).await;
    assert_eq!(missing.status(), 502);
    let body: serde_json::Value = serde_json::from_slice(&missing.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "origin_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be reached") && message.contains("/streams/a1/720p/init.mp4"),
        "{message}"
    );
    assert!(edge.metric("cdlc_edge_stale_served_total").await >= 1);
    assert!(edge.metric("cdlc_edge_origin_errors_total").await >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_playlist_is_served_within_its_max_age() {
    let root = tempfile::tempdir().unwrap();
    write_asset(root.path(), "live");
    let file = root.path().join("live/720p/playlist.m3u8");
    std::fs::write(&file, "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2.0,\n00001.m4s\n").unwrap();
    let origin = Origin::start(root.path(), &[]).await;
    let edge = TestEdge::start(origin.addr, settings()).await;
    let first = edge.get("/streams/live/720p/playlist.m3u8", &[]).await.text().await.unwrap();
    assert!(!first.contains("00002.m4s"));
    std::fs::write(
        &file,
        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2.0,\n00001.m4s\n#EXTINF:2.0,\n00002.m4s\n",
    )
    .unwrap();
    let cached = edge.get("/streams/live/720p/playlist.m3u8", &[]).await;
    assert_eq!(cached.headers()["cdlc-cache"], "hit-memory");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next = edge.get("/streams/live/720p/playlist.m3u8", &[]).await;
    assert_eq!(next.headers()["cdlc-cache"], "miss");
    assert!(next.text().await.unwrap().contains("00002.m4s"), "the new segment is listed after max-age");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let same = edge.get("/streams/live/720p/playlist.m3u8", &[]).await;
    assert_eq!(
        same.headers()["cdlc-cache"],
        "revalidated",
        "an unchanged playlist is revalidated (304), not refetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_holds_under_load_and_the_disk_tier_catches_evictions() {
    let root = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let dir = root.path().join("big/720p");
    std::fs::create_dir_all(&dir).unwrap();
    let segments: Vec<Vec<u8>> = (0..24).map(|n| noise(300_000 + n * 1000, n as u64)).collect();
    for (n, data) in segments.iter().enumerate() {
        std::fs::write(dir.join(format!("{n:05}.m4s")), data).unwrap();
    }
    let origin = Origin::start(root.path(), &[]).await;
    let budget: u64 = 2 << 20;
    let small = EdgeSettings {
        memory_bytes: budget,
        max_object_bytes: 512 << 10,
        disk_dir: Some(cache_dir.path().to_owned()),
        disk_bytes: 64 << 20,
        ..settings()
    };
    let edge = TestEdge::start(origin.addr, small).await;
    let sampler = {
        let edge = edge.edge.clone();
        tokio::spawn(async move {
            let mut highest = 0;
            for _ in 0..400 {
                highest = highest.max(edge.memory_bytes_used());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            highest
        })
    };
    for round in 0..3 {
        let requests = segments.iter().enumerate().map(|(n, data)| {
            let edge = &edge;
            async move {
                let response = edge.get(&format!("/streams/big/720p/{n:05}.m4s"), &[]).await;
                assert_eq!(response.status(), 200);
                assert!(response.bytes().await.unwrap()[..] == data[..], "segment {n}");
            }
        });
        futures_util::future::join_all(requests).await;
        let gauge = edge.metric("cdlc_edge_memory_bytes").await;
        assert!(gauge <= budget, "round {round}: {gauge} bytes held, budget {budget}");
        assert!(gauge > budget / 2, "the tier is used: {gauge}");
        tokio::time::sleep(Duration::from_millis(300)).await; // disk writes run in the background
    }
    let highest = sampler.await.unwrap();
    assert!(highest <= budget, "at most {budget} bytes at any sample, saw {highest}");
    assert!(edge.metric("cdlc_edge_disk_bytes").await > budget, "the disk tier holds what memory evicted");
    assert_eq!(
        origin.state.total.load(Ordering::SeqCst),
        24,
        "evicted from memory, found on disk: one fetch each"
    );
    assert!(edge.metric("cdlc_edge_hits_total{tier=\"disk\"}").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_needs_the_admin_token_and_forgets_one_asset() {
    let root = tempfile::tempdir().unwrap();
    write_asset(root.path(), "a1");
    write_asset(root.path(), "a2");
    let origin = Origin::start(root.path(), &[]).await;
    let edge = TestEdge::start(origin.addr, settings()).await;
    for asset in ["a1", "a2"] {
        edge.get(&format!("/streams/{asset}/720p/00001.m4s"), &[]).await.bytes().await.unwrap();
    }
    let purge = |token: &'static str, body: &'static str| {
        let request = edge.client.post(format!("{}/api/v1/edge/purge", edge.base)).body(body);
        async move { request.header("authorization", format!("Bearer {token}")).send().await.unwrap() }
    };
    assert_eq!(purge("wrong-token-0123456789", r#"{"asset":"a1"}"#).await.status(), 401);
    assert_eq!(purge(ADMIN, r#"{"asset":"../x"}"#).await.status(), 400);
    assert_eq!(purge(ADMIN, r#"{"everything":true}"#).await.status(), 400);
    assert_eq!(purge(ADMIN, r#"{"asset":"a1"}"#).await.status(), 200);
    let again = edge.get("/streams/a1/720p/00001.m4s", &[]).await;
    assert_eq!(again.headers()["cdlc-cache"], "miss");
    assert_eq!(origin.fetches("a1/720p/00001.m4s"), 2);
    let other = edge.get("/streams/a2/720p/00001.m4s", &[]).await;
    assert_eq!(other.headers()["cdlc-cache"], "hit-memory", "another asset stays cached");
    assert_eq!(purge(ADMIN, r#"{"all":true}"#).await.status(), 200);
    assert_eq!(edge.get("/streams/a2/720p/00001.m4s", &[]).await.headers()["cdlc-cache"], "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_cleartext_and_cors_preflight() {
    let root = tempfile::tempdir().unwrap();
    let (segment, _) = write_asset(root.path(), "a1");
    let origin = Origin::start(root.path(), &[]).await;
    let edge = TestEdge::start(origin.addr, settings()).await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = h2.get(format!("{}/streams/a1/720p/00001.m4s", edge.base)).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.bytes().await.unwrap()[..], segment[..]);
    let preflight = edge
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/streams/a1/720p/00001.m4s", edge.base))
        .header("origin", "https://player.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers()["access-control-allow-headers"].to_str().unwrap().contains("range"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_every_route_and_stops_when_told() {
    let root = tempfile::tempdir().unwrap();
    let (_, playlist) = write_asset(root.path(), "a1");
    let origin = Origin::start(root.path(), &[]).await;
    let mut edge = TestEdge::start_with_header_timeout(origin.addr, settings(), Duration::from_secs(2)).await;
    // Many connections: the acceptor spreads them over both threads.
    let clients: Vec<_> = (0..16).map(|_| reqwest::Client::builder().no_gzip().build().unwrap()).collect();
    for client in &clients {
        let response =
            client.get(format!("{}/streams/a1/720p/playlist.m3u8", edge.base)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), playlist);
    }
    let head = edge.client.head(format!("{}/streams/a1/720p/playlist.m3u8", edge.base)).send().await.unwrap();
    assert_eq!(head.headers()["content-length"], playlist.len().to_string().as_str());
    let bad = edge.get("/streams/a1/../secret", &[]).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("a stream URL is"), "the error says what a URL looks like");
    let post = edge.client.post(format!("{}/streams/a1/720p/playlist.m3u8", edge.base)).send().await.unwrap();
    assert_eq!(post.status(), 405, "stream objects are read-only");
    assert_eq!(edge.get("/nowhere", &[]).await.status(), 404);
    assert_eq!(edge.metric("cdlc_edge_responses_total{class=\"2xx\"}").await, 17);
    assert_eq!(edge.metric("cdlc_edge_origin_fetches_total").await, 1);

    // A client that never finishes its headers is cut off, not held forever.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(edge.base.trim_start_matches("http://")).await.unwrap();
    slow.write_all(b"GET /streams/a1/720p/playlist.m3u8 HTTP/1.1\r\nHost: edge\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 20 s");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed after {:?}, before the timeout",
        started.elapsed()
    );
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "no answer to half a request");

    let base = edge.base.clone();
    tokio::task::spawn_blocking(move || edge.stop()).await.unwrap().expect("the server stopped cleanly");
    let after = reqwest::Client::new().get(format!("{base}/metrics")).send().await;
    assert!(after.is_err(), "nothing listens once the server has stopped: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_store_origin_reads_finality_from_the_manifest() {
    let objects = tempfile::tempdir().unwrap();
    let streams = objects.path().join("streams");
    write_asset(&streams, "vod");
    std::fs::write(
        streams.join("vod/master.m3u8"),
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/playlist.m3u8\n",
    )
    .unwrap();
    let store = cdlc_storage::LocalStore::open(objects.path()).unwrap();
    let origin = cdlc_edge::StoreOrigin::new(Arc::new(store), "streams/", "test store", 8 << 20);
    let edge = Edge::new(settings(), Arc::new(origin)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = edge.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let get = |path: &str| reqwest::get(format!("{base}{path}"));
    let media = get("/streams/vod/720p/playlist.m3u8").await.unwrap();
    assert_eq!(
        media.headers()["cache-control"],
        "public, max-age=31536000, immutable",
        "it has #EXT-X-ENDLIST"
    );
    let master = get("/streams/vod/master.m3u8").await.unwrap();
    assert_eq!(master.headers()["cache-control"], "public, max-age=1", "a master may still change");
    assert_eq!(
        get("/streams/vod/720p/00001.m4s").await.unwrap().headers()["content-type"],
        "video/iso.segment"
    );
    assert_eq!(get("/streams/vod/nothing.m4s").await.unwrap().status(), 404);
}
