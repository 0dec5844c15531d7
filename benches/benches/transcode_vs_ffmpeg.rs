//! `cdlc transcode` against one ffmpeg command doing the same ladder.
//!
//! Both get the same 1080p source, the same four rungs, bitrates, GOP,
//! x264 preset and VBV, and run alternately so that neither always runs on
//! a warm cache. Prints median wall and CPU time, their ratios, and each
//! rung's PSNR against the source (rung scaled back up with bicubic).
//!
//! Settings: CDLC_BENCH_SECONDS (source length, default 10),
//! CDLC_BENCH_RUNS (runs of each, default 3), CDLC_BENCH_PRESET (veryfast).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

/// (width, height, kbit/s), as cdlc's default ladder gives for 1080p.
const RUNGS: [(u32, u32, u32); 4] =
    [(1920, 1080, 5000), (1280, 720, 2800), (854, 480, 1400), (640, 360, 800)];
const FPS: u32 = 30;
const SEGMENT_SECONDS: u32 = 2;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn children_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(usage.user_time()) + tv(usage.system_time())
}

/// Runs `command`, returning (wall, CPU of the child).
fn measure(command: &mut Command) -> (Duration, Duration) {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let output = command.output().expect("spawn");
    let wall = started.elapsed();
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    (wall, children_cpu() - cpu_before)
}

fn cdlc_command(cdlc: &Path, source: &Path, out: &Path, preset: &str) -> Command {
    let _ = std::fs::remove_dir_all(out);
    let ladder: Vec<String> = RUNGS.iter().map(|(_, h, k)| format!("{h}:{k}")).collect();
    let mut command = Command::new(cdlc);
    command.args(["transcode", "-q", "--preset", preset, "--ladder", &ladder.join(",")]).arg(source).arg(out);
    command
}

/// One ffmpeg process: decode once, split, scale, libx264 per rung with the
/// same rate control as x264enc's default (ABR capped by a 600 ms VBV).
fn ffmpeg_command(source: &Path, out: &Path, preset: &str) -> Command {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("mkdir");
    let gop = (FPS * SEGMENT_SECONDS).to_string();
    let mut filter = format!("[0:v]split={}", RUNGS.len());
    for i in 0..RUNGS.len() {
        filter.push_str(&format!("[s{i}]"));
    }
    for (i, (w, h, _)) in RUNGS.iter().enumerate() {
        filter.push_str(&format!(";[s{i}]scale={w}:{h}[v{i}]"));
    }
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-y", "-i"]).arg(source).args(["-filter_complex", &filter]);
    for (i, (_, h, kbps)) in RUNGS.iter().enumerate() {
        let bufsize = format!("{}k", kbps * 6 / 10);
        let rate = format!("{kbps}k");
        command
            .args(["-map", &format!("[v{i}]"), "-c:v", "libx264", "-preset", preset, "-profile:v", "high"])
            .args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &bufsize])
            .args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0", "-an"])
            .arg(out.join(format!("{h}p.mp4")));
    }
    command
        .args(["-map", "0:a", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000", "-vn"])
        .arg(out.join("audio.mp4"));
    command
}

fn bitrate_kbps(path: &Path, seconds: f64) -> f64 {
    let bytes: u64 = if path.is_dir() {
        std::fs::read_dir(path)
            .expect("dir")
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    } else {
        std::fs::metadata(path).expect("file").len()
    };
    bytes as f64 * 8.0 / seconds / 1000.0
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let seconds: u32 = env_or("CDLC_BENCH_SECONDS", 10);
    let runs: usize = env_or("CDLC_BENCH_RUNS", 3);
    let preset: String = env_or("CDLC_BENCH_PRESET", "veryfast".to_owned());
    let cdlc = cdlc_benches::cdlc_bin();
    let work = cdlc_benches::media_dir();
    let source = work.join(format!("source-1080p-{seconds}s.mp4"));
    cdlc_benches::generate_1080p(&source, seconds, 18);
    let (cdlc_out, ffmpeg_out) = (work.join("cdlc"), work.join("ffmpeg"));

    let mut cdlc_times = Vec::new();
    let mut ffmpeg_times = Vec::new();
    for run in 0..runs {
        let order: [bool; 2] = if run % 2 == 0 { [true, false] } else { [false, true] };
        for is_cdlc in order {
            if is_cdlc {
                let t = measure(&mut cdlc_command(&cdlc, &source, &cdlc_out, &preset));
                eprintln!(
                    "run {run}: cdlc   wall {:>6.2}s cpu {:>6.2}s",
                    t.0.as_secs_f64(),
                    t.1.as_secs_f64()
                );
                cdlc_times.push(t);
            } else {
                let t = measure(&mut ffmpeg_command(&source, &ffmpeg_out, &preset));
                eprintln!(
                    "run {run}: ffmpeg wall {:>6.2}s cpu {:>6.2}s",
                    t.0.as_secs_f64(),
                    t.1.as_secs_f64()
                );
                ffmpeg_times.push(t);
            }
        }
    }
    let (cw, cc) =
        (median(cdlc_times.iter().map(|t| t.0).collect()), median(cdlc_times.iter().map(|t| t.1).collect()));
    let (fw, fc) = (
        median(ffmpeg_times.iter().map(|t| t.0).collect()),
        median(ffmpeg_times.iter().map(|t| t.1).collect()),
    );

    println!("transcode_vs_ffmpeg: {seconds}s 1080p30 source, 4 rungs, x264 preset {preset}, {runs} alternating runs each");
    println!("{:<8} {:>10} {:>10} {:>12}", "tool", "wall s", "cpu s", "x realtime");
    println!(
        "{:<8} {:>10.2} {:>10.2} {:>12.2}",
        "cdlc",
        cw.as_secs_f64(),
        cc.as_secs_f64(),
        seconds as f64 / cw.as_secs_f64()
    );
    println!(
        "{:<8} {:>10.2} {:>10.2} {:>12.2}",
        "ffmpeg",
        fw.as_secs_f64(),
        fc.as_secs_f64(),
        seconds as f64 / fw.as_secs_f64()
    );
    println!(
        "ratio cdlc/ffmpeg: wall {:.3}, cpu {:.3}",
        cw.as_secs_f64() / fw.as_secs_f64(),
        cc.as_secs_f64() / fc.as_secs_f64()
    );
    println!(
        "{:<6} {:>11} {:>11} {:>8} {:>12} {:>12}",
        "rung", "cdlc dB", "ffmpeg dB", "delta", "cdlc kb/s", "ffmpeg kb/s"
    );
    for (_, h, _) in RUNGS {
        let ours = cdlc_out.join(format!("{h}p/playlist.m3u8"));
        let theirs = ffmpeg_out.join(format!("{h}p.mp4"));
        let (a, b) = (cdlc_benches::psnr(&ours, &source), cdlc_benches::psnr(&theirs, &source));
        println!(
            "{:<6} {a:>11.2} {b:>11.2} {:>+8.2} {:>12.0} {:>12.0}",
            format!("{h}p"),
            a - b,
            bitrate_kbps(&cdlc_out.join(format!("{h}p")), seconds as f64),
            bitrate_kbps(&theirs, seconds as f64)
        );
    }
}
