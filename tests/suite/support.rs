//! Helpers shared by the suites: generating media with ffmpeg, running the
//! real `cdlc` binary, and reading what it wrote the way a player would.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cdlc_transcoder::cmaf;

/// The `cdlc` binary cargo built beside this test binary
/// (`target/<profile>/cdlc`), or `CDLC_BIN`.
pub fn cdlc_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CDLC_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = profile_dir.join("cdlc");
    assert!(bin.exists(), "{} is missing: run `cargo build -p cdlc` first (make test does)", bin.display());
    bin
}

/// Runs ffmpeg with `args` and panics with its stderr if it fails.
pub fn ffmpeg(args: &[&str]) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (make test installs it)");
    assert!(output.status.success(), "ffmpeg {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Runs ffprobe and returns its stdout.
pub fn ffprobe(args: &[&str]) -> String {
    let output = Command::new("ffprobe")
        .args(["-hide_banner", "-v", "error"])
        .args(args)
        .output()
        .expect("ffprobe is installed");
    assert!(output.status.success(), "ffprobe {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn transcode_command(input: &Path, outdir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(cdlc_bin());
    command.arg("transcode").arg(input).arg(outdir).args(extra);
    command
}

/// Runs `cdlc transcode INPUT OUTDIR EXTRA…`.
pub fn cdlc_transcode(input: &Path, outdir: &Path, extra: &[&str]) -> Output {
    transcode_command(input, outdir, extra).output().expect("run cdlc")
}

/// Runs `cdlc transcode INPUT OUTDIR EXTRA…` and kills it once `limit` has
/// passed; `None` means it had to be killed (it hung).
pub fn cdlc_transcode_within(input: &Path, outdir: &Path, extra: &[&str], limit: Duration) -> Option<Output> {
    let mut child = transcode_command(input, outdir, extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cdlc");
    // Drain both pipes while it runs, so a chatty process never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cdlc") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    status.map(|status| Output { status, stdout, stderr })
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Decodes every stream of `input` with ffmpeg and returns how many video
/// frames stream `video_index` decoded; panics on any decode error.
pub fn decoded_video_frames(input: &Path, video_index: usize) -> u64 {
    let map = format!("0:v:{video_index}");
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-nostats", "-i"])
        .arg(input)
        .args(["-map", &map, "-f", "null", "-progress", "pipe:1", "-"])
        .output()
        .expect("ffmpeg");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && err.trim().is_empty(), "decoding {} failed: {err}", input.display());
    let progress = String::from_utf8_lossy(&output.stdout);
    progress
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
        .expect("ffmpeg reported a frame count")
}

/// Decodes all streams of `input` at once (`ffmpeg -i X -map 0 -f null -`)
/// and panics if ffmpeg reports any error.
pub fn decode_all(input: &Path) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && err.trim().is_empty(),
        "ffmpeg -i {} -map 0 failed: {err}",
        input.display()
    );
}

/// The MPD at `path` (whose text is `mpd`) as ffmpeg can open it: its text
/// adaptation sets (a WebVTT file as the BaseURL, which dash.js plays but
/// ffmpeg's dash demuxer cannot load) left out of a copy beside it, after
/// checking each one's file is WebVTT. The MPD itself when it has none.
pub fn mpd_for_ffmpeg(path: &Path, mpd: &str) -> PathBuf {
    if !mpd.contains(r#"contentType="text""#) {
        return path.to_owned();
    }
    let mut kept = String::new();
    let mut in_text = false;
    for line in mpd.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("<AdaptationSet") && trimmed.contains(r#"contentType="text""#) {
            in_text = true;
        }
        if in_text {
            if let Some(url) = trimmed.strip_prefix("<BaseURL>").and_then(|u| u.strip_suffix("</BaseURL>")) {
                let file = path.parent().expect("the MPD's folder").join(url);
                let vtt =
                    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert!(vtt.starts_with("WEBVTT"), "{} is not WebVTT: {vtt}", file.display());
            }
            in_text = !trimmed.starts_with("</AdaptationSet>");
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    let media_only = path.with_file_name("manifest.media-only.mpd");
    std::fs::write(&media_only, kept).expect("write the media-only MPD");
    media_only
}

/// One media segment read back from disk.
#[derive(Debug)]
pub struct SegmentBoxes {
    /// Decode time of the first sample (tfdt), in seconds.
    pub start: f64,
    /// Whether the first sample is a sync sample (a keyframe).
    pub starts_with_keyframe: bool,
    pub samples: u32,
}

/// The timescale of the track in an init segment (mdhd).
pub fn init_timescale(init: &[u8]) -> u32 {
    let mdhd = cmaf::find_deep(init, b"mdhd").expect("init segment has mdhd");
    let at = if mdhd[0] == 1 { 20 } else { 12 };
    u32::from_be_bytes(mdhd[at..at + 4].try_into().expect("4 bytes"))
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads the moof of a CMAF media segment.
pub fn read_segment(data: &[u8], timescale: u32) -> SegmentBoxes {
    let tfdt = cmaf::find(data, &[b"moof", b"traf", b"tfdt"]).expect("segment has moof/traf/tfdt");
    let decode_time = if tfdt[0] == 1 {
        u64::from_be_bytes(tfdt[4..12].try_into().expect("8 bytes"))
    } else {
        be32(tfdt, 4) as u64
    };
    let tfhd = cmaf::find(data, &[b"moof", b"traf", b"tfhd"]).expect("tfhd");
    let tfhd_flags = be32(tfhd, 0) & 0xff_ffff;
    let mut at = 8;
    for (flag, size) in [(0x1, 8), (0x2, 4), (0x8, 4), (0x10, 4)] {
        if tfhd_flags & flag != 0 {
            at += size;
        }
    }
    let default_flags = (tfhd_flags & 0x20 != 0).then(|| be32(tfhd, at));

    let trun = cmaf::find(data, &[b"moof", b"traf", b"trun"]).expect("trun");
    let trun_flags = be32(trun, 0) & 0xff_ffff;
    let samples = be32(trun, 4);
    let mut at = 8;
    if trun_flags & 0x1 != 0 {
        at += 4;
    }
    let first_flags = if trun_flags & 0x4 != 0 {
        Some(be32(trun, at))
    } else if trun_flags & 0x400 != 0 {
        let skip = [0x100, 0x200].iter().filter(|f| trun_flags & **f != 0).count() * 4;
        Some(be32(trun, at + skip))
    } else {
        default_flags
    };
    let non_sync = first_flags.map(|f| f & 0x0001_0000 != 0).unwrap_or(false);
    SegmentBoxes { start: decode_time as f64 / timescale as f64, starts_with_keyframe: !non_sync, samples }
}

/// Decodes frame number `frame` of `input` (ffmpeg applies any rotation)
/// to raw pixels of `pix_fmt`, scaled to `w`x`h`.
fn raw_frame(input: &Path, frame: u32, w: u32, h: u32, pix_fmt: &str) -> Vec<u8> {
    raw_filtered(input, &format!("select=eq(n\\,{frame}),scale={w}:{h}"), pix_fmt)
}

/// The first frame out of the ffmpeg filter graph `filter` applied to the
/// first video stream of `input`, as raw pixels of `pix_fmt`.
fn raw_filtered(input: &Path, filter: &str, pix_fmt: &str) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-map", "0:v:0", "-vf", filter, "-frames:v", "1", "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"])
        .output()
        .expect("ffmpeg");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// One grey frame of `input`, scaled to `w`x`h`.
pub fn grey_frame(input: &Path, frame: u32, w: u32, h: u32) -> Vec<u8> {
    let pixels = raw_frame(input, frame, w, h, "gray");
    assert_eq!(pixels.len(), (w * h) as usize, "frame {frame} of {} decoded", input.display());
    pixels
}

/// Mean R, G, B of frame `frame` of `input`, decoded to RGB by ffmpeg
/// with the colour matrix the file declares.
pub fn mean_rgb(input: &Path, frame: u32) -> [f64; 3] {
    let rgb = raw_frame(input, frame, 64, 36, "rgb24");
    assert_eq!(rgb.len(), 64 * 36 * 3, "frame {frame} of {} decoded", input.display());
    mean_of(&rgb)
}

/// Mean R, G, B of the `w`x`h` region at (`x`, `y`) of the first frame of
/// `input` (a tile of a sprite image, say).
pub fn mean_rgb_of_region(input: &Path, (x, y, w, h): (u32, u32, u32, u32)) -> [f64; 3] {
    let rgb = raw_filtered(input, &format!("crop={w}:{h}:{x}:{y},scale=32:18"), "rgb24");
    assert_eq!(rgb.len(), 32 * 18 * 3, "region {x},{y},{w},{h} of {} decoded", input.display());
    mean_of(&rgb)
}

fn mean_of(rgb: &[u8]) -> [f64; 3] {
    let pixels = rgb.len() / 3;
    let mut sum = [0f64; 3];
    for px in rgb.chunks_exact(3) {
        for c in 0..3 {
            sum[c] += px[c] as f64;
        }
    }
    sum.map(|s| s / pixels as f64)
}

/// Files under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Rewrites the display matrix of the first track of an MP4 so players show
/// it rotated 90 degrees clockwise, as phones do (ffmpeg 5.1 has no option
/// to write it).
pub fn set_rotation_90(path: &Path) {
    let mut data = std::fs::read(path).expect("read mp4");
    let at = data.windows(4).position(|w| w == b"tkhd").expect("tkhd box");
    let payload = at + 4;
    assert_eq!(data[payload], 0, "version 0 tkhd");
    let matrix = payload + 40;
    let width = u32::from_be_bytes(data[matrix + 36..matrix + 40].try_into().expect("width"));
    let height = u32::from_be_bytes(data[matrix + 40..matrix + 44].try_into().expect("height"));
    let values: [u32; 9] = [0, 0x0001_0000, 0, 0xffff_0000, 0, 0, height, 0, 0x4000_0000];
    for (i, v) in values.iter().enumerate() {
        data[matrix + i * 4..matrix + i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    let _ = width;
    std::fs::write(path, data).expect("write mp4");
}

/// A 2 s clip with audio as phones record portrait video: stored landscape
/// (320x180, black with a white band along the top) and flagged to be shown
/// rotated by 90 degrees, so it displays as 180x320.
pub fn rotated_phone_clip() -> (tempfile::TempDir, PathBuf) {
    let (dir, src) =
        Clip::video("color=c=black:s=320x180:r=30:d=2,drawbox=x=0:y=0:w=320:h=60:color=white:t=fill")
            .input("sine=d=2")
            .args(&["-map", "0:v", "-map", "1:a"])
            .h264()
            .aac()
            .write("phone.mp4");
    set_rotation_90(&src);
    (dir, src)
}

/// A source clip for a test, generated by ffmpeg from lavfi test sources.
#[derive(Debug, Default)]
pub struct Clip {
    args: Vec<String>,
}

impl Clip {
    /// A clip whose video is the lavfi graph `video` (for example
    /// `testsrc2=s=640x360:r=30:d=3`).
    pub fn video(video: &str) -> Clip {
        Clip::default().input(video)
    }

    /// Adds a lavfi input (an audio track, say).
    pub fn input(mut self, lavfi: &str) -> Clip {
        self.args.extend(["-f", "lavfi", "-i", lavfi].map(String::from));
        self
    }

    /// Adds raw ffmpeg output options.
    pub fn args(mut self, args: &[&str]) -> Clip {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// H.264 8-bit 4:2:0, fast to make.
    pub fn h264(self) -> Clip {
        self.args(&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    }

    /// AAC audio, cut to the video's length.
    pub fn aac(self) -> Clip {
        self.args(&["-c:a", "aac", "-shortest"])
    }

    /// Writes the clip as `name` in a fresh temp dir.
    pub fn write(self, name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let path_str = path.to_str().expect("utf-8 path").to_owned();
        args.push(&path_str);
        ffmpeg(&args);
        (dir, path)
    }
}

/// A player's beacon batch of one view that has just started: view start,
/// first frame after 450 ms and 2 s watched, all at 360p (3 events, 2450 ms).
pub fn beacon_batch(view_id: &str, asset_id: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    serde_json::json!({
        "view_id": view_id, "asset_id": asset_id, "player": "hls.js",
        "events": [
            {"seq": 0, "type": "view_start", "t": now - 3000},
            {"seq": 1, "type": "first_frame", "t": now - 2500, "ms": 450, "rendition": "360p"},
            {"seq": 2, "type": "watch", "t": now - 1000, "ms": 2000, "rendition": "360p"},
        ],
    })
}

/// Today in UTC as `YYYY-MM-DD`, as the server's day of a beacon.
pub fn utc_today() -> String {
    let today = Command::new("date").args(["-u", "+%F"]).output().expect("date");
    String::from_utf8_lossy(&today.stdout).trim().to_owned()
}
