//! `cdlc transcode` on the kinds of files people really upload.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::support::{cdlc_transcode, ffmpeg, files_under, grey_frame, mean_rgb, stderr};
use crate::verify::{verify_stream, Expect, RungSeen};

/// Generates `name` in a fresh temp dir with `ffmpeg ARGS… name`.
fn generate(name: &str, args: &[&str]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let mut all: Vec<&str> = args.to_vec();
    let path_str = path.to_str().expect("utf-8 path").to_owned();
    all.push(&path_str);
    ffmpeg(&all);
    (dir, path)
}

/// Transcodes `input` into `dir/out`, asserting success; returns stderr.
fn transcode_ok(input: &Path, dir: &TempDir, extra: &[&str]) -> (PathBuf, String) {
    let out = dir.path().join("out");
    let output = cdlc_transcode(input, &out, extra);
    let err = stderr(&output);
    assert!(output.status.success(), "cdlc transcode failed: {err}");
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("realtime"),
        "the summary gives the speed: {summary}"
    );
    (out, err)
}

fn sizes(rungs: &[RungSeen]) -> Vec<(u32, u32)> {
    rungs.iter().map(|r| (r.width, r.height)).collect()
}

#[test]
fn h264_aac_mp4_becomes_an_aligned_hls_and_dash_ladder() {
    let (dir, src) = generate(
        "source.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=854x480:r=30:d=4",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=4:sample_rate=44100",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    let (out, _) = transcode_ok(&src, &dir, &[]);
    let rungs = verify_stream(
        &out,
        &Expect {
            width: 854,
            height: 480,
            frames: 120..=120,
            audio: true,
        },
    );
    assert_eq!(sizes(&rungs), vec![(854, 480), (640, 360)]);

    // One set of media serves both formats: every file is a manifest, an
    // init segment or a media segment, and none is repeated.
    for file in files_under(&out) {
        assert!(
            file.ends_with(".m3u8")
                || file.ends_with(".mpd")
                || file.ends_with(".m4s")
                || file.ends_with("init.mp4"),
            "unexpected file {file}"
        );
    }
    // Colour survives: mean RGB of the same frame within a few levels.
    let before = mean_rgb(&src, 30);
    let after = mean_rgb(&out.join("480p/playlist.m3u8"), 30);
    for c in 0..3 {
        assert!(
            (before[c] - after[c]).abs() < 4.0,
            "colour shifted: source {before:?}, output {after:?}"
        );
    }
}

#[test]
fn bt601_sd_source_keeps_its_colours() {
    let (dir, src) = generate(
        "sd.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "smptebars=s=640x480:r=25:d=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-colorspace",
            "smpte170m",
            "-color_primaries",
            "smpte170m",
            "-color_trc",
            "smpte170m",
        ],
    );
    let (out, _) = transcode_ok(&src, &dir, &[]);
    verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 480,
            frames: 50..=50,
            audio: false,
        },
    );
    let before = mean_rgb(&src, 30);
    let after = mean_rgb(&out.join("480p/playlist.m3u8"), 30);
    for c in 0..3 {
        assert!(
            (before[c] - after[c]).abs() < 4.0,
            "colour shifted: source {before:?}, output {after:?}"
        );
    }
}

#[test]
fn vp9_webm_without_audio_gives_video_only_streams() {
    let (dir, src) = generate(
        "source.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=25:d=3",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "500k",
        ],
    );
    let (out, err) = transcode_ok(&src, &dir, &[]);
    assert!(
        err.contains("no audio"),
        "says the streams are video only: {err}"
    );
    let rungs = verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 360,
            frames: 75..=75,
            audio: false,
        },
    );
    assert_eq!(sizes(&rungs), vec![(640, 360)]);
}

/// Dominant frequency of a mono s16 signal, by counting zero crossings.
fn frequency(samples: &[i16], rate: f64) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / rate)
}

