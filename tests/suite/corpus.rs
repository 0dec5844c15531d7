//! The hostile corpus: about a hundred files of every codec, container,
//! picture and audio layout people upload, and damaged ones, generated here
//! with ffmpeg. Each goes through the real `cdlc transcode` (and a burst of
//! the worst through `cdlc serve`), and each must end one of two ways: a
//! stream ffmpeg plays, or one sentence that says why not and nothing left
//! behind. A panic, a crash, a hang or a half-written stream is a defect.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use m3u8_rs::Playlist;

use crate::server::{Server, TOKEN};
use crate::support::{
    cdlc_transcode_within, decode_all, decoded_video_frames, ffmpeg, ffprobe, files_under, set_rotation_90,
    stderr,
};
use crate::verify::{self, verify_stream};

/// Longest a healthy file of this corpus takes is a few seconds; a run
/// past this is a hang.
const PER_FILE_TIMEOUT: Duration = Duration::from_secs(60);
/// The machines have two cores: never more transcodes at once.
const AT_ONCE: usize = 2;

/// What a user expects `cdlc` to do with a file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Packaged,
    Refused,
    /// Damaged but maybe still readable: a playable stream or a clear refusal are both right.
    Either,
}

/// How many frames the packaged stream must decode to.
#[derive(Debug, Clone, Copy)]
enum Frames {
    /// ffprobe's count of the source, ±2.
    Source,
    /// From ffprobe's count of the source −2 up to this many frames
    /// (the picture may be held to cover longer audio).
    SourceUpTo(u64),
    /// Not counted: variable frame rate, or damaged.
    Skip,
}

#[derive(Debug, Clone)]
enum Damage {
    /// Keeps this fraction of the bytes.
    Truncate(f64),
    /// Flips one random bit in every `one_in` bytes (at least one), seeded.
    FlipBits { seed: u64, one_in: usize },
    /// Overwrites the 32-bit size of the first box of this type.
    BoxSize { fourcc: [u8; 4], size: u32 },
    /// Keeps the first `boxes` top-level boxes and replaces the rest with
    /// as many random bytes.
    BoxesThenGarbage { boxes: usize },
}

