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
//! Two servers run side by side (one upload at a time): the default, whose
//! first segment is short (`first_segment_duration`), and one with
//! `CDLC_FIRST_SEGMENT_DURATION=0`, whose first segment is a whole 2 s as
//! before; the order alternates per length. For the shortest source, each
//! rung's PSNR against the source (scaled back to 1080p) under both, since
//! the short first segment costs an extra keyframe.
//!
//! Settings: CDLC_BENCH_LENGTHS (seconds, default "10,60,180").

use std::path::{Path, PathBuf};
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

/// The rungs of cdlc's default ladder for a 1080p source.
const RUNGS: [&str; 4] = ["1080p", "720p", "480p", "360p"];
/// What the bench compares: a name, and the server's setting.
const MODES: [(&str, Option<&str>); 2] = [("short first (default)", None), ("2 s first", Some("0"))];
/// The goal of issue 16.
const GOAL: Duration = Duration::from_secs(3);

/// A `cdlc serve` on a loopback port with a data folder of its own.
struct Server {
    child: std::process::Child,
    base: String,
    data: tempfile::TempDir,
}

impl Server {
    fn start(cdlc: &Path, first_segment: Option<&str>) -> Server {
        let data = tempfile::tempdir().expect("tmp");
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(cdlc);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data.path())
            .env("CDLC_ADMIN_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(seconds) = first_segment {
            command.env("CDLC_FIRST_SEGMENT_DURATION", seconds);
        }
        let child = command.spawn().expect("cdlc serve");
        while get(&base, "/healthz").is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        Server { child, base, data }
    }

    /// Uploads `source`; returns the asset id and the times from the
    /// upload's answer to playable and to ready.
    fn measure(&self, source: &Path) -> (String, Duration, Duration) {
        let base = &self.base;
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
            if to_playable.is_none() && playable(base, &id) {
                to_playable = Some(acknowledged.elapsed());
            }
            let status = get(base, &format!("/api/v1/assets/{id}"))
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .map(|a| a["status"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            if status == "ready" || status == "errored" {
                assert_eq!(status, "ready", "the transcode failed");
                break acknowledged.elapsed();
            }
            std::thread::sleep(Duration::from_millis(if to_playable.is_some() { 250 } else { 20 }));
        };
        (id.clone(), to_playable.unwrap_or(to_ready), to_ready)
    }

    /// The PSNR of each rung of asset `id` against `source`.
    fn ladder_psnr(&self, id: &str, source: &Path) -> Vec<f64> {
        RUNGS
            .iter()
            .map(|rung| {
                let playlist = self.data.path().join(format!("objects/streams/{id}/{rung}/playlist.m3u8"));
                cdlc_benches::psnr(&playlist, source)
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let servers: Vec<Server> = MODES.iter().map(|(_, first)| Server::start(&cdlc, *first)).collect();

    println!(
        "time_to_playable: 1080p30 sources, default ladder (1080/720/480/360 + AAC), 1 worker, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:>8} {:>22} {:>11} {:>9} {:>11} {:>10}",
        "source s", "first segment", "playable s", "ready s", "x realtime", "under 3 s"
    );
    let shortest = lengths.iter().copied().min();
    let mut psnr: Vec<Option<Vec<f64>>> = vec![None; MODES.len()];
    for (index, (seconds, source)) in sources.iter().enumerate() {
        // Alternate which mode goes first, so neither always meets a warm cache.
        let mut order: Vec<usize> = (0..MODES.len()).collect();
        if index % 2 == 1 {
            order.reverse();
        }
        for mode in order {
            let (id, to_playable, to_ready) = servers[mode].measure(source);
            println!(
                "{seconds:>8} {:>22} {:>11.2} {:>9.2} {:>11.2} {:>10}",
                MODES[mode].0,
                to_playable.as_secs_f64(),
                to_ready.as_secs_f64(),
                f64::from(*seconds) / to_ready.as_secs_f64(),
                if to_playable < GOAL { "yes" } else { "no" }
            );
            if Some(*seconds) == shortest {
                psnr[mode] = Some(servers[mode].ladder_psnr(&id, source));
            }
        }
    }
    if let (Some(seconds), [Some(short), Some(whole)]) = (shortest, psnr.as_slice()) {
        println!("PSNR of each rung against the {seconds} s source (scaled back to 1080p, bicubic, frame by frame):");
        println!("{:<6} {:>12} {:>12} {:>8}", "rung", "2 s first dB", "short dB", "delta");
        for ((rung, short), whole) in RUNGS.iter().zip(short).zip(whole) {
            println!("{rung:<6} {whole:>12.3} {short:>12.3} {:>+8.3}", short - whole);
        }
    }
}