#[test]
fn mkv_with_two_audio_tracks_keeps_the_first_and_says_so() {
    let (dir, src) = generate(
        "source.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=30:d=3",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=3:sample_rate=48000",
            "-f",
            "lavfi",
            "-i",
            "sine=f=1000:d=3:sample_rate=48000",
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let (out, err) = transcode_ok(&src, &dir, &[]);
    assert!(
        err.contains("2 audio tracks; only the first is kept"),
        "stderr: {err}"
    );
    // Matroska's duration covers the AAC tracks' padding (3.02 s), so the
    // last frame may be held one frame longer to reach it.
    verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 360,
            frames: 90..=91,
            audio: true,
        },
    );

    let pcm = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(out.join("audio/playlist.m3u8"))
        .args(["-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg");
    let samples: Vec<i16> = pcm
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(samples.len() > 48000 * 2, "at least 2 s of audio decoded");
    let hz = frequency(&samples[4800..], 48000.0);
    assert!(
        (hz - 440.0).abs() < 20.0,
        "the kept track is the first (440 Hz), heard {hz:.0} Hz"
    );
}

#[test]
fn odd_sized_source_is_never_upscaled() {
    let (dir, src) = generate(
        "odd.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1918x1078:r=25:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=d=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    let (out, _) = transcode_ok(&src, &dir, &[]);
    let rungs = verify_stream(
        &out,
        &Expect {
            width: 1918,
            height: 1078,
            frames: 50..=50,
            audio: true,
        },
    );
    let heights: Vec<u32> = rungs.iter().map(|r| r.height).collect();
    assert_eq!(
        heights,
        vec![1078, 720, 480, 360],
        "the source's own size on top, then the default rungs below it"
    );
    for rung in &rungs {
        let aspect = rung.width as f64 / rung.height as f64;
        assert!(
            (aspect - 1918.0 / 1078.0).abs() < 0.01,
            "{rung:?} keeps the aspect ratio"
        );
    }
}

#[test]
fn rotated_phone_video_comes_out_upright() {
    // Stored landscape with a white band along the top, flagged to be shown
    // rotated by 90 degrees, as phones record portrait video.
    let (dir, src) = generate(
        "phone.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=320x180:r=30:d=2,drawbox=x=0:y=0:w=320:h=60:color=white:t=fill",
            "-f",
            "lavfi",
            "-i",
            "sine=d=2",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    crate::support::set_rotation_90(&src);
    let (out, _) = transcode_ok(&src, &dir, &[]);
    let rungs = verify_stream(
        &out,
        &Expect {
            width: 180,
            height: 320,
            frames: 60..=60,
            audio: true,
        },
    );
    assert_eq!(sizes(&rungs), vec![(180, 320)], "portrait, as displayed");

    // ffmpeg applies the rotation when it decodes the source; the output
    // must look the same with no rotation to apply.
    let shown = grey_frame(&src, 30, 180, 320);
    let ours = grey_frame(&out.join("180p/playlist.m3u8"), 30, 180, 320);
    let differing = shown
        .iter()
        .zip(&ours)
        .filter(|(a, b)| a.abs_diff(**b) > 40)
        .count();
    assert!(
        differing < shown.len() / 50,
        "{differing} of {} pixels differ from the upright source",
        shown.len()
    );
    let bright = |img: &[u8]| img.iter().filter(|p| **p > 128).count();
    assert!(bright(&ours) > shown.len() / 6, "the white band is there");
}

#[test]
fn variable_frame_rate_source_comes_out_at_a_constant_rate() {
    // Drop two frames of every five: timestamps with irregular gaps.
    let (dir, src) = generate(
        "vfr.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=30:d=3",
            "-vf",
            "select='not(between(mod(n,5),1,2))'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let (out, _) = transcode_ok(&src, &dir, &[]);
    // videorate fills the gaps: ~3 s at the planned rate, whatever the file declares.
    let master = std::fs::read_to_string(out.join("master.m3u8")).expect("master");
    let fps: f64 = master
        .split("FRAME-RATE=")
        .nth(1)
        .and_then(|s| s.split([',', '\n']).next())
        .and_then(|s| s.parse().ok())
        .expect("FRAME-RATE");
    let expected = (3.0 * fps).round() as u64;
    verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 360,
            frames: expected - 2..=expected + 1,
            audio: false,
        },
    );
}

#[test]
fn interlaced_source_is_deinterlaced() {
    let (dir, src) = generate(
        "interlaced.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=720x576:r=25:d=2",
            "-vf",
            "setfield=tff",
            "-flags",
            "+ilme+ildct",
            "-top",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-x264opts",
            "tff=1",
        ],
    );
    let (out, err) = transcode_ok(&src, &dir, &[]);
    assert!(err.contains("interlaced"), "says it deinterlaced: {err}");
    let rungs = verify_stream(
        &out,
        &Expect {
            width: 720,
            height: 576,
            frames: 50..=50,
            audio: false,
        },
    );
    let flags = crate::support::ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=interlaced_frame",
        "-of",
        "csv=p=0",
        out.join(&rungs[0].uri).to_str().expect("utf-8"),
    ]);
    let source_flags = crate::support::ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=interlaced_frame",
        "-of",
        "csv=p=0",
        src.to_str().expect("utf-8"),
    ]);
    let interlaced = |text: &str| -> Vec<bool> {
        text.lines()
            .filter_map(|l| l.split(',').next())
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim() == "1")
            .collect()
    };
    assert!(
        interlaced(&source_flags).iter().any(|i| *i),
        "the generated source is interlaced"
    );
    let output_flags = interlaced(&flags);
    assert_eq!(output_flags.len(), 50);
    assert!(
        output_flags.iter().all(|i| !i),
        "every output frame is progressive: {flags}"
    );
}