#[derive(Debug, Clone)]
enum Source {
    /// ffmpeg inputs and output options; `{side}` names the folder of side
    /// files (subtitles, a cover picture). `then` edits the result.
    Ffmpeg {
        inputs: Vec<String>,
        outputs: Vec<String>,
        then: Option<fn(&Path)>,
    },
    Bytes(Vec<u8>),
    Damaged {
        base: &'static str,
        damage: Damage,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    source: Source,
    expect: Expect,
    /// Displayed size (after rotation) of an undamaged source.
    shown: (u32, u32),
    audio: bool,
    frames: Frames,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A clip of testsrc2 pictures at `w`x`h`, `rate` frames per second (an
/// ffmpeg rate: `25`, `30000/1001`), `seconds` long, with no audio yet.
fn clip(name: &'static str, (w, h): (u32, u32), rate: &str, seconds: f64) -> Entry {
    let video = format!("testsrc2=s={w}x{h}:r={rate}:d={seconds}");
    Entry {
        name: name.to_owned(),
        source: Source::Ffmpeg {
            inputs: strings(&["-f", "lavfi", "-i", &video]),
            outputs: vec![],
            then: None,
        },
        expect: Expect::Packaged,
        shown: (w, h),
        audio: false,
        frames: Frames::Source,
    }
}

/// The common case: 320x240 at 25 fps, 2 s.
fn small(name: &'static str) -> Entry {
    clip(name, (320, 240), "25", 2.0)
}

fn damaged(name: &str, base: &'static str, damage: Damage, expect: Expect) -> Entry {
    Entry {
        name: name.to_owned(),
        source: Source::Damaged { base, damage },
        expect,
        shown: (0, 0),
        audio: false,
        frames: Frames::Skip,
    }
}

fn bytes(name: &'static str, data: Vec<u8>) -> Entry {
    Entry {
        name: name.to_owned(),
        source: Source::Bytes(data),
        expect: Expect::Refused,
        shown: (0, 0),
        audio: false,
        frames: Frames::Skip,
    }
}

impl Entry {
    fn inputs(&mut self) -> &mut Vec<String> {
        match &mut self.source {
            Source::Ffmpeg { inputs, .. } => inputs,
            _ => unreachable!("only ffmpeg sources have inputs"),
        }
    }

    /// Adds an input: a side file (`{side}/…`) or else a lavfi graph.
    fn input(self, input: &str) -> Entry {
        if input.starts_with("{side}") {
            self.input_args(&["-i", input])
        } else {
            self.input_args(&["-f", "lavfi", "-i", input])
        }
    }

    fn input_args(mut self, args: &[&str]) -> Entry {
        self.inputs().extend(strings(args));
        self
    }

    /// Adds the lavfi audio graph `graph`.
    fn sound(mut self, graph: &str) -> Entry {
        self.audio = true;
        self.input(graph)
    }

    /// Adds a sine tone of `seconds` as audio.
    fn tone(self, seconds: f64) -> Entry {
        self.sound(&format!("sine=f=440:d={seconds}"))
    }

    fn out(mut self, args: &[&str]) -> Entry {
        if let Source::Ffmpeg { outputs, .. } = &mut self.source {
            outputs.extend(strings(args));
        }
        self
    }

    fn x264(self) -> Entry {
        self.out(&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    }

    fn aac(self) -> Entry {
        self.out(&["-c:a", "aac"])
    }

    fn then(mut self, edit: fn(&Path)) -> Entry {
        if let Source::Ffmpeg { then, .. } = &mut self.source {
            *then = Some(edit);
        }
        self
    }

    fn shown(mut self, w: u32, h: u32) -> Entry {
        self.shown = (w, h);
        self
    }

    fn frames(mut self, frames: Frames) -> Entry {
        self.frames = frames;
        self
    }

    /// Not a video at all.
    fn refused(mut self) -> Entry {
        self.expect = Expect::Refused;
        self.frames = Frames::Skip;
        self
    }
}

/// Every file of the corpus. The names say what each one is.
fn corpus() -> Vec<Entry> {
    let open_gop = ["-x264-params", "open-gop=1:keyint=25", "-bf", "3"];
    let x265 = ["-c:v", "libx265", "-x265-params", "log-level=error"];
    let vp9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"];
    let mut entries = vec![
        // Codecs and containers.
        small("h264_aac.mp4").tone(2.0).x264().aac(),
        clip("h264_aac_faststart.mp4", (320, 240), "25", 3.0).tone(3.0).x264().aac().out(&["-movflags", "+faststart"]),
        clip("h264_open_gop.mp4", (320, 240), "25", 3.0).x264().out(&open_gop),
        clip("h264_open_gop.mkv", (320, 240), "25", 3.0).tone(3.0).x264().out(&open_gop).aac(),
        clip("h264_open_gop.ts", (320, 240), "25", 3.0).tone(3.0).x264().out(&open_gop).aac(),
        // B-frames in a closed GOP, with and without audio, to tell them from the open GOP above.
        clip("h264_bframes.mkv", (320, 240), "25", 3.0).tone(3.0).out(&["-c:v", "libx264", "-preset", "veryfast"]).aac(),
        clip("h264_bframes_no_audio.mkv", (320, 240), "25", 3.0).out(&["-c:v", "libx264", "-preset", "veryfast"]),
        // No B-frames: what the MKV damage below starts from.
        clip("h264_aac.mkv", (320, 240), "25", 3.0).tone(3.0).x264().aac(),
        small("h264_high422.mov").out(&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv422p"]),
        small("h264_high444.mp4").out(&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]),
        small("h264_10bit.mkv").out(&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le"]),
        small("h264_rgb24.mkv").out(&["-c:v", "libx264rgb", "-preset", "ultrafast", "-pix_fmt", "rgb24"]),
        small("h264_aac.flv").tone(2.0).x264().aac(),
        small("h264_data_stream.ts")
            .input_args(&["-f", "data", "-i", "{side}/blob.bin"])
            .x264()
            .out(&["-map", "0:v", "-map", "1:d", "-c:d", "copy"]),
        small("hevc_bframes.mp4").tone(2.0).out(&x265).out(&["-tag:v", "hvc1"]).aac(),
        small("hevc.mkv").tone(2.0).out(&x265).aac(),
        small("hevc_10bit.mkv").out(&x265).out(&["-pix_fmt", "yuv420p10le"]),
        small("hevc.ts").tone(2.0).out(&x265).aac(),
        small("vp8_vorbis.webm").tone(2.0).out(&["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"]).out(&[
            "-b:v", "300k", "-c:a", "libvorbis",
        ]),
        small("vp9_opus.webm").tone(2.0).out(&vp9).out(&["-c:a", "libopus"]),
        small("vp9_yuv444.webm").out(&vp9).out(&["-pix_fmt", "yuv444p"]),
        small("vp9_10bit.mkv").out(&vp9).out(&["-pix_fmt", "yuv420p10le"]),
        clip("vp9_odd_321x241.webm", (321, 241), "25", 2.0).out(&vp9),
        small("av1_svt.mkv").tone(2.0).out(&["-c:v", "libsvtav1", "-preset", "12", "-c:a", "libopus"]),
        small("av1_svt.mp4").out(&["-c:v", "libsvtav1", "-preset", "12"]),
        clip("av1_aom.webm", (160, 120), "25", 1.0).out(&["-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime"]),
        small("mpeg2_mp2.ts").tone(2.0).out(&["-c:v", "mpeg2video", "-c:a", "mp2"]),
        clip("mpeg2_pcm.mxf", (352, 288), "25", 2.0).tone(2.0).out(&["-c:v", "mpeg2video", "-c:a", "pcm_s16le", "-ar", "48000"]),
        small("mpeg4_mp3.avi").tone(2.0).out(&["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
        small("mpeg4_aac.mp4").tone(2.0).out(&["-c:v", "mpeg4"]).aac(),
        small("flv1_mp3.flv").tone(2.0).out(&["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"]),
        small("prores_proxy.mov").tone(2.0).out(&["-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s16le"]),
        small("prores_4444.mov").out(&["-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuva444p10le"]),
        // GStreamer 1.22's qtdemux has no mapping for DNxHR's AVdh sample
        // entry (its MXF demuxer has one): refused by name, with what to do.
        small("dnxhr_lb.mov")
            .tone(2.0)
            .out(&["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"])
            .out(&["-c:a", "pcm_s16le"])
            .refused(),
        small("dnxhr_lb.mxf").out(&["-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p"]),
        small("mjpeg_pcm.avi").tone(2.0).out(&["-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-c:a", "pcm_s16le"]),
        small("mjpeg.mov").out(&["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
        // A GIF's delays are in hundredths of a second: counted by the planned rate, not ffprobe's.
        // GIF and NUT go through libav demuxers that never reach the end of
        // the stream in GStreamer 1.22: refused at once, with a conversion to run.
        clip("animated.gif", (160, 120), "10", 2.0).out(&["-c:v", "gif"]).frames(Frames::Skip).refused(),
        clip("rawvideo_yuv420p.nut", (160, 120), "25", 2.0)
            .out(&["-c:v", "rawvideo", "-pix_fmt", "yuv420p"])
            .refused(),
        clip("rawvideo_bgr24.avi", (160, 120), "25", 2.0).out(&["-c:v", "rawvideo", "-pix_fmt", "bgr24"]),
        small("theora_vorbis.ogg").tone(2.0).out(&["-c:v", "libtheora", "-q:v", "5", "-c:a", "libvorbis"]),
        // Pictures: sizes, shapes, rates, lengths.
        clip("h264_444_odd_321x241.mp4", (321, 241), "25", 2.0).out(&[
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p",
        ]),
        clip("tiny_16x16.mp4", (16, 16), "25", 2.0).x264(),
        clip("portrait_240x320.mp4", (240, 320), "30", 2.0).tone(2.0).x264().aac(),
        clip("fps_23.976.mp4", (320, 240), "24000/1001", 2.0).tone(2.0).x264().aac(),
        clip("fps_29.97.mov", (320, 240), "30000/1001", 2.0).tone(2.0).x264().aac(),
        clip("fps_50.mkv", (320, 240), "50", 2.0).x264(),
        clip("fps_60.mp4", (320, 240), "60", 2.0).tone(2.0).x264().aac(),
        clip("vfr.mp4", (320, 240), "30", 3.0)
            .x264()
            .out(&["-vf", "select='not(between(mod(n,5),1,2))'", "-fps_mode", "vfr"])
            .frames(Frames::Skip),
        small("one_frame.mp4").x264().out(&["-frames:v", "1"]),
        clip("long_20s.mp4", (160, 120), "25", 20.0).tone(20.0).x264().aac(),
        clip("rotated_90.mp4", (320, 180), "30", 2.0).tone(2.0).x264().aac().then(set_rotation_90).shown(180, 320),
        clip("rotated_90.mov", (320, 180), "30", 2.0).x264().then(set_rotation_90).shown(180, 320),
        // Streams beside the video.
        small("subs_srt.mkv").input("{side}/subs.srt").x264().out(&["-map", "0", "-map", "1", "-c:s", "srt"]),
        small("subs_webvtt.mkv").input("{side}/subs.vtt").x264().out(&["-map", "0", "-map", "1", "-c:s", "webvtt"]),
        small("subs_webvtt.webm").input("{side}/subs.vtt").out(&vp9).out(&["-map", "0", "-map", "1", "-c:s", "webvtt"]),
        small("subs_mov_text.mp4").tone(2.0).input("{side}/subs.srt").x264().aac().out(&[
            "-map", "0", "-map", "1", "-map", "2", "-c:s", "mov_text",
        ]),
        // The cover is a one-frame MJPEG track ahead of the film.
        small("cover_first.mkv").input("{side}/cover.jpg").x264().out(&[
            "-map", "1", "-map", "0", "-c:v:0", "mjpeg", "-c:v:1", "libx264",
        ]),
        small("cover_attachment.mkv").x264().out(&[
            "-attach", "{side}/cover.jpg", "-metadata:s:t", "mimetype=image/jpeg", "-metadata:s:t", "filename=cover.jpg",
        ]),
        small("cover_art.mp4").tone(2.0).input("{side}/cover.jpg").out(&[
            "-map", "2", "-map", "0:v", "-map", "1", "-c:v:0", "copy", "-disposition:v:0", "attached_pic",
            "-c:v:1", "libx264", "-preset", "ultrafast", "-c:a", "aac",
        ]),
        small("attachment_text.mkv").x264().out(&["-attach", "{side}/subs.srt", "-metadata:s:t", "mimetype=text/plain"]),
        small("timecode_track.mov").tone(2.0).x264().aac().out(&["-timecode", "01:00:00:00"]),
        small("timecode_data.mp4").x264().out(&["-timecode", "10:00:00:00", "-write_tmcd", "1"]),
        // Audio layouts.
        small("audio_mono_44k.mp4").tone(2.0).x264().aac().out(&["-ac", "1", "-ar", "44100"]),
        small("audio_5.1_aac.mp4")
            .sound("aevalsrc=sin(440*2*PI*t)|sin(550*2*PI*t)|sin(660*2*PI*t)|0.1*sin(50*2*PI*t)|sin(770*2*PI*t)|sin(880*2*PI*t):c=5.1:d=2")
            .x264()
            .aac(),
        small("audio_5.1_ac3.mkv")
            .sound("aevalsrc=sin(440*2*PI*t)|sin(550*2*PI*t)|sin(660*2*PI*t)|0.1*sin(50*2*PI*t)|sin(770*2*PI*t)|sin(880*2*PI*t):c=5.1:d=2")
            .x264()
            .out(&["-c:a", "ac3"]),
        small("audio_two_tracks.mp4")
            .tone(2.0)
            .sound("sine=f=1000:d=2")
            .x264()
            .aac()
            .out(&["-map", "0", "-map", "1", "-map", "2"]),
        small("audio_8khz.mov").tone(2.0).x264().out(&["-c:a", "pcm_s16le", "-ar", "8000", "-ac", "1"]),
        small("audio_96khz.mkv").tone(2.0).x264().out(&["-c:a", "flac", "-ar", "96000"]),
        // The picture may be held to the end of the sound.
        small("audio_longer_than_video.mp4").tone(3.0).x264().aac().frames(Frames::SourceUpTo(3 * 25 + 2)),
        clip("video_longer_than_audio.mkv", (320, 240), "25", 3.0).tone(1.0).x264().aac(),
        // Not videos.
        small("audio_only.m4a").tone(2.0).out(&["-map", "1", "-c:a", "aac"]).refused(),
        small("picture_renamed.mp4").out(&["-frames:v", "1", "-c:v", "mjpeg", "-f", "image2"]).refused(),
    ];

    use Damage::*;
    use Expect::{Either, Refused};
    // Cut: with the index last nothing can be read; with the index first, what is
    // left plays but is not the film, so it is refused unless almost all of it is there.
    for (name, keep) in [
        ("cut_10pct_moov_last.mp4", 0.10),
        ("cut_50pct_moov_last.mp4", 0.50),
        ("cut_90pct_moov_last.mp4", 0.90),
        ("cut_99pct_moov_last.mp4", 0.99),
    ] {
        entries.push(damaged(name, "h264_aac.mp4", Truncate(keep), Refused));
    }
    for (name, keep, expect) in [
        ("cut_10pct_moov_first.mp4", 0.10, Refused),
        ("cut_50pct_moov_first.mp4", 0.50, Refused),
        ("cut_90pct_moov_first.mp4", 0.90, Refused),
        ("cut_99pct_moov_first.mp4", 0.99, Either),
        ("cut_50pct.mkv", 0.50, Either),
        ("cut_90pct.mkv", 0.90, Either),
        ("cut_50pct.ts", 0.50, Either),
    ] {
        let base = match name.rsplit('.').next() {
            Some("mkv") => "h264_aac.mkv",
            Some("ts") => "h264_open_gop.ts",
            _ => "h264_aac_faststart.mp4",
        };
        entries.push(damaged(name, base, Truncate(keep), expect));
    }
    for (name, base) in [
        ("flips_{}.mp4", "h264_aac_faststart.mp4"),
        ("flips_{}.mkv", "h264_aac.mkv"),
        ("flips_{}.ts", "h264_open_gop.ts"),
    ] {
        // Densities from a bit in 100 kB to one in 100 bytes; seed 2 at one in 1000 made the TS hang cdlc.
        for (seed, one_in) in [(1u64, 100_000usize), (2, 10_000), (2, 1_000), (3, 300), (5, 100)] {
            let name = name.replace("{}", &format!("1_in_{one_in}"));
            entries.push(damaged(&name, base, FlipBits { seed, one_in }, Either));
        }
    }
    for (name, fourcc, size) in [
        ("lying_moov_size.mp4", *b"moov", 0x7fff_fff0),
        ("lying_mdat_size.mp4", *b"mdat", 16),
        ("lying_trak_size.mp4", *b"trak", 8),
        ("lying_stsz_size.mp4", *b"stsz", 0xffff),
        ("lying_ftyp_size.mp4", *b"ftyp", 3),
    ] {
        entries.push(damaged(name, "h264_aac_faststart.mp4", BoxSize { fourcc, size }, Either));
    }
    entries.push(damaged(
        "mp4_header_then_garbage.mp4",
        "h264_aac.mp4",
        BoxesThenGarbage { boxes: 1 },
        Refused,
    ));
    entries.push(damaged(
        "moov_then_garbage.mp4",
        "h264_aac_faststart.mp4",
        BoxesThenGarbage { boxes: 3 },
        Either,
    ));
    entries.push(bytes("random_bytes.mp4", Rng(7).bytes(200_000)));
    entries.push(bytes("text_renamed.mp4", "these are my notes, not a movie\n".repeat(300).into_bytes()));
    entries.push(bytes("zero_bytes.mp4", Vec::new()));
    entries
}

/// xorshift64*: the same damage on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Top-level boxes of an MP4: (offset, size).
fn top_level_boxes(data: &[u8]) -> Vec<(usize, usize)> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = match u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) {
            0 => data.len() - at,
            1 if at + 16 <= data.len() => {
                u64::from_be_bytes(data[at + 8..at + 16].try_into().expect("8 bytes")) as usize
            }
            n => n as usize,
        };
        if size < 8 {
            break;
        }
        boxes.push((at, size.min(data.len() - at)));
        at += size;
    }
    boxes
}

fn damage(data: &[u8], damage: &Damage) -> Vec<u8> {
    let mut data = data.to_vec();
    match damage {
        Damage::Truncate(keep) => data.truncate((data.len() as f64 * keep) as usize),
        Damage::FlipBits { seed, one_in } => {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
            for _ in 0..(data.len() / one_in).max(1) {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
        }
        Damage::BoxSize { fourcc, size } => {
            let at = data.windows(4).position(|w| w == fourcc).expect("the box to patch") - 4;
            data[at..at + 4].copy_from_slice(&size.to_be_bytes());
        }
        Damage::BoxesThenGarbage { boxes } => {
            let (at, size) = top_level_boxes(&data)[boxes - 1];
            let kept = at + size;
            let garbage = Rng(11).bytes(data.len() - kept);
            data[kept..].copy_from_slice(&garbage);
        }
    }
    data
}

/// Side files the ffmpeg sources read.
fn write_side_files(side: &Path) {
    std::fs::create_dir_all(side).expect("side folder");
    let srt = "1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,000 --> 00:00:02,000\nWorld\n";
    std::fs::write(side.join("subs.srt"), srt).expect("srt");
    let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n\n00:00:01.000 --> 00:00:02.000\nWorld\n";
    std::fs::write(side.join("subs.vtt"), vtt).expect("vtt");
    std::fs::write(side.join("blob.bin"), Rng(5).bytes(20_000)).expect("blob");
    let cover = side.join("cover.jpg");
    ffmpeg(&["-f", "lavfi", "-i", "smptebars=s=160x120", "-frames:v", "1", cover.to_str().expect("utf-8")]);
}

/// Runs `job` on every item, at most [`AT_ONCE`] at a time; results in order.
fn two_at_a_time<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..AT_ONCE {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let result = job(item);
                results.lock().expect("results")[i] = Some(result);
            });
        }
    });
    results.into_inner().expect("results").into_iter().map(|r| r.expect("every job ran")).collect()
}

/// Writes `entries` (and the files they are damaged from) into `dir`;
/// returns each entry's path.
fn generate(entries: &[Entry], dir: &Path) -> Vec<PathBuf> {
    let side = dir.join("side");
    write_side_files(&side);
    let side = side.to_str().expect("utf-8").to_owned();
    let make = |entry: &Entry| {
        let path = dir.join(&entry.name);
        match &entry.source {
            Source::Ffmpeg { inputs, outputs, then } => {
                let mut args: Vec<String> =
                    inputs.iter().chain(outputs).map(|a| a.replace("{side}", &side)).collect();
                args.push(path.to_str().expect("utf-8").to_owned());
                ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
                if let Some(edit) = then {
                    edit(&path);
                }
            }
            Source::Bytes(data) => std::fs::write(&path, data).expect("write"),
            Source::Damaged { .. } => {}
        }
    };
    // What the damaged files are made from, even when those are not asked for.
    let all = corpus();
    let mut firsts: Vec<&Entry> =
        entries.iter().filter(|e| !matches!(e.source, Source::Damaged { .. })).collect();
    for entry in entries {
        if let Source::Damaged { base, .. } = &entry.source {
            if !firsts.iter().any(|e| e.name == *base) {
                firsts.push(all.iter().find(|e| e.name == *base).expect("damage of a corpus file"));
            }
        }
    }
    two_at_a_time(&firsts, |e| make(e));
    for entry in entries {
        if let Source::Damaged { base, damage: how } = &entry.source {
            let data = std::fs::read(dir.join(base)).expect("base file");
            std::fs::write(dir.join(&entry.name), damage(&data, how)).expect("write damaged");
        }
    }
    entries.iter().map(|e| dir.join(&e.name)).collect()
}

/// ffprobe's count of the frames of the source's film: its longest video
/// stream (a cover picture is a stream of one frame).
fn source_frames(path: &Path) -> u64 {
    let counts = ffprobe(&[
        "-count_frames",
        "-select_streams",
        "v",
        "-show_entries",
        "stream=nb_read_frames",
        "-of",
        "csv=p=0",
        path.to_str().expect("utf-8"),
    ]);
    counts.lines().filter_map(|l| l.trim().trim_end_matches(',').parse::<u64>().ok()).max().unwrap_or(0)
}

#[derive(Debug)]
enum Outcome {
    Packaged,
    Refused(String),
    /// A crash, a hang, an exit code other than 0 or 1, a stream that does
    /// not play, a refusal that is not one sentence or leaves files.
    Broken(String),
}

/// The message of a caught panic.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a check failed".into())
}

/// Runs a checking helper of `verify`/`support` that panics on failure.
fn checked(check: impl FnOnce()) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(check)).map_err(panic_text)
}

