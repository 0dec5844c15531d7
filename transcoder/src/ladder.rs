//! Planning the ABR ladder from what the source is.

use std::time::Duration;

use cdlc_ingest::{MediaInfo, Rotation};
use serde::{Deserialize, Serialize};

use crate::{RenditionKind, RenditionOutput, TranscodeError};

/// Segment (and GOP) duration when none is asked for.
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);
/// Length of the first segment: a viewer can press play once the first
/// segment of every rendition is out, so the shorter it is the sooner the
/// stream plays. Costs one more keyframe per rendition.
pub const DEFAULT_FIRST_SEGMENT: Duration = Duration::from_millis(500);
/// Rungs by short side and video bitrate in kbit/s, for up to 30 fps.
pub const DEFAULT_RUNGS: [RungSpec; 4] = [
    RungSpec { short_side: 1080, bitrate_kbps: Some(5000) },
    RungSpec { short_side: 720, bitrate_kbps: Some(2800) },
    RungSpec { short_side: 480, bitrate_kbps: Some(1400) },
    RungSpec { short_side: 360, bitrate_kbps: Some(800) },
];
/// Frame rate used when the source does not declare one (variable frame rate).
pub const DEFAULT_FRAME_RATE: (i32, i32) = (30, 1);
/// Highest output frame rate; faster sources are halved until they fit.
pub const MAX_FRAME_RATE: f64 = 60.0;
/// AAC bitrate of the audio rendition, in bit/s.
pub const DEFAULT_AUDIO_BITRATE: u32 = 128_000;
/// Channels of a kept surround rendition (5.1), and its bitrate as a
/// multiple of the stereo one (384 kb/s by default, what streaming
/// services give 5.1 AAC).
pub const SURROUND_CHANNELS: u32 = 6;
pub const SURROUND_BITRATE_FACTOR: u32 = 3;
/// A lower rung closer than this fraction to the top rung adds nothing.
const MIN_RUNG_STEP: f64 = 0.9;
/// Bitrate factor for sources above 30 fps.
const HIGH_FRAME_RATE_FACTOR: f64 = 1.5;

/// One rung as asked for: the short side of the picture (the "720" of a
/// 1280x720 landscape or a 720x1280 portrait video) and its bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RungSpec {
    pub short_side: u32,
    /// Video bitrate in kbit/s; `None` picks one from the default ladder.
    pub bitrate_kbps: Option<u32>,
}

impl std::str::FromStr for RungSpec {
    type Err = String;

    /// Parses `720`, `720p`, `720:2800`, `720p:2800k`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (size, rate) = match text.split_once(':') {
            Some((s, r)) => (s, Some(r)),
            None => (text, None),
        };
        let short_side: u32 =
            size.trim().trim_end_matches('p').parse().map_err(|_| {
                format!("rung {text:?}: the size must be a number of lines such as 720 or 720p")
            })?;
        if !(64..=4320).contains(&short_side) {
            return Err(format!("rung {text:?}: the size must be between 64 and 4320 lines"));
        }
        let bitrate_kbps = match rate {
            None => None,
            Some(r) => {
                let kbps: u32 = r.trim().trim_end_matches('k').parse().map_err(|_| {
                    format!("rung {text:?}: the bitrate must be kbit/s such as 2800 or 2800k")
                })?;
                if !(50..=100_000).contains(&kbps) {
                    return Err(format!("rung {text:?}: the bitrate must be between 50 and 100000 kbit/s"));
                }
                Some(kbps)
            }
        };
        Ok(RungSpec { short_side, bitrate_kbps })
    }
}

/// What the caller may choose about the ladder.
#[derive(Debug, Clone)]
pub struct LadderOptions {
    pub segment_duration: Duration,
    /// Length of the first segment, shorter than the others so the stream
    /// becomes playable sooner; zero or anything not shorter than
    /// `segment_duration` makes it as long as the others.
    pub first_segment: Duration,
    /// The rungs asked for; the default ladder when `None`. Rungs above the
    /// source are dropped, never upscaled.
    pub rungs: Option<Vec<RungSpec>>,
    pub audio_bitrate: u32,
    /// Whether a surround track (more than two channels) also gets a 5.1
    /// rendition after its stereo one.
    pub keep_surround: bool,
}

