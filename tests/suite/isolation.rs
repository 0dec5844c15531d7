//! Transcodes run in child processes: killing or crashing one never takes
//! `cdlc serve` down; the attempt fails, is retried, and a file that
//! crashes every attempt ends `errored` with the reason.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::{clip, Server, TOKEN};
use crate::support::{decode_all, decoded_video_frames, Clip};

/// The `cdlc transcode-job` children of `parent`.
fn transcode_children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ppid …": the comm may hold spaces, so split after ')'.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(&parent.to_string()) && String::from_utf8_lossy(&cmdline).contains("transcode-job")
        })
        .collect()
}

fn gone(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_none_or(|state| state == "Z")
}

/// Sends SIG`name` to `pid` until it has died of it. Rust's runtime handles
/// SIGSEGV to detect stack overflows: a SIGSEGV sent from outside (not a
/// fault) makes it restore the default action and carry on, so it takes a
/// second one, exactly as a real fault that re-occurs after the handler.
fn crash(pid: u32, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("kill");
        assert!(Instant::now() < deadline, "{pid} survived SIG{name}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn upload(server: &Server, file: &Path) -> String {
    let (status, asset) = server.upload(file, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    asset["id"].as_str().expect("id").to_owned()
}

/// Waits until the asset's transcode is under way (progress above 3 %) and
/// returns its child.
fn child_mid_transcode(server: &Server, id: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let asset = server.json(&format!("/api/v1/assets/{id}"));
        let children = transcode_children(server.pid());
        if asset["progress"].as_f64().unwrap_or(0.0) > 3.0 && children.len() == 1 {
            assert_eq!(asset["status"], "processing", "still transcoding: {asset}");
            return children[0];
        }
        assert!(Instant::now() < deadline, "the transcode never got under way: {asset}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_alive(server: &Server) {
    assert_eq!(server.get("/healthz").0, 200, "cdlc serve answers after its child died");
}

#[test]
fn a_transcode_child_that_crashes_stalls_or_is_cancelled_never_takes_the_server_down() {
    let (dir, src) = clip(10);
    let data = dir.path().join("data");
    // A slow preset, so each signal lands while the child transcodes.
    let env =
        [("CDLC_X264_PRESET", "slow"), ("CDLC_MAX_ATTEMPTS", "3"), ("CDLC_TRANSCODE_STALL_SECONDS", "10")];
    let mut server = Server::start(&data, &env);
    let serve_pid = server.pid();

    // How most films on people's disks are stored, and what once made
    // cmafmux panic and abort the server: HEVC with B-frames in Matroska.
    let (_hevc_dir, hevc) = Clip::video("testsrc2=s=320x240:r=25:d=3")
        .input("sine=d=3")
        .args(&[
            "-c:v",
            "libx265",
            "-pix_fmt",
            "yuv420p",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .write("film.mkv");
    let id = upload(&server, &hevc);
    let asset = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "HEVC in Matroska plays: {asset}");
    let master = server.url(asset["playback"]["hls"].as_str().expect("hls"));
    // Matroska's duration covers the audio's padding too: the last frame may be held once more.
    let frames = decoded_video_frames(Path::new(&master), 0);
    assert!((75..=76).contains(&frames), "every frame of the 3 s at 25 fps: {frames}");
    assert_alive(&server);

    for name in ["KILL", "SEGV"] {
        let id = upload(&server, &src);
        let child = child_mid_transcode(&server, &id);
        crash(child, name);
        assert_alive(&server);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !transcode_children(serve_pid).iter().any(|pid| *pid != child) {
            assert!(Instant::now() < deadline, "no second attempt after SIG{name}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let asset = server.wait_for(&id, &["ready", "errored"], Duration::from_secs(300));
        assert_eq!(asset["status"], "ready", "after SIG{name} the next attempt finishes: {asset}");
        decode_all(Path::new(&server.url(asset["playback"]["hls"].as_str().expect("hls"))));
        assert_eq!(server.pid(), serve_pid, "the same server process throughout");
    }

    // A child that stops making progress, whatever the reason (here it is
    // stopped outright), is killed by the watchdog after the stall time.
    let stalled = upload(&server, &src);
    let child = child_mid_transcode(&server, &stalled);
    let _ = Command::new("kill").args(["-STOP", &child.to_string()]).status();
    let stopped_at = Instant::now();
    while !gone(child) {
        assert!(
            stopped_at.elapsed() < Duration::from_secs(30),
            "the watchdog never killed the stopped child"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let waited = stopped_at.elapsed();
    assert!(waited >= Duration::from_secs(9), "killed after the stall time (10 s), not before: {waited:?}");
    let asset = server.wait_for(&stalled, &["ready", "errored"], Duration::from_secs(300));
    assert_eq!(asset["status"], "ready", "the next attempt finishes: {asset}");

    // Deleting an asset while it transcodes kills its child at once.
    let deleted = upload(&server, &src);
    let child = child_mid_transcode(&server, &deleted);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, _) = server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/assets/{deleted}"));
    assert_eq!(status, 204);
    let deleted_at = Instant::now();
    while !gone(child) {
        assert!(deleted_at.elapsed() < Duration::from_secs(2), "the deleted asset's child still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_alive(&server);

    // A file that crashes every attempt: each child is crashed as it starts.
    let poison = upload(&server, &src);
    let mut crashed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let errored = loop {
        for child in transcode_children(server.pid()) {
            if !crashed.contains(&child) {
                crash(child, "SEGV");
                crashed.push(child);
            }
        }
        let asset = server.json(&format!("/api/v1/assets/{poison}"));
        if asset["status"] == "errored" {
            break asset;
        }
        assert_ne!(asset["status"], "ready", "every attempt was crashed: {asset}");
        assert!(Instant::now() < deadline, "the poison file never ended: {asset}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(crashed.len(), 3, "one crash per attempt, max_attempts = 3, then no more tries");
    let reason = errored["error"].as_str().unwrap_or_default();
    assert!(reason.contains("the transcoder crashed on this file") && reason.contains("SIGSEGV"), "{reason}");
    assert_alive(&server);
    std::thread::sleep(Duration::from_secs(3));
    assert!(transcode_children(server.pid()).is_empty(), "no further attempt after the last");

    // The server restarts cleanly with the errored asset in the store.
    server.kill();
    let server = Server::start(&data, &env);
    let after = server.json(&format!("/api/v1/assets/{poison}"));
    assert_eq!(after["status"], "errored", "{after}");
    assert_eq!(after["error"], errored["error"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(transcode_children(server.pid()).is_empty(), "nothing requeued the poison file at start");
    let listed = server.json("/api/v1/assets?limit=10");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(5), "{listed}");
}
