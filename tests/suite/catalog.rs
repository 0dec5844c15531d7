//! The catalog plugin on a real `cdlc serve`, over HTTP with curl: an
//! import of IMDb-format files through the admin API, a title read back
//! with its cast, an uploaded asset linked as its trailer and played,
//! the asset deleted and the link gone, and search.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::server::{clip, Server, TOKEN};

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}")
}

fn send(server: &Server, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = bearer();
    let mut args = vec!["-X", method, "-H", &auth];
    let text;
    if let Some(body) = body {
        text = body.to_string();
        args.extend(["-H", "content-type: application/json", "--data", &text]);
    }
    let (status, body) = server.curl(&args, path);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn eventually(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn import(server: &Server, files: &[std::path::PathBuf]) -> Value {
    let auth = bearer();
    let forms: Vec<String> = files.iter().map(|f| format!("file=@{}", f.display())).collect();
    let mut args = vec!["-X", "POST", "-H", &auth];
    for form in &forms {
        args.extend(["-F", form.as_str()]);
    }
    let (status, body) = server.curl(&args, "/api/v1/catalog/imports");
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("JSON")["id"].as_str().expect("id").to_owned();
    let mut report = Value::Null;
    eventually("the import", Duration::from_secs(60), || {
        let (_, status) = send(server, "GET", &format!("/api/v1/catalog/imports/{id}"), None);
        assert_ne!(status["state"], "failed", "{status}");
        report = status["report"].clone();
        status["state"] == "done"
    });
    report
}

/// Width and height of a JPEG, from its start-of-frame segment.
fn jpeg_dimensions(jpeg: &[u8]) -> (u16, u16) {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let mut at = 2;
    while at + 9 < jpeg.len() {
        let (marker, length) = (jpeg[at + 1], u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize);
        if (0xC0..=0xC2).contains(&marker) {
            let number = |i: usize| u16::from_be_bytes([jpeg[at + i], jpeg[at + i + 1]]);
            return (number(7), number(5));
        }
        at += 2 + length;
    }
    panic!("the JPEG has no start-of-frame segment")
}

fn first_hit(server: &Server, query: &str) -> String {
    let results = server.json(&format!("/api/v1/catalog/search?{query}"));
    results["items"][0]["id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_imported_title_plays_its_trailer_until_the_asset_is_deleted_and_search_finds_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("imdb");
    std::fs::create_dir_all(&input).expect("input dir");
    let files = cdlc_plugin_catalog::imdb::sample::write_small(&input).expect("write the sample files");
    let server = Server::start(&dir.path().join("data"), &[]);

    let report = import(&server, &files);
    let basics = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["dataset"] == "title.basics")
        .expect("basics");
    assert_eq!(
        (basics["rows_written"].as_u64(), basics["rows_rejected"].as_u64()),
        (Some(10), Some(3)),
        "{report}"
    );
    assert!(
        server.data.join("objects/plugins/catalog/landing").is_dir(),
        "the files landed in object storage first"
    );

    let godfather = server.json("/api/v1/catalog/titles/tt0068646");
    assert_eq!(godfather["primary_title"], "The Godfather");
    assert_eq!(godfather["credits"][0]["person_name"], "Marlon Brando");
    assert_eq!(godfather["credits"][0]["characters"], json!(["Don Vito Corleone"]));

    // A poster gets a thumbnail 185 pixels wide of the same shape (GStreamer, in a
    // `cdlc thumbnail-job` child); a PNG damaged past its signature is refused.
    let poster = dir.path().join("poster.png");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=300x450", "-frames:v", "1"])
        .arg(&poster)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let auth = bearer();
    let put_poster = |file: &std::path::Path| {
        let data = format!("@{}", file.display());
        let args = ["-X", "PUT", "-H", &auth, "-H", "content-type: image/png", "--data-binary", &data];
        server.curl(&args, "/api/v1/catalog/titles/tt0068646/poster")
    };
    let (status, body) = put_poster(&poster);
    assert_eq!(status, 204, "{body}");
    let thumb = dir.path().join("thumb.jpg");
    let thumb_arg = thumb.display().to_string();
    let (status, _) = server.curl(&["-o", &thumb_arg], "/api/v1/catalog/titles/tt0068646/poster?size=thumb");
    assert_eq!(status, 200);
    let (width, height) = jpeg_dimensions(&std::fs::read(&thumb).expect("the thumbnail"));
    assert_eq!(width, 185);
    assert!((277..=278).contains(&height), "a 300x450 poster keeps its shape at 185 wide: {width}x{height}");
    let full = dir.path().join("full.png");
    let full_arg = full.display().to_string();
    assert_eq!(server.curl(&["-o", &full_arg], "/api/v1/catalog/titles/tt0068646/poster").0, 200);
    assert_eq!(std::fs::read(&full).ok(), std::fs::read(&poster).ok(), "the full poster is the upload");
    let damaged = dir.path().join("damaged.png");
    std::fs::write(&damaged, &std::fs::read(&poster).expect("poster")[..60]).expect("write");
    let (status, body) = put_poster(&damaged);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cannot be read"), "{body}");

    // An uploaded clip becomes the Godfather's trailer, and plays.
    let (_clip_dir, clip) = clip(1);
    let (status, asset) = server.upload(&clip, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    let asset_id = asset["id"].as_str().expect("asset id").to_owned();
    let (status, link) = send(
        &server,
        "POST",
        "/api/v1/catalog/titles/tt0068646/links",
        Some(&json!({"asset_id": asset_id, "role": "trailer"})),
    );
    assert_eq!(status, 201, "{link}");
    server.wait_for(&asset_id, &["ready"], Duration::from_secs(120));
    let links = server.json("/api/v1/catalog/titles/tt0068646/links");
    assert_eq!(links[0]["role"], "trailer", "{links}");
    let hls = links[0]["playback"]["hls"].as_str().expect("a ready trailer has playback URLs");
    let path = hls.strip_prefix(&server.url("")).unwrap_or(hls);
    let (status, playlist) = server.get(path);
    assert_eq!(status, 200, "{hls}");
    assert!(playlist.starts_with("#EXTM3U"), "{playlist}");
    assert_eq!(
        server.json(&format!("/api/v1/catalog/assets/{asset_id}/titles"))[0]["title"]["id"],
        "tt0068646"
    );

    // Deleting the asset unlinks it.
    let (status, _) = send(&server, "DELETE", &format!("/api/v1/assets/{asset_id}"), None);
    assert!(status == 204 || status == 200, "delete answered {status}");
    eventually("the unlink", Duration::from_secs(10), || {
        server.json("/api/v1/catalog/titles/tt0068646/links").as_array().is_some_and(|l| l.is_empty())
    });

    // Search as a person types, with typos and without accents.
    assert_eq!(first_hit(&server, "q=godfathr"), "tt0068646");
    assert_eq!(first_hit(&server, "q=amelie"), "tt0211915");
    assert_eq!(first_hit(&server, "q=coppo&target=people"), "nm0000338");
}