impl Default for LadderOptions {
    fn default() -> Self {
        LadderOptions {
            segment_duration: DEFAULT_SEGMENT_DURATION,
            first_segment: DEFAULT_FIRST_SEGMENT,
            rungs: None,
            audio_bitrate: DEFAULT_AUDIO_BITRATE,
            keep_surround: false,
        }
    }
}

/// One video rendition to produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    /// Name of the rendition, also its folder: "720p".
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioPlan {
    pub name: String,
    pub bitrate: u32,
    pub channels: u32,
    pub sample_rate: u32,
    /// ISO 639 code from the source's tags, `und` when it has none.
    pub language: String,
    /// The track's title from the source's tags.
    pub title: Option<String>,
    /// The probe's stream id of the source track; `None`: the first audio.
    pub stream_id: Option<String>,
    /// The source track's place among the source's audio tracks: a 5.1
    /// rendition shares it with the track's stereo one.
    #[serde(default)]
    pub source_track: usize,
}

/// The whole plan for one source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LadderPlan {
    /// Video rungs, largest first.
    pub rungs: Vec<Rung>,
    /// One AAC rendition per audio track of the source, in the source's order.
    pub audio: Vec<AudioPlan>,
    /// Output frame rate of every rung.
    pub frame_rate: (i32, i32),
    /// Frames between keyframes; the same in every rung.
    pub gop_frames: u32,
    /// Frames of the first segment (at most `gop_frames`): every rendition
    /// starts a new segment after them, then every `gop_frames`.
    #[serde(default)]
    pub first_segment_frames: u32,
    /// The source's duration, used for progress and to notice truncation.
    pub source_duration: Duration,
    /// Rotation to apply so the pictures come out upright.
    pub rotation: Rotation,
    /// The probe's stream id of the video stream to transcode, so the
    /// pipeline links the stream the probe chose (not a cover picture that
    /// comes first). `None`: the first.
    pub video_stream_id: Option<String>,
    /// Things the user should know about the choices made.
    pub notes: Vec<String>,
}

impl LadderPlan {
    /// The real segment duration: a whole number of frames.
    pub fn segment_duration(&self) -> Duration {
        let (n, d) = self.frame_rate;
        Duration::from_secs_f64(self.gop_frames as f64 * d as f64 / n as f64)
    }

    /// Where the first segment ends; every later one lasts
    /// [`LadderPlan::segment_duration`].
    pub fn first_segment_duration(&self) -> Duration {
        let (n, d) = self.frame_rate;
        let frames = match self.first_segment_frames {
            0 => self.gop_frames,
            frames => frames.min(self.gop_frames),
        };
        Duration::from_secs_f64(frames as f64 * d as f64 / n as f64)
    }

    pub fn frame_rate_f64(&self) -> f64 {
        self.frame_rate.0 as f64 / self.frame_rate.1 as f64
    }

    /// The renditions this plan produces (video rungs largest first, then
    /// audio), before any segment exists.
    pub fn renditions(&self) -> Vec<RenditionOutput> {
        let empty = |name: &str, kind| RenditionOutput {
            name: name.to_owned(),
            kind,
            codec: String::new(),
            init_size: 0,
            segments: Vec::new(),
        };
        let mut renditions: Vec<RenditionOutput> = self
            .rungs
            .iter()
            .map(|rung| {
                let kind = RenditionKind::Video {
                    width: rung.width,
                    height: rung.height,
                    frame_rate: self.frame_rate,
                    bitrate_kbps: rung.bitrate_kbps,
                };
                empty(&rung.name, kind)
            })
            .collect();
        for audio in &self.audio {
            let kind = RenditionKind::Audio {
                channels: audio.channels,
                sample_rate: audio.sample_rate,
                bitrate: audio.bitrate,
                language: audio.language.clone(),
                title: audio.title.clone(),
            };
            renditions.push(empty(&audio.name, kind));
        }
        renditions
    }
}