#[test]
fn hevc_10bit_mp4_is_transcoded() {
    let (dir, src) = generate(
        "hevc10.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=24:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=d=2",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    let (out, _) = transcode_ok(&src, &dir, &[]);
    verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 360,
            frames: 48..=48,
            audio: true,
        },
    );
}

#[test]
fn prores_422_10bit_mov_is_transcoded() {
    let (dir, src) = generate(
        "prores.mov",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=25:d=2",
            "-f",
            "lavfi",
            "-i",
            "sine=d=2:sample_rate=48000",
            "-c:v",
            "prores_ks",
            "-profile:v",
            "2",
            "-pix_fmt",
            "yuv422p10le",
            "-c:a",
            "pcm_s16le",
            "-shortest",
        ],
    );
    let (out, _) = transcode_ok(&src, &dir, &[]);
    verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 360,
            frames: 50..=50,
            audio: true,
        },
    );
}

#[test]
fn ladder_and_segment_duration_options_are_honoured() {
    let (dir, src) = generate(
        "source.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=30:d=4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let (out, _) = transcode_ok(
        &src,
        &dir,
        &[
            "--ladder",
            "1080:5000,360:600,240",
            "--segment-duration",
            "1",
        ],
    );
    let rungs = verify_stream(
        &out,
        &Expect {
            width: 640,
            height: 360,
            frames: 120..=120,
            audio: false,
        },
    );
    assert_eq!(sizes(&rungs), vec![(640, 360), (426, 240)]);
    let playlist = std::fs::read_to_string(out.join("360p/playlist.m3u8")).expect("playlist");
    assert_eq!(
        playlist.matches("#EXTINF:1.000,").count(),
        4,
        "four 1 s segments: {playlist}"
    );
    let master = std::fs::read_to_string(out.join("master.m3u8")).expect("master");
    let bandwidth: u64 = master
        .lines()
        .find(|l| l.contains("RESOLUTION=640x360"))
        .and_then(|l| l.split("AVERAGE-BANDWIDTH=").nth(1))
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("AVERAGE-BANDWIDTH");
    assert!(
        (300_000..=900_000).contains(&bandwidth),
        "360p near its 600 kbit/s: {bandwidth}"
    );
}