/// Looser than `verify_stream`, for damaged files whose content is not
/// known: the playlists parse, ffmpeg decodes everything, with pictures.
fn plays(out: &Path) -> Result<(), String> {
    checked(|| {
        let text = std::fs::read(out.join("master.m3u8")).expect("master.m3u8 is written");
        let Ok(Playlist::MasterPlaylist(master)) = m3u8_rs::parse_playlist_res(&text) else {
            panic!("master.m3u8 is not a master playlist");
        };
        for variant in &master.variants {
            let text = std::fs::read(out.join(&variant.uri)).expect("variant playlist");
            assert!(
                matches!(m3u8_rs::parse_playlist_res(&text), Ok(Playlist::MediaPlaylist(p)) if p.end_list),
                "{} is a finished media playlist",
                variant.uri
            );
        }
        decode_all(&out.join("master.m3u8"));
        let frames = decoded_video_frames(&out.join("master.m3u8"), 0);
        assert!(frames > 0, "the stream has pictures");
    })
}

/// The refusal sentence, if stderr is what a refusal must be: one
/// `error: ` line, last, short, and no panic.
fn refusal_sentence(err: &str) -> Result<String, String> {
    let lines: Vec<&str> = err.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.contains("panicked")) {
        let place = lines[at].split("panicked at ").nth(1).unwrap_or(lines[at]);
        let message = lines.get(at + 1).copied().unwrap_or_default();
        return Err(format!("panicked ({message}, at {place}), then: {}", last_line(err)));
    }
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    let last = last_line(err);
    match errors.as_slice() {
        [one] if *one == last && one.len() < 400 => Ok(one.trim_start_matches("error: ").to_owned()),
        [] => Err(format!("exit 1 without an `error: ` sentence: {last}")),
        _ => Err(format!("not one `error: ` sentence at the end: {}", err.trim())),
    }
}

fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_owned()
}

fn classify(entry: &Entry, input: &Path, output: Option<Output>, out: &Path) -> Outcome {
    let Some(output) = output else {
        return Outcome::Broken(format!("hung: killed after {}s", PER_FILE_TIMEOUT.as_secs()));
    };
    let err = stderr(&output);
    match output.status.code() {
        Some(0) => {
            let damaged = matches!(entry.source, Source::Damaged { .. });
            let result = if damaged || entry.expect != Expect::Packaged {
                plays(out)
            } else {
                let counted = source_frames(input);
                let frames = match entry.frames {
                    Frames::Source => counted.saturating_sub(2).max(1)..=counted + 2,
                    Frames::SourceUpTo(most) => counted.saturating_sub(2).max(1)..=most,
                    Frames::Skip => 1..=u64::MAX,
                };
                let (width, height) = entry.shown;
                let expect = verify::Expect { width, height, frames, audio: entry.audio };
                checked(|| {
                    verify_stream(out, &expect);
                })
            };
            match result {
                Ok(()) => Outcome::Packaged,
                Err(why) => Outcome::Broken(format!("exit 0 but {}", why.lines().next().unwrap_or_default())),
            }
        }
        Some(1) => match refusal_sentence(&err) {
            Ok(sentence) => {
                let left = files_under(out);
                if left.is_empty() {
                    Outcome::Refused(sentence)
                } else {
                    Outcome::Broken(format!(
                        "refused ({sentence}) but left {} files, e.g. {}",
                        left.len(),
                        left[0]
                    ))
                }
            }
            Err(why) => Outcome::Broken(why),
        },
        Some(code) => Outcome::Broken(format!("exit code {code}: {}", last_line(&err))),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let signal = output.status.signal().unwrap_or_default();
            Outcome::Broken(format!("killed by signal {signal}: {}", last_line(&err)))
        }
    }
}

