//! The poster and the storyboard `cdlc transcode` writes beside the streams,
//! read back as a library page and a player's seek bar would use them.

use std::path::Path;

use crate::support::{cdlc_transcode, ffprobe, grey_frame, mean_rgb, mean_rgb_of_region, stderr, Clip};

/// Width and height of an image (or video) as ffprobe reads it.
fn picture_size(path: &Path) -> (u32, u32) {
    let text = ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,width,height",
        "-of",
        "csv=p=0",
        path.to_str().expect("utf-8"),
    ]);
    let fields: Vec<&str> = text.trim().split(',').collect();
    assert_eq!(fields.first(), Some(&"mjpeg"), "{} is a JPEG: {text}", path.display());
    let number = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).expect("width and height");
    (number(1), number(2))
}

/// One storyboard cue: its times in seconds and the tile it points at.
#[derive(Debug)]
struct Cue {
    start: f64,
    end: f64,
    image: String,
    tile: (u32, u32, u32, u32),
}

fn seconds(stamp: &str) -> f64 {
    let parts: Vec<f64> = stamp.trim().split(':').map(|p| p.parse().expect("a number")).collect();
    assert_eq!(parts.len(), 3, "hh:mm:ss.mmm, not {stamp:?}");
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

/// Parses a WebVTT storyboard, asserting its shape on the way.
fn parse_storyboard(vtt: &str) -> Vec<Cue> {
    let mut blocks = vtt.split("\n\n");
    assert_eq!(blocks.next().map(str::trim), Some("WEBVTT"), "the header: {vtt}");
    blocks
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let timing = lines.next().expect("a timing line");
            let (start, end) = timing.split_once(" --> ").expect("start --> end");
            let target = lines.next().expect("a tile line");
            assert!(lines.next().is_none(), "one tile per cue: {block}");
            let (image, fragment) = target.split_once("#xywh=").expect("image#xywh=x,y,w,h");
            let tile: Vec<u32> = fragment.split(',').map(|n| n.parse().expect("a number")).collect();
            assert_eq!(tile.len(), 4, "{target}");
            Cue {
                start: seconds(start),
                end: seconds(end),
                image: image.to_owned(),
                tile: (tile[0], tile[1], tile[2], tile[3]),
            }
        })
        .collect()
}

/// Checks a storyboard against the sprite it names and the video's
/// duration; returns its cues.
fn check_storyboard(out: &Path, duration: f64) -> Vec<Cue> {
    let vtt = std::fs::read_to_string(out.join("storyboard.vtt")).expect("storyboard.vtt");
    let cues = parse_storyboard(&vtt);
    assert!(!cues.is_empty(), "{vtt}");
    let (sprite_width, sprite_height) = picture_size(&out.join("storyboard.jpg"));
    assert_eq!(cues[0].start, 0.0, "starts at 0: {vtt}");
    for pair in cues.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "cues are back to back: {pair:?}");
    }
    let last = cues.last().expect("a cue");
    assert!((last.end - duration).abs() < 0.05, "the cues cover the {duration} s video: {last:?}");
    for cue in &cues {
        assert!(cue.end > cue.start, "{cue:?}");
        assert_eq!(cue.image, "storyboard.jpg", "relative to the index");
        let (x, y, w, h) = cue.tile;
        assert!(
            w > 0 && h > 0 && x + w <= sprite_width && y + h <= sprite_height,
            "{cue:?} lies inside the {sprite_width}x{sprite_height} sprite"
        );
    }
    cues
}

fn close(a: [f64; 3], b: [f64; 3], tolerance: f64) -> bool {
    (0..3).all(|c| (a[c] - b[c]).abs() < tolerance)
}

