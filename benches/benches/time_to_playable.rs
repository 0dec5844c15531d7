//! Time-to-playable and time-to-ready of `cdlc serve` for 1080p sources of
//! several lengths.
//!
//! Starts the release `cdlc serve` on a loopback port, uploads each source
//! with curl (multipart), and measures from the upload's 201 (the server
//! has the last byte and has stored the source) to:
//! - playable: the master playlist is served and every playlist it names
//!   lists at least one segment;
//! - ready: the asset's status is `ready`.
//!
//! Settings: CDLC_BENCH_LENGTHS (seconds, default "10,60,180").

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789abcdef";

fn get(base: &str, path: &str) -> Option<String> {
    let output = Command::new("curl")
        .args(["-s", "-f", "--max-time", "10"])
        .arg(format!("{base}{path}"))
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether the master playlist is up and every playlist it names has a segment.
fn playable(base: &str, id: &str) -> bool {
    let Some(master) = get(base, &format!("/streams/{id}/master.m3u8")) else {
        return false;
    };
    let uris = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .chain(master.split("URI=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_owned));
    for uri in uris {
        match get(base, &format!("/streams/{id}/{uri}")) {
            Some(playlist) if playlist.contains("#EXTINF") => {}
            _ => return false,
        }
    }
    true
}

fn main() {
    let lengths: Vec<u32> = std::env::var("CDLC_BENCH_LENGTHS")
        .unwrap_or_else(|_| "10,60,180".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let cdlc = cdlc_benches::cdlc_bin();
    let media = cdlc_benches::media_dir();
    let sources: Vec<(u32, PathBuf)> = lengths
        .iter()
        .map(|s| {
            let path = media.join(format!("playable-1080p-{s}s.mp4"));
            cdlc_benches::generate_1080p(&path, *s, 20);
            (*s, path)
        })
        .collect();

    let data = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(&cdlc)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env("CDLC_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cdlc serve");
    while get(&base, "/healthz").is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }

    println!(
        "time_to_playable: 1080p30 sources, default ladder (1080/720/480/360 + AAC), 1 worker, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("{:>8} {:>14} {:>14} {:>12}", "source s", "playable s", "ready s", "x realtime");
    for (seconds, source) in sources {
        let form = format!("file=@{}", source.display());
        let output = Command::new("curl")
            .args(["-s", "-f", "-X", "POST", "-H", &format!("Authorization: Bearer {TOKEN}"), "-F", &form])
            .arg(format!("{base}/api/v1/assets"))
            .output()
            .expect("curl");
        let acknowledged = Instant::now();
        assert!(output.status.success(), "upload failed");
        let asset: serde_json::Value = serde_json::from_slice(&output.stdout).expect("asset JSON");
        let id = asset["id"].as_str().expect("id").to_owned();

        let mut to_playable = None;
        let to_ready = loop {
            if to_playable.is_none() && playable(&base, &id) {
                to_playable = Some(acknowledged.elapsed());
            }
            let status = get(&base, &format!("/api/v1/assets/{id}"))
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .map(|a| a["status"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            if status == "ready" || status == "errored" {
                assert_eq!(status, "ready", "the transcode failed");
                break acknowledged.elapsed();
            }
            std::thread::sleep(Duration::from_millis(if to_playable.is_some() { 250 } else { 20 }));
        };
        let to_playable = to_playable.unwrap_or(to_ready);
        println!(
            "{seconds:>8} {:>14.2} {:>14.2} {:>12.2}",
            to_playable.as_secs_f64(),
            to_ready.as_secs_f64(),
            seconds as f64 / to_ready.as_secs_f64()
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