fn first_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

#[test]
fn every_file_of_the_hostile_corpus_is_packaged_or_refused_cleanly() {
    let dir = tempfile::tempdir().expect("tmp");
    let entries = corpus();
    let started = Instant::now();
    let paths = generate(&entries, dir.path());
    let generated_in = started.elapsed();
    let jobs: Vec<(usize, &Entry)> = entries.iter().enumerate().collect();
    let results = two_at_a_time(&jobs, |(i, entry)| {
        let out = dir.path().join(format!("out-{i}"));
        let begun = Instant::now();
        let output = cdlc_transcode_within(&paths[*i], &out, &["-q"], PER_FILE_TIMEOUT);
        let took = begun.elapsed();
        let outcome = classify(entry, &paths[*i], output, &out);
        let _ = std::fs::remove_dir_all(&out);
        (outcome, took)
    });

    let mut table = String::new();
    let mut defects = Vec::new();
    let (mut packaged, mut refused, mut broken) = (0, 0, 0);
    for (entry, (outcome, took)) in entries.iter().zip(&results) {
        let (seen, detail) = match outcome {
            Outcome::Packaged => {
                packaged += 1;
                ("packaged", String::new())
            }
            Outcome::Refused(sentence) => {
                refused += 1;
                ("refused", first_chars(sentence, 100))
            }
            Outcome::Broken(why) => {
                broken += 1;
                ("DEFECT", first_chars(why, 160))
            }
        };
        let wrong = match (outcome, entry.expect) {
            (Outcome::Broken(why), _) => Some(why.clone()),
            (Outcome::Packaged, Expect::Refused) => Some("packaged, but it should have been refused".into()),
            (Outcome::Refused(s), Expect::Packaged) => Some(format!("refused, but it should play: {s}")),
            _ => None,
        };
        let mark = if wrong.is_some() { "FAIL" } else { "ok" };
        table.push_str(&format!(
            "{mark:4} {:30} {:9} {seen:8} {:5.1}s {detail}\n",
            entry.name,
            format!("{:?}", entry.expect),
            took.as_secs_f64()
        ));
        if let Some(why) = wrong {
            defects.push(format!("{} (expected {:?}): {why}", entry.name, entry.expect));
        }
    }
    println!("{table}");
    println!(
        "corpus generated in {:.0}s, transcoded in {:.0}s",
        generated_in.as_secs_f64(),
        (started.elapsed() - generated_in).as_secs_f64()
    );
    println!(
        "corpus: {} files: {packaged} packaged, {refused} refused, {broken} panics/crashes/hangs",
        entries.len()
    );
    assert!(entries.len() >= 60, "the corpus has at least 60 files");
    assert!(defects.is_empty(), "{} defects:\n{}", defects.len(), defects.join("\n"));
}