/// Plans the ladder for `source`.
pub fn plan(source: &MediaInfo, options: &LadderOptions) -> Result<LadderPlan, TranscodeError> {
    let mut notes = Vec::new();
    let seg = options.segment_duration;
    if seg < Duration::from_millis(500) || seg > Duration::from_secs(20) {
        return Err(TranscodeError::EmptyLadder(format!(
            "the segment duration must be between 0.5 and 20 seconds, not {}s",
            seg.as_secs_f64()
        )));
    }

    let frame_rate = output_frame_rate(source, &mut notes);
    let fps = frame_rate.0 as f64 / frame_rate.1 as f64;
    // Round up so a segment is never shorter than asked; cmafmux cuts at the
    // first keyframe at or after the segment duration.
    let gop_frames = ((seg.as_secs_f64() * fps) - 1e-6).ceil().max(1.0) as u32;
    let first_segment_frames = match options.first_segment {
        first if first.is_zero() => gop_frames,
        first => ((first.as_secs_f64() * fps).round() as u32).clamp(1, gop_frames),
    };

    let (src_w, src_h) = (source.video.display_width, source.video.display_height);
    let (src_long, src_short) = (src_w.max(src_h), src_w.min(src_h));
    let landscape = src_w >= src_h;
    let fps_factor = if fps > 32.0 { HIGH_FRAME_RATE_FACTOR } else { 1.0 };

    let specs: Vec<RungSpec> = match &options.rungs {
        Some(asked) => {
            let mut kept: Vec<RungSpec> =
                asked.iter().copied().filter(|r| r.short_side <= src_short).collect();
            let dropped = asked.len() - kept.len();
            if dropped > 0 {
                notes.push(format!(
                    "{dropped} rung(s) above the source's {src_short} lines were dropped (never upscaled)"
                ));
            }
            if kept.is_empty() {
                notes.push(format!(
                    "every rung asked for is above the source; producing one at {src_short} lines"
                ));
                kept.push(RungSpec {
                    short_side: src_short,
                    bitrate_kbps: asked.iter().filter_map(|r| r.bitrate_kbps).min(),
                });
            }
            kept
        }
        None => default_specs_for(src_short),
    };

    let mut rungs: Vec<Rung> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for spec in specs {
        let short = even_floor(spec.short_side.min(src_short));
        if !seen.insert(short) {
            continue;
        }
        let long = even_round(short as f64 * src_long as f64 / src_short as f64).min(even_floor(src_long));
        let (width, height) = if landscape { (long, short) } else { (short, long) };
        let bitrate = spec.bitrate_kbps.unwrap_or_else(|| default_bitrate(short));
        rungs.push(Rung {
            name: format!("{short}p"),
            width,
            height,
            bitrate_kbps: (bitrate as f64 * fps_factor).round() as u32,
        });
    }
    rungs.sort_by_key(|r| std::cmp::Reverse(r.height.min(r.width)));
    if rungs.is_empty() {
        return Err(TranscodeError::EmptyLadder("no rung fits the source".into()));
    }

    // Every track is kept; surround is mixed down to stereo, which every
    // browser plays, and also kept as 5.1 when asked.
    let mut audio: Vec<AudioPlan> = Vec::new();
    for (index, track) in source.audio.iter().enumerate() {
        let stereo = AudioPlan {
            name: audio_rendition_name(audio.len()),
            bitrate: options.audio_bitrate,
            channels: 2,
            sample_rate: 48_000,
            language: language_code(track.language.as_deref()),
            title: track.title.clone().filter(|t| !t.trim().is_empty()),
            stream_id: track.stream_id.clone(),
            source_track: index,
        };
        let surround = (options.keep_surround && track.channels > 2).then(|| {
            let base = stereo.title.clone().unwrap_or_else(|| {
                cdlc_captions::language_name(&stereo.language).unwrap_or("Main").to_owned()
            });
            AudioPlan {
                name: audio_rendition_name(audio.len() + 1),
                bitrate: options.audio_bitrate * SURROUND_BITRATE_FACTOR,
                channels: SURROUND_CHANNELS,
                title: Some(if base.contains("5.1") { base } else { format!("{base} 5.1") }),
                ..stereo.clone()
            }
        });
        audio.push(stereo);
        audio.extend(surround);
    }
    if source.audio.iter().any(|a| a.channels > 2) {
        notes.push(if options.keep_surround {
            "surround audio is a stereo rendition and a 5.1 one".into()
        } else {
            "surround audio is mixed down to a stereo rendition".into()
        });
    }
    if source.audio.is_empty() {
        notes.push("the source has no audio; the streams are video only".into());
    }
    if source.ignored_video_streams > 0 {
        notes.push(format!("{} extra video stream(s) ignored", source.ignored_video_streams));
    }
    if source.video.rotation != Rotation::None {
        notes.push(format!("the source is flagged {:?}; it is rotated upright", source.video.rotation));
    }
    if source.video.interlaced {
        notes.push("the source is interlaced; it is deinterlaced".into());
    }

    Ok(LadderPlan {
        rungs,
        audio,
        frame_rate,
        gop_frames,
        first_segment_frames,
        source_duration: source.duration,
        rotation: source.video.rotation,
        video_stream_id: source.video.stream_id.clone(),
        notes,
    })
}

