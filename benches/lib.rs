//! Benchmarks live in `benches/`; each compares cdlc with a peer doing the
//! same work in the same run, or measures what a user waits for.
//! `make bench` runs them. This library holds what they share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_owned()
}

/// Where generated sources are cached between runs.
pub fn media_dir() -> PathBuf {
    workspace_root().join("target/bench-media")
}

/// The release `cdlc` binary (or `CDLC_BIN`).
pub fn cdlc_bin() -> PathBuf {
    let bin = std::env::var_os("CDLC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/cdlc"));
    assert!(bin.exists(), "{} is missing: `cargo build --release -p cdlc` (make bench does)", bin.display());
    bin
}

/// Generates (once) a 1080p30 H.264/AAC source of `seconds`: a moving test
/// pattern with film-like grain, harder to encode than a clean picture.
pub fn generate_1080p(path: &Path, seconds: u32, crf: u32) {
    if path.exists() {
        return;
    }
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    eprintln!("generating a {seconds}s 1080p source at {}", path.display());
    let video = format!("testsrc2=s=1920x1080:r=30:d={seconds},noise=alls=4:allf=t");
    let audio = format!("sine=f=440:d={seconds}:sample_rate=48000");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &video, "-f", "lavfi", "-i", &audio])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", &crf.to_string(), "-pix_fmt", "yuv420p"])
        .args(["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"])
        .args(["-c:a", "aac", "-shortest", "-movflags", "+faststart"])
        .arg(path)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg could not generate {}", path.display());
}

/// PSNR (average over Y, U, V) of `rendition` scaled back to 1080p against
/// the source, frame by frame in order (the n-th frame against the n-th).
/// Not by timestamp: ffmpeg 5.1 reads the negative composition offsets of
/// some rungs' first fragment one frame off from the rest (the boxes' own
/// times are continuous), which paired frames one apart.
pub fn psnr(rendition: &Path, source: &Path) -> f64 {
    let output = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(rendition)
        .arg("-i")
        .arg(source)
        .args([
            "-lavfi",
            "[0:v]setpts=N/FRAME_RATE/TB,scale=1920:1080:flags=bicubic[a];[1:v]setpts=N/FRAME_RATE/TB[b];[a][b]psnr",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg psnr");
    let log = String::from_utf8_lossy(&output.stderr);
    log.lines()
        .filter_map(|l| l.split("average:").nth(1))
        .filter_map(|s| s.split_whitespace().next())
        .filter_map(|s| s.parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no PSNR in ffmpeg output: {log}"))
}
