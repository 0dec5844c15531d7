//! Bad input: one clear sentence on stderr, a non-zero exit, no panic, no
//! hang, and nothing left in OUTDIR.

use std::path::Path;
use std::process::Output;

use crate::support::{cdlc_transcode, files_under, stderr, Clip};

/// Asserts the run failed cleanly and its last line says `expected`.
fn assert_refused(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "cdlc should have failed: {err}");
    assert!(!err.contains("panicked"), "cdlc panicked: {err}");
    let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    assert!(last.starts_with("error: "), "the error is the last line: {err}");
    assert!(last.contains(expected), "expected {expected:?} in {last:?}");
    assert!(last.len() < 400, "one sentence, not a dump: {last}");
}

fn assert_no_output(outdir: &Path) {
    if outdir.exists() {
        assert_eq!(files_under(outdir), Vec::<String>::new(), "partial output left in {}", outdir.display());
    }
}

#[test]
fn a_text_file_is_not_a_video() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("notes.mp4");
    std::fs::write(&src, "these are my notes, not a movie\n".repeat(200)).expect("write");
    let out = dir.path().join("out");
    assert_refused(&cdlc_transcode(&src, &out, &[]), "not a video");
    assert!(!out.exists(), "OUTDIR not created for a refused file");
}

#[test]
fn an_empty_file_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("empty.mp4");
    std::fs::write(&src, b"").expect("write");
    let out = dir.path().join("out");
    assert_refused(&cdlc_transcode(&src, &out, &[]), "empty (0 bytes)");
    assert!(!out.exists());
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("nowhere.mp4");
    assert_refused(&cdlc_transcode(&src, &dir.path().join("out"), &[]), "nowhere.mp4");
}

#[test]
fn audio_only_file_has_no_video() {
    let (dir, src) = Clip::default().input("sine=d=2").args(&["-c:a", "aac"]).write("song.m4a");
    assert_refused(&cdlc_transcode(&src, &dir.path().join("out"), &[]), "no video stream");
}

/// A 6 s H.264 MP4, its index (moov) first or last.
fn six_second_mp4(moov_first: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let clip = Clip::video("testsrc2=s=640x360:r=30:d=6").h264();
    let clip = if moov_first { clip.args(&["-movflags", "+faststart"]) } else { clip };
    clip.write("source.mp4")
}

fn truncate_to_half(path: &Path) {
    let data = std::fs::read(path).expect("read");
    std::fs::write(path, &data[..data.len() / 2]).expect("write");
}

#[test]
fn a_truncated_file_leaves_nothing_behind() {
    // moov first, media cut in half: probing succeeds, decoding stops early.
    let (dir, src) = six_second_mp4(true);
    truncate_to_half(&src);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("an empty OUTDIR made by the user");
    let output = cdlc_transcode(&src, &out, &[]);
    let err = stderr(&output);
    assert!(err.contains("truncated") || err.contains("damaged"), "{err}");
    assert_refused(&output, "error: the source");
    assert_no_output(&out);
    assert!(out.exists(), "a directory the user made is kept");
}

#[test]
fn a_file_cut_before_its_index_is_incomplete() {
    // moov last and cut away: nothing can be read.
    let (dir, src) = six_second_mp4(false);
    truncate_to_half(&src);
    let out = dir.path().join("out");
    let output = cdlc_transcode(&src, &out, &[]);
    let err = stderr(&output);
    assert!(err.contains("incomplete") || err.contains("not a video"), "{err}");
    assert_refused(&output, "upload");
    assert_no_output(&out);
}

#[test]
fn an_absurd_picture_size_is_refused() {
    // A real, tiny H.264 file 10000 pixels wide: beyond any screen.
    let (dir, src) = Clip::video("color=s=10000x16:r=25:d=1").h264().write("wide.mp4");
    let out = dir.path().join("out");
    assert_refused(&cdlc_transcode(&src, &out, &[]), "10000x16 pixels, larger than the limit of 7680x4320");
    assert!(!out.exists());
}

#[test]
fn a_non_empty_outdir_is_not_touched() {
    let (dir, src) = six_second_mp4(true);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "mine").expect("write");
    assert_refused(&cdlc_transcode(&src, &out, &[]), "not empty");
    assert_eq!(files_under(&out), vec!["keep.txt".to_owned()]);
}

#[test]
fn bad_options_say_what_to_fix() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("ok.mp4");
    std::fs::write(&src, b"x").expect("write");
    let out = dir.path().join("out");
    let output = cdlc_transcode(&src, &out, &["--ladder", "720:fast"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("kbit/s"), "{}", stderr(&output));
    assert_refused(&cdlc_transcode(&src, &out, &["--segment-duration", "100"]), "--segment-duration");
    assert_refused(&cdlc_transcode(&src, &out, &["--preset", "warp"]), "--preset");
    assert!(!out.exists());
}

#[test]
fn a_moov_first_file_cut_anywhere_is_refused_as_truncated() {
    for keep in [0.5, 0.9] {
        let (dir, src) = six_second_mp4(true);
        let data = std::fs::read(&src).expect("read");
        std::fs::write(&src, &data[..(data.len() as f64 * keep) as usize]).expect("write");
        let out = dir.path().join("out");
        assert_refused(&cdlc_transcode(&src, &out, &[]), "the source is truncated or damaged");
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn animated_gif_and_nut_are_refused_at_once() {
    // GStreamer 1.22's libav demuxers never reach the end of these files:
    // refused in seconds with what to do, not after a two-minute stall.
    for (name, args) in [
        ("anim.gif", &["-f", "gif"][..]),
        ("raw.nut", &["-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-f", "nut"][..]),
    ] {
        let (dir, src) = Clip::video("testsrc2=s=160x120:r=10:d=2").args(args).write(name);
        let started = std::time::Instant::now();
        assert_refused(&cdlc_transcode(&src, &dir.path().join("out"), &[]), "convert it to MP4");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{name} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_transport_stream_with_flipped_bits_ends_soon() {
    // Damaged timestamps once sent videorate filling a gap of hours.
    let (dir, src) =
        Clip::video("testsrc2=s=320x240:r=25:d=3").h264().args(&["-f", "mpegts"]).write("base.ts");
    let clean = std::fs::read(&src).expect("read");
    for seed in 1..=6u64 {
        let mut data = clean.clone();
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for _ in 0..data.len() / 400 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % data.len();
            data[at] ^= 1 << ((state >> 29) & 7);
        }
        let damaged = dir.path().join(format!("flipped{seed}.ts"));
        std::fs::write(&damaged, &data).expect("write");
        let out = dir.path().join(format!("out{seed}"));
        let started = std::time::Instant::now();
        let output = cdlc_transcode(&damaged, &out, &[]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "seed {seed}: {:?}",
            started.elapsed()
        );
        if !output.status.success() {
            assert_refused(&output, "");
            assert_no_output(&out);
        }
    }
}

#[test]
fn dnxhr_in_mov_is_refused_by_name() {
    // qtdemux in GStreamer 1.22 does not map the `AVdh` code to avdec_dnxhd.
    let (dir, src) = Clip::video("testsrc2=s=320x240:r=25:d=1")
        .args(&["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"])
        .write("dnxhr.mov");
    assert_refused(&cdlc_transcode(&src, &dir.path().join("out"), &[]), "DNxHR video");
}