/// The folder of the audio rendition of the source's track `index`:
/// `audio` for the first (as before there were several), `audio-2`, …
pub fn audio_rendition_name(index: usize) -> String {
    match index {
        0 => "audio".into(),
        n => format!("audio-{}", n + 1),
    }
}

/// A language tag as players want it: the tag's own ISO 639 code in lower
/// case, `und` (undetermined) when absent or not a code.
fn language_code(tag: Option<&str>) -> String {
    match tag.map(str::trim) {
        Some(code)
            if (2..=8).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            code.to_ascii_lowercase()
        }
        _ => "und".into(),
    }
}

/// The default ladder for a source whose short side is `src_short`: the
/// source's own size (capped at the top default rung) and every default rung
/// clearly below it.
fn default_specs_for(src_short: u32) -> Vec<RungSpec> {
    let top = even_floor(src_short.min(DEFAULT_RUNGS[0].short_side));
    let mut specs = vec![RungSpec { short_side: top, bitrate_kbps: None }];
    specs
        .extend(DEFAULT_RUNGS.iter().copied().filter(|r| (r.short_side as f64) < top as f64 * MIN_RUNG_STEP));
    specs
}

/// Bitrate for a rung of `short` lines: the default ladder's, interpolated
/// by lines between its rungs and scaled by area below the smallest one.
fn default_bitrate(short: u32) -> u32 {
    let table: Vec<(f64, f64)> =
        DEFAULT_RUNGS.iter().map(|r| (r.short_side as f64, r.bitrate_kbps.unwrap_or(0) as f64)).collect();
    let s = short as f64;
    let (top, bottom) = (table[0], table[table.len() - 1]);
    if s >= top.0 {
        return (top.1 * s / top.0) as u32;
    }
    if s <= bottom.0 {
        return ((bottom.1 * (s / bottom.0).powi(2)) as u32).max(100);
    }
    for pair in table.windows(2) {
        let ((hi_s, hi_b), (lo_s, lo_b)) = (pair[0], pair[1]);
        if s <= hi_s && s >= lo_s {
            return (lo_b + (hi_b - lo_b) * (s - lo_s) / (hi_s - lo_s)) as u32;
        }
    }
    bottom.1 as u32
}

fn output_frame_rate(source: &MediaInfo, notes: &mut Vec<String>) -> (i32, i32) {
    let Some((mut n, d)) = source.video.frame_rate.filter(|(n, d)| *n > 0 && *d > 0) else {
        notes.push(format!(
            "the source has no constant frame rate; it is resampled to {} fps",
            DEFAULT_FRAME_RATE.0
        ));
        return DEFAULT_FRAME_RATE;
    };
    let mut d = d;
    while n as f64 / d as f64 > MAX_FRAME_RATE + 0.01 {
        if n % 2 == 0 {
            n /= 2;
        } else {
            d *= 2;
        }
    }
    if (n, d) != source.video.frame_rate.unwrap_or_default() {
        notes.push(format!("the frame rate is reduced to {n}/{d} fps"));
    }
    (n, d)
}

/// The nearest even number (4:2:0 needs even sizes), at least 2.
fn even_round(x: f64) -> u32 {
    ((x / 2.0).round() as u32).max(1) * 2
}