/// The files of the burst: the classes most likely to take a server down.
const BURST: [&str; 11] = [
    "hevc.mkv",
    "animated.gif",
    "rawvideo_yuv420p.nut",
    "cover_first.mkv",
    "subs_webvtt.mkv",
    "flips_1_in_1000.ts",
    "flips_1_in_1000.mkv",
    "cut_50pct_moov_first.mp4",
    "lying_moov_size.mp4",
    "random_bytes.mp4",
    "text_renamed.mp4",
];

#[test]
fn a_burst_of_hostile_uploads_never_takes_the_server_down() {
    let dir = tempfile::tempdir().expect("tmp");
    let entries: Vec<Entry> = corpus().into_iter().filter(|e| BURST.contains(&e.name.as_str())).collect();
    assert_eq!(entries.len(), BURST.len(), "every burst file is in the corpus");
    let paths = generate(&entries, dir.path());
    let server = Server::start(&dir.path().join("data"), &[("CDLC_WORKERS", "2")]);

    let stop = AtomicBool::new(false);
    let sick: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let polls = AtomicUsize::new(0);
    let started = Instant::now();
    let (uploads, finished) = std::thread::scope(|scope| {
        // The health check a load balancer makes, every 200 ms throughout.
        scope.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = server.curl(&["--max-time", "2"], "/healthz");
                polls.fetch_add(1, Ordering::SeqCst);
                if status != 200 {
                    let at = started.elapsed().as_secs_f64();
                    sick.lock().expect("sick").push(format!("{at:.1}s: /healthz answered {status} {body}"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let uploads: Vec<(u16, serde_json::Value)> = std::thread::scope(|burst| {
            let handles: Vec<_> =
                paths.iter().map(|p| burst.spawn(|| server.upload(p, Some(TOKEN)))).collect();
            handles.into_iter().map(|h| h.join().expect("upload thread")).collect()
        });
        let finished = wait_for_all(&server, &entries, &uploads, Duration::from_secs(240));
        stop.store(true, Ordering::SeqCst);
        (uploads, finished)
    });

    let mut defects: Vec<String> = sick.into_inner().expect("sick");
    println!(
        "/healthz polled {} times, {} answers other than 200",
        polls.load(Ordering::SeqCst),
        defects.len()
    );
    for ((entry, (status, body)), asset) in entries.iter().zip(&uploads).zip(&finished) {
        let line = match (*status, asset) {
            (400..=499, _) => {
                let message = body["error"]["message"].as_str().unwrap_or_default();
                if message.is_empty() {
                    defects.push(format!(
                        "{}: upload refused with {status} but no error message: {body}",
                        entry.name
                    ));
                }
                format!("upload refused {status}: {}", first_chars(message, 100))
            }
            (201, Some(asset)) if asset["status"] == "errored" => {
                let error = asset["error"].as_str().unwrap_or_default();
                if error.trim().is_empty() {
                    defects.push(format!("{}: errored without an error sentence: {asset}", entry.name));
                }
                format!("errored: {}", first_chars(error, 100))
            }
            (201, Some(asset)) => {
                let hls = asset["playback"]["hls"].as_str().unwrap_or_default();
                if let Err(why) = checked(|| decode_all(Path::new(&server.url(hls)))) {
                    defects.push(format!("{}: ready but its stream does not play: {why}", entry.name));
                }
                "ready".to_owned()
            }
            (201, None) => {
                defects.push(format!("{}: never left processing", entry.name));
                "still processing".to_owned()
            }
            _ => {
                defects.push(format!("{}: upload answered {status}: {body}", entry.name));
                format!("upload answered {status}")
            }
        };
        println!("{:30} {line}", entry.name);
    }
    println!("burst of {} uploads settled in {:.0}s", entries.len(), started.elapsed().as_secs_f64());
    assert!(defects.is_empty(), "{} defects:\n{}", defects.len(), defects.join("\n"));
}

/// Polls every accepted upload until it is `ready` or `errored`; `None`
/// for one that was never accepted or is still processing at the deadline.
fn wait_for_all(
    server: &Server,
    entries: &[Entry],
    uploads: &[(u16, serde_json::Value)],
    timeout: Duration,
) -> Vec<Option<serde_json::Value>> {
    let deadline = Instant::now() + timeout;
    let mut finished: Vec<Option<serde_json::Value>> = vec![None; entries.len()];
    loop {
        let mut waiting = 0;
        for ((status, asset), done) in uploads.iter().zip(finished.iter_mut()) {
            let Some(id) = asset["id"].as_str().filter(|_| *status == 201 && done.is_none()) else {
                continue;
            };
            let (code, body) = server.get(&format!("/api/v1/assets/{id}"));
            let now: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if code == 200 && ["ready", "errored"].contains(&now["status"].as_str().unwrap_or_default()) {
                *done = Some(now);
            } else {
                waiting += 1;
            }
        }
        if waiting == 0 || Instant::now() >= deadline {
            return finished;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