#[test]
fn stills_poster_skips_a_black_opening_and_the_storyboard_follows_the_video() {
    // No audio. Black for the first 1.5 s, then the left half of testsrc2's
    // bars (red to yellow) with a hue that turns 30 degrees a second, so
    // every moment has a mean colour of its own.
    let (dir, src) = Clip::video(
        "testsrc2=s=1280x360:r=30:d=12,crop=640:360:0:0,hue=H=PI*t/6,drawbox=c=black:t=fill:enable='lt(t\\,1.5)'",
    )
            .h264()
            .args(&["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"])
            .write("source.mp4");
    let out = dir.path().join("out");
    let output = cdlc_transcode(&src, &out, &[]);
    assert!(output.status.success(), "cdlc transcode failed: {}", stderr(&output));
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("poster.jpg") && summary.contains("storyboard.vtt"), "{summary}");

    // The poster: the top rung's size, a real picture from after the black
    // opening. At 10 % of 12 s (1.2 s) the video is black, so it is the
    // frame a second later: 2.2 s, frame 66.
    let poster = out.join("poster.jpg");
    assert_eq!(picture_size(&poster), (640, 360));
    let shown = mean_rgb(&poster, 0);
    let expected = mean_rgb(&src, 66);
    assert!(shown.iter().sum::<f64>() / 3.0 > 40.0, "not black: {shown:?}");
    assert!(close(shown, expected, 6.0), "the poster is frame 66 of the source: {shown:?} vs {expected:?}");
    let later = mean_rgb(&src, 150);
    assert!(
        !close(expected, later, 12.0),
        "the source's colours change with time: {expected:?} vs {later:?}"
    );
    let grey = grey_frame(&poster, 0, 64, 36);
    let spread = grey.iter().max().copied().unwrap_or(0) - grey.iter().min().copied().unwrap_or(0);
    assert!(spread > 100, "the poster is a picture, not a flat colour (luma spread {spread})");

    // The storyboard: a tile a second, each showing its moment of the video.
    let cues = check_storyboard(&out, 12.0);
    assert_eq!(cues.len(), 12, "12 s at one tile a second");
    assert_eq!(picture_size(&out.join("storyboard.jpg")), (1600, 180), "10 tiles of 160x90 a row");
    for second in [0usize, 3, 7, 11] {
        let cue = &cues[second];
        assert_eq!((cue.start, cue.tile.2, cue.tile.3), (second as f64, 160, 90), "{cue:?}");
        let tile = mean_rgb_of_region(&out.join("storyboard.jpg"), cue.tile);
        let source = mean_rgb(&src, second as u32 * 30);
        assert!(close(tile, source, 8.0), "tile {second} shows second {second}: {tile:?} vs {source:?}");
    }
}

#[test]
fn stills_of_a_rotated_phone_video_are_upright() {
    // Stored landscape with a white band along the top, flagged to be shown
    // rotated by 90 degrees (portrait), with audio.
    let (dir, src) =
        Clip::video("color=c=black:s=320x180:r=30:d=2,drawbox=x=0:y=0:w=320:h=60:color=white:t=fill")
            .input("sine=d=2")
            .args(&["-map", "0:v", "-map", "1:a"])
            .h264()
            .aac()
            .write("phone.mp4");
    crate::support::set_rotation_90(&src);
    let out = dir.path().join("out");
    let output = cdlc_transcode(&src, &out, &[]);
    assert!(output.status.success(), "cdlc transcode failed: {}", stderr(&output));

    let poster = out.join("poster.jpg");
    assert_eq!(picture_size(&poster), (180, 320), "portrait, as displayed");
    let shown = grey_frame(&src, 6, 180, 320);
    let ours = grey_frame(&poster, 0, 180, 320);
    let differing = shown.iter().zip(&ours).filter(|(a, b)| a.abs_diff(**b) > 40).count();
    assert!(
        differing < shown.len() / 50,
        "{differing} of {} pixels differ from the upright source",
        shown.len()
    );

    let cues = check_storyboard(&out, 2.0);
    assert_eq!(cues.len(), 2);
    assert_eq!((cues[1].tile.2, cues[1].tile.3), (160, 284), "portrait tiles, 160 wide");
    assert_eq!(picture_size(&out.join("storyboard.jpg")), (320, 284));
}