/// The even number at or below `x`, at least 2.
fn even_floor(x: u32) -> u32 {
    (x.max(2) / 2) * 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdlc_ingest::VideoInfo;

    fn source(w: u32, h: u32, fps: (i32, i32)) -> MediaInfo {
        MediaInfo {
            file_size: 1,
            container: None,
            duration: Duration::from_secs(10),
            video: VideoInfo {
                codec: "H.264".into(),
                stored_width: w,
                stored_height: h,
                display_width: w,
                display_height: h,
                rotation: Rotation::None,
                frame_rate: Some(fps),
                interlaced: false,
                bit_depth: None,
                chroma_format: None,
                stream_id: None,
            },
            audio: vec![],
            ignored_video_streams: 0,
            subtitles: Vec::new(),
        }
    }

    fn sizes(plan: &LadderPlan) -> Vec<(u32, u32)> {
        plan.rungs.iter().map(|r| (r.width, r.height)).collect()
    }

    #[test]
    fn full_hd_source_gets_the_default_ladder() {
        let p = plan(&source(1920, 1080, (30, 1)), &LadderOptions::default()).unwrap();
        assert_eq!(sizes(&p), vec![(1920, 1080), (1280, 720), (854, 480), (640, 360)]);
        assert_eq!(p.gop_frames, 60);
        assert_eq!(p.rungs[0].bitrate_kbps, 5000);
    }

    #[test]
    fn odd_sized_source_is_never_upscaled() {
        let p = plan(&source(1918, 1078, (25, 1)), &LadderOptions::default()).unwrap();
        assert_eq!(sizes(&p)[0], (1918, 1078));
        assert!(p.rungs.iter().all(|r| r.width <= 1918 && r.height <= 1078));
        assert!(p.rungs.iter().all(|r| r.width % 2 == 0 && r.height % 2 == 0));
    }

    #[test]
    fn small_source_gets_one_rung_at_its_size() {
        let p = plan(&source(320, 180, (30, 1)), &LadderOptions::default()).unwrap();
        assert_eq!(sizes(&p), vec![(320, 180)]);
    }

    #[test]
    fn portrait_source_ladders_on_its_short_side() {
        let p = plan(&source(720, 1280, (30, 1)), &LadderOptions::default()).unwrap();
        assert_eq!(sizes(&p), vec![(720, 1280), (480, 854), (360, 640)]);
    }

    #[test]
    fn ntsc_rates_round_the_gop_up_to_whole_frames() {
        let p = plan(&source(640, 360, (30000, 1001)), &LadderOptions::default()).unwrap();
        assert_eq!(p.gop_frames, 60);
        assert!(p.segment_duration() >= Duration::from_secs(2));
    }

    #[test]
    fn high_frame_rates_are_halved_to_sixty() {
        let p = plan(&source(640, 360, (120, 1)), &LadderOptions::default()).unwrap();
        assert_eq!(p.frame_rate, (60, 1));
        assert_eq!(p.gop_frames, 120);
    }

    #[test]
    fn keep_surround_plans_a_5_1_rendition_after_the_stereo_one_of_its_track() {
        let track = |channels, language: &str| cdlc_ingest::AudioInfo {
            codec: "AAC".into(),
            channels,
            sample_rate: 48_000,
            language: Some(language.into()),
            title: None,
            stream_id: Some(format!("s-{language}")),
        };
        let mut src = source(640, 360, (30, 1));
        src.audio = vec![track(6, "fr"), track(2, "en")];
        let described = |p: &LadderPlan| -> Vec<(String, u32, usize, Option<String>)> {
            p.audio.iter().map(|a| (a.name.clone(), a.channels, a.source_track, a.title.clone())).collect()
        };
        let mixed = plan(&src, &LadderOptions::default()).unwrap();
        assert_eq!(described(&mixed), [("audio".into(), 2, 0, None), ("audio-2".into(), 2, 1, None)]);
        let kept = plan(&src, &LadderOptions { keep_surround: true, ..Default::default() }).unwrap();
        assert_eq!(
            described(&kept),
            [
                ("audio".into(), 2, 0, None),
                ("audio-2".into(), 6, 0, Some("French 5.1".into())),
                ("audio-3".into(), 2, 1, None)
            ]
        );
        assert_eq!(kept.audio[1].bitrate, DEFAULT_AUDIO_BITRATE * SURROUND_BITRATE_FACTOR);
        assert_eq!(kept.audio[1].stream_id.as_deref(), Some("s-fr"));
    }

    #[test]
    fn asked_rungs_above_the_source_are_dropped() {
        let options = LadderOptions {
            rungs: Some(vec!["1080:5000".parse().unwrap(), "360p:700k".parse().unwrap()]),
            ..Default::default()
        };
        let p = plan(&source(640, 360, (30, 1)), &options).unwrap();
        assert_eq!(sizes(&p), vec![(640, 360)]);
        assert_eq!(p.rungs[0].bitrate_kbps, 700);
        assert!(p.notes.iter().any(|n| n.contains("dropped")));
    }

    #[test]
    fn bad_rung_specs_say_what_to_fix() {
        assert!("abc".parse::<RungSpec>().unwrap_err().contains("number of lines"));
        assert!("720:fast".parse::<RungSpec>().unwrap_err().contains("kbit/s"));
        assert!("99999".parse::<RungSpec>().is_err());
    }
}
