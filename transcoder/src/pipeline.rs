//! The one GStreamer pipeline of a transcode job.
//!
//! ```text
//! filesrc ! decodebin ─video─ [timeline] videoconvert ! I420/BT.709 ! deinterlace ! videoflip(rotation)
//!                              ! videorate ! framerate ! tee ─┬─ queue ! videoscale ! WxH ! x264enc ! [guard] cmafmux ! appsink
//!                                                            ├─ … one branch per rung
//!                                                            └─ poster and storyboard branches (see [`crate::stills`])
//!                     ─audio─ [timeline] audioconvert ! audioresample ! 48k stereo ! avenc_aac ! [guard] cmafmux ! appsink
//!                     ─other─ fakesink
//! ```
//!
//! `[timeline]` and `[guard]` are the pad probes of [`crate::timeline`]; the
//! video and audio pads linked are the streams the probe chose (by stream id).

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use tracing::{debug, info, info_span, warn};

use crate::output::{RenditionKind, RenditionOutput, Segment, SegmentSink, TranscodeOutput};
use crate::stills::{Stills, StillsPlan};
use crate::{cmaf, timeline, LadderPlan, TranscodeError};
use cdlc_ingest::Rotation;

/// Every x264 speed preset, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];
/// x264 speed preset when none is asked for.
pub const DEFAULT_X264_PRESET: &str = "veryfast";
/// Frames buffered between the tee and each rung's scaler.
const RUNG_QUEUE_FRAMES: u32 = 30;
/// videoscale's method and sharpness. Measured on a 1080p source, each
/// rung scaled back up and compared with the source: sinc at sharpness 1.2
/// comes within 0.1–0.2 dB of ffmpeg's bicubic at 720p and 360p, 0.3 dB
/// better than bilinear2; catrom, lanczos and 4-tap alias when shrinking 3x.
const SCALING_METHOD: &str = "sinc";
const SCALING_SHARPNESS: f64 = 1.2;
/// How long the pipeline may go without producing anything before the job
/// is declared stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// A decode that ends this much short of the probed duration (and at least
/// [`TRUNCATION_MIN_GAP`]) means the source is truncated.
const TRUNCATION_RATIO: f64 = 0.9;
const TRUNCATION_MIN_GAP: Duration = Duration::from_millis(1500);
/// Decoded media timed this long after the probed duration is dropped: its
/// timestamp is damaged, and videorate would fill the gap up to it.
const TIMELINE_MARGIN: Duration = Duration::from_secs(2);

/// How the encoders are tuned.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// x264 speed preset: ultrafast … placebo.
    pub x264_preset: String,
    pub stall_timeout: Duration,
    /// Encoder threads shared by all rungs; the machine's cores + 1 by default.
    pub threads: u32,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            x264_preset: DEFAULT_X264_PRESET.into(),
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            // One more than the cores: on 2 cores that gives the 1080p rung
            // two threads, and the job no longer ends waiting on one thread.
            threads: std::thread::available_parallelism().map(|n| n.get() as u32 + 1).unwrap_or(3),
        }
    }
}

/// Threads for each rung's x264enc: the budget shared by pixel count, at
/// least one each. Every rung already runs in parallel with the others, so
/// x264's own default (1.5 threads per core for each encoder) oversubscribes
/// the machine: on 2 cores a 4-rung ladder ran 10 % slower with it.
pub fn threads_per_rung(plan: &LadderPlan, budget: u32) -> Vec<u32> {
    let pixels: Vec<f64> = plan.rungs.iter().map(|r| r.width as f64 * r.height as f64).collect();
    let total: f64 = pixels.iter().sum();
    pixels.iter().map(|p| ((budget as f64 * p / total).round() as u32).max(1)).collect()
}

/// Progress of a running transcode.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// 0 to 100.
    pub percent: f64,
    /// Media time encoded by the slowest rung.
    pub encoded: Duration,
    pub elapsed: Duration,
}

/// What the streaming threads share with the job.
pub(crate) struct Shared {
    pub(crate) sink: Arc<dyn SegmentSink>,
    renditions: Mutex<Vec<RenditionOutput>>,
    /// First error raised in a streaming thread (a sink that failed to write).
    error: Mutex<Option<TranscodeError>>,
}

impl Shared {
    fn take_error(&self) -> Option<TranscodeError> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub(crate) fn fail(&self, error: TranscodeError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(error);
    }
}

/// Transcodes `source` into the ladder `plan`, handing every segment to
/// `sink` as it is produced and calling `progress` about four times a
/// second. Blocks until the job ends.
pub fn transcode(
    source: &Path,
    plan: &LadderPlan,
    encoder: &EncoderOptions,
    sink: Arc<dyn SegmentSink>,
    progress: &mut dyn FnMut(Progress),
) -> Result<TranscodeOutput, TranscodeError> {
    crate::init()?;
    let span = info_span!("transcode", source = %source.display());
    let _entered = span.enter();

    let renditions = plan.renditions();
    let shared = Arc::new(Shared { sink, renditions: Mutex::new(renditions), error: Mutex::new(None) });

    let stills = Stills::new(StillsPlan::for_ladder(plan));
    let built = build(source, plan, encoder, &shared, &stills)?;
    let result = run(&built, plan, encoder, &shared, progress);
    let _ = built.pipeline.set_state(gst::State::Null);
    result?;

    if let Some(error) = shared.take_error() {
        return Err(error);
    }
    let renditions = std::mem::take(&mut *shared.renditions.lock().unwrap_or_else(|e| e.into_inner()));
    check_complete(plan, &renditions)?;
    stills.finish_storyboard(&shared)?;
    Ok(TranscodeOutput { renditions })
}

struct Built {
    pipeline: gst::Pipeline,
    /// Latest PTS encoded, one per video rung, for progress.
    encoded: Vec<Arc<AtomicU64>>,
}

pub(crate) fn make(factory: &str) -> Result<gst::Element, TranscodeError> {
    gst::ElementFactory::make(factory).build().map_err(|_| TranscodeError::MissingElement(factory.to_owned()))
}

pub(crate) fn capsfilter(caps: gst::Caps) -> Result<gst::Element, TranscodeError> {
    gst::ElementFactory::make("capsfilter")
        .property("caps", caps)
        .build()
        .map_err(|_| TranscodeError::MissingElement("capsfilter".into()))
}

/// A queue bounded by a number of frames only, never by bytes or time.
pub(crate) fn frame_queue(frames: u32) -> Result<gst::Element, TranscodeError> {
    gst::ElementFactory::make("queue")
        .property("max-size-buffers", frames)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()
        .map_err(|_| TranscodeError::MissingElement("queue".into()))
}

pub(crate) fn build_error(e: impl std::fmt::Display) -> TranscodeError {
    TranscodeError::Build(e.to_string())
}

fn add_chain(pipeline: &gst::Pipeline, chain: &[&gst::Element]) -> Result<(), TranscodeError> {
    pipeline.add_many(chain.iter().copied()).map_err(build_error)?;
    gst::Element::link_many(chain.iter().copied()).map_err(build_error)
}

fn build(
    source: &Path,
    plan: &LadderPlan,
    encoder: &EncoderOptions,
    shared: &Arc<Shared>,
    stills: &Arc<Stills>,
) -> Result<Built, TranscodeError> {
    let pipeline = gst::Pipeline::with_name("transcode");
    let filesrc = gst::ElementFactory::make("filesrc")
        .property("location", source.to_string_lossy().to_string())
        .build()
        .map_err(|_| TranscodeError::MissingElement("filesrc".into()))?;
    // Only audio and video are decoded: a subtitle or data stream without
    // a decoder is exposed undecoded (and discarded) instead of failing.
    let decodebin = make("decodebin")?;
    decodebin.set_property(
        "caps",
        gst::Caps::from_str("video/x-raw(ANY); audio/x-raw(ANY)").map_err(build_error)?,
    );
    pipeline.add_many([&filesrc, &decodebin]).map_err(build_error)?;
    filesrc.link(&decodebin).map_err(build_error)?;

    // Video head: one decode, one colour conversion, upright, constant rate.
    let convert = make("videoconvert")?;
    let colour = capsfilter(
        gst::Caps::builder("video/x-raw").field("format", "I420").field("colorimetry", "bt709").build(),
    )?;
    let deinterlace = make("deinterlace")?;
    deinterlace.set_property_from_str("fields", "top");
    // The rotation comes from the probe rather than from videoflip's
    // "auto", which misses the orientation tag when it arrives after caps
    // are fixed downstream of the tee.
    let flip = make("videoflip")?;
    flip.set_property_from_str(
        "video-direction",
        match plan.rotation {
            Rotation::None => "identity",
            Rotation::Clockwise90 => "90r",
            Rotation::Rotate180 => "180",
            Rotation::Clockwise270 => "90l",
        },
    );
    strip_orientation_tags(&flip);
    let rate = make("videorate")?;
    let (fps_n, fps_d) = plan.frame_rate;
    let rate_caps = capsfilter(
        gst::Caps::builder("video/x-raw").field("framerate", gst::Fraction::new(fps_n, fps_d)).build(),
    )?;
    let tee = make("tee")?;
    // Should a branch ever answer not-linked (the stills branches are
    // extras), the rungs go on rather than the whole pipeline stopping.
    tee.set_property("allow-not-linked", true);
    add_chain(&pipeline, &[&convert, &colour, &deinterlace, &flip, &rate, &rate_caps, &tee])?;

    // Fragments are cut by split-now events (see `Boundaries`); the
    // duration, half a frame below the GOP, is only cmafmux's own estimate.
    let gop = plan.segment_duration();
    let half_frame = Duration::from_secs_f64(0.5 * fps_d as f64 / fps_n as f64);
    let fragment_duration = gst::ClockTime::from_nseconds((gop - half_frame).as_nanos() as u64);

    let boundaries = Boundaries::of(plan);
    boundaries.force_keyframes(&tee);

    let threads = threads_per_rung(plan, encoder.threads.max(1));
    let mut encoded = Vec::new();
    for (index, rung) in plan.rungs.iter().enumerate() {
        // A deeper queue than the default (10 MB, three 1080p frames) lets
        // each rung's encoder run ahead or behind the others for a while.
        let queue = frame_queue(RUNG_QUEUE_FRAMES)?;
        let scale = make("videoscale")?;
        scale.set_property_from_str("method", SCALING_METHOD);
        scale.set_property("sharpness", SCALING_SHARPNESS);
        let size = capsfilter(
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", rung.width as i32)
                .field("height", rung.height as i32)
                .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                .field("colorimetry", "bt709")
                .build(),
        )?;
        let x264 = make("x264enc")?;
        x264.set_property("bitrate", rung.bitrate_kbps);
        x264.set_property("key-int-max", plan.gop_frames);
        x264.set_property("threads", threads[index]);
        x264.set_property_from_str("speed-preset", &encoder.x264_preset);
        // Keyframes exactly every GOP: no scene-cut keyframes, closed GOPs.
        x264.set_property("option-string", "scenecut=0:open-gop=0");
        let profile = capsfilter(
            gst::Caps::builder("video/x-h264").field("profile", "high").field("stream-format", "avc").build(),
        )?;
        let mux = cmafmux(fragment_duration, true)?;
        let appsink = segment_appsink(shared, index)?;
        add_chain(&pipeline, &[&queue, &scale, &size, &x264, &profile, &mux, &appsink])?;
        split_at_keyframes(&profile);
        tee.link(&queue).map_err(build_error)?;

        let latest = Arc::new(AtomicU64::new(0));
        let probe_latest = latest.clone();
        if let Some(pad) = x264.static_pad("src") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                // Encoders shift their output segment (by 1000 hours, to
                // make room for negative DTS): only running time is comparable.
                if let Some(time) = buffer_running_time(pad, info) {
                    probe_latest.fetch_max(time.nseconds(), Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }
        encoded.push(latest);
    }
    crate::stills::add_branches(&pipeline, &tee, stills, shared)?;

    // One head per source track: its rendition's chain, or a tee into each
    // of its renditions (stereo and a kept 5.1).
    let mut audio_heads: Vec<(Option<String>, gst::Element)> = Vec::new();
    let mut track_tees: Vec<(usize, gst::Element)> = Vec::new();
    for (index, audio) in plan.audio.iter().enumerate() {
        let convert = make("audioconvert")?;
        let resample = make("audioresample")?;
        let format = capsfilter(
            gst::Caps::builder("audio/x-raw")
                .field("rate", audio.sample_rate as i32)
                .field("channels", audio.channels as i32)
                .build(),
        )?;
        let aac = make("avenc_aac")?;
        aac.set_property("bitrate", audio.bitrate as i32);
        let mux = cmafmux(fragment_duration, false)?;
        let appsink = segment_appsink(shared, plan.rungs.len() + index)?;
        add_chain(&pipeline, &[&convert, &resample, &format, &aac, &mux, &appsink])?;
        boundaries.split_audio(&aac);
        let shares_track = plan.audio.iter().filter(|a| a.source_track == audio.source_track).count() > 1;
        if !shares_track {
            audio_heads.push((audio.stream_id.clone(), convert));
            continue;
        }
        let tee = match track_tees.iter().find(|(track, _)| *track == audio.source_track) {
            Some((_, tee)) => tee.clone(),
            None => {
                let tee = make("tee")?;
                pipeline.add(&tee).map_err(build_error)?;
                track_tees.push((audio.source_track, tee.clone()));
                audio_heads.push((audio.stream_id.clone(), tee.clone()));
                tee
            }
        };
        let queue = make("queue")?;
        pipeline.add(&queue).map_err(build_error)?;
        gst::Element::link_many([&tee, &queue, &convert]).map_err(build_error)?;
    }

    let limit = gst::ClockTime::from_nseconds((plan.source_duration + TIMELINE_MARGIN).as_nanos() as u64);
    let heads = std::iter::once((&convert, "video")).chain(audio_heads.iter().map(|(_, h)| (h, "audio")));
    for (head, what) in heads {
        if let Some(pad) = head.static_pad("sink") {
            timeline::one_timeline(&pad, what, limit);
        }
    }
    connect_decoded_streams(&pipeline, &decodebin, plan, &convert, audio_heads);
    Ok(Built { pipeline, encoded })
}

/// Drops the image-orientation tag after videoflip has applied it, so that
/// cmafmux does not write a rotation matrix and players rotate again.
fn strip_orientation_tags(flip: &gst::Element) {
    let Some(pad) = flip.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
        let Some(gst::PadProbeData::Event(event)) = &info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let gst::EventView::Tag(tag) = event.view() else {
            return gst::PadProbeReturn::Ok;
        };
        let tags = tag.tag();
        if tags.get::<gst::tags::ImageOrientation>().is_none() {
            return gst::PadProbeReturn::Ok;
        }
        let mut upright = tags.to_owned();
        upright.make_mut().add::<gst::tags::ImageOrientation>(&"rotate-0", gst::TagMergeMode::Replace);
        let scope = upright.scope();
        let replaced = gst::event::Tag::new(upright);
        debug!(?scope, "orientation tag replaced by rotate-0");
        info.data = Some(gst::PadProbeData::Event(replaced));
        gst::PadProbeReturn::Ok
    });
}

/// The instants where every rendition starts a new segment: the first one
/// after the plan's short first segment, then one every GOP. The keyframes
/// of every rung are forced there (so the rungs stay aligned whatever x264
/// would have chosen), each cmafmux runs in `manual-split` mode, and a
/// split-now event goes in just before each of those keyframes, and before
/// the audio frame that starts at or after each instant.
#[derive(Debug, Clone, Copy)]
struct Boundaries {
    first: u64,
    every: u64,
    /// Half a frame: a frame this close to an instant is on it.
    slack: u64,
}

impl Boundaries {
    fn of(plan: &LadderPlan) -> Self {
        let (n, d) = plan.frame_rate;
        let frame = d as f64 / n as f64;
        Boundaries {
            first: plan.first_segment_duration().as_nanos() as u64,
            every: plan.segment_duration().as_nanos() as u64,
            slack: (frame * 0.5e9) as u64,
        }
    }

    /// How many instants lie at or before `running_time`.
    fn passed(&self, running_time: u64) -> u64 {
        let time = running_time + self.slack;
        if time < self.first {
            0
        } else {
            (time - self.first) / self.every.max(1) + 1
        }
    }

    /// Sends a force-key-unit event down every branch of `tee` just before
    /// the first frame at or after each instant.
    fn force_keyframes(self, tee: &gst::Element) {
        let Some(pad) = tee.static_pad("sink") else {
            return;
        };
        let forced = AtomicU64::new(0);
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(time) = buffer_running_time(pad, info) else {
                return gst::PadProbeReturn::Ok;
            };
            let passed = self.passed(time.nseconds());
            if passed > forced.fetch_max(passed, Ordering::Relaxed) {
                let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .running_time(time)
                    .all_headers(true)
                    .count(passed as u32)
                    .build();
                // Serialized: every branch sees it just before this frame.
                let _ = pad.send_event(event);
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Splits the audio behind `encoder` (its muxer) at each instant.
    fn split_audio(self, encoder: &gst::Element) {
        let Some(pad) = encoder.static_pad("src") else {
            return;
        };
        let split = AtomicU64::new(0);
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(time) = buffer_running_time(pad, info) else {
                return gst::PadProbeReturn::Ok;
            };
            // Audio frames are 21 ms, not video frames: no slack.
            let passed = self.passed(time.nseconds().saturating_sub(self.slack));
            if time.nseconds() > 0 && passed > split.fetch_max(passed, Ordering::Relaxed) {
                let _ = pad.push_event(split_now());
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// The running time of the buffer passing `pad`.
fn buffer_running_time(pad: &gst::Pad, info: &gst::PadProbeInfo) -> Option<gst::ClockTime> {
    let pts = info.buffer()?.pts()?;
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    segment.segment().downcast_ref::<gst::ClockTime>()?.to_running_time(pts)
}

/// cmafmux's request to end the fragment before the next buffer.
fn split_now() -> gst::Event {
    gst::event::CustomDownstream::builder(
        gst::Structure::builder("FMP4MuxSplitNow").field("chunk", false).build(),
    )
    .build()
}

/// Ends a fragment before every keyframe but the first that leaves
/// `encoded` (the element just before a video cmafmux): the keyframes are
/// the forced ones of [`Boundaries`].
fn split_at_keyframes(encoded: &gst::Element) {
    let Some(pad) = encoded.static_pad("src") else {
        return;
    };
    let first = std::sync::atomic::AtomicBool::new(true);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if keyframe && !first.swap(false, Ordering::Relaxed) {
            let _ = pad.push_event(split_now());
        }
        gst::PadProbeReturn::Ok
    });
}

/// A cmafmux whose input is guarded against timestamps it would panic on
/// (see [`crate::timeline`]); it starts a fragment only when told to (see
/// [`Boundaries`]).
fn cmafmux(fragment_duration: gst::ClockTime, video: bool) -> Result<gst::Element, TranscodeError> {
    let mux = gst::ElementFactory::make("cmafmux")
        .property("fragment-duration", fragment_duration)
        .property("manual-split", true)
        .build()
        .map_err(|_| TranscodeError::MissingElement("cmafmux".into()))?;
    let sink = mux.static_pad("sink").ok_or_else(|| build_error("cmafmux has no sink pad"))?;
    timeline::guard_muxer_input(&sink, video);
    Ok(mux)
}

/// Whether a decoded pad carries the stream the probe chose. Stream ids
/// start with a hash of the source's URI, which the probe and the pipeline
/// may spell differently (a relative path, a symlink): the part after the
/// first '/' names the stream within the file.
fn is_stream(pad: &gst::Pad, wanted: Option<&str>) -> bool {
    let Some(wanted) = wanted else {
        return true;
    };
    let Some(id) = pad.stream_id() else {
        return true;
    };
    let within = |id: &str| id.split_once('/').map(|(_, rest)| rest.to_owned());
    id.as_str() == wanted || within(id.as_str()).is_some_and(|rest| Some(rest) == within(wanted))
}

/// A `capssetter` that declares square pixels, added to the pipeline, when
/// `caps` carry a pixel aspect ratio no converter accepts (raw BGR in AVI
/// comes out of avidemux with -1/1); `None` for ordinary caps.
fn square_pixels_if_invalid(pipeline: &gst::Pipeline, caps: &gst::Caps) -> Option<gst::Element> {
    let par = caps.structure(0)?.get::<gst::Fraction>("pixel-aspect-ratio").ok()?;
    if par.numer() > 0 && par.denom() > 0 {
        return None;
    }
    let square =
        gst::Caps::builder("video/x-raw").field("pixel-aspect-ratio", gst::Fraction::new(1, 1)).build();
    let fixer = gst::ElementFactory::make("capssetter")
        .property("caps", square)
        .property("join", true)
        .property("replace", false)
        .build()
        .ok()?;
    pipeline.add(&fixer).ok()?;
    fixer.sync_state_with_parent().ok()?;
    Some(fixer)
}

/// Links decodebin's pads as they appear: the video stream the probe chose
/// to the video head, each audio track to its own audio head, anything else
/// (a cover picture, a second video) to a fakesink so that it cannot stall
/// the demuxer.
fn connect_decoded_streams(
    pipeline: &gst::Pipeline,
    decodebin: &gst::Element,
    plan: &LadderPlan,
    video_head: &gst::Element,
    audio_heads: Vec<(Option<String>, gst::Element)>,
) {
    let pipeline_weak = pipeline.downgrade();
    let video_sink = video_head.static_pad("sink");
    let audio_sinks: Vec<(Option<String>, gst::Pad)> =
        audio_heads.into_iter().filter_map(|(id, head)| Some((id, head.static_pad("sink")?))).collect();
    let video_id = plan.video_stream_id.clone();
    decodebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let media = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        let target = if media.starts_with("video/") && is_stream(pad, video_id.as_deref()) {
            video_sink.as_ref()
        } else if media.starts_with("audio/") {
            // Each track to its own rendition: the one planned for its
            // stream id, or the next free one when the probe had no ids.
            audio_sinks
                .iter()
                .find(|(id, sink)| !sink.is_linked() && is_stream(pad, id.as_deref()))
                .map(|(_, s)| s)
        } else {
            None
        };
        if let Some(target) = target.filter(|t| !t.is_linked()) {
            let linked = match square_pixels_if_invalid(&pipeline, &caps) {
                Some(fixer) => fixer.static_pad("sink").map(|sink| pad.link(&sink)).and_then(|linked| {
                    let src = fixer.static_pad("src")?;
                    Some(linked.and_then(|_| src.link(target)))
                }),
                None => Some(pad.link(target)),
            };
            match linked {
                Some(Ok(_)) => {
                    debug!(media, stream_id = ?pad.stream_id(), "linked decoded stream");
                    return;
                }
                Some(Err(e)) => warn!(media, error = ?e, %caps, "could not link decoded stream"),
                None => warn!(media, %caps, "could not build the caps fixer"),
            }
            if media.starts_with("video/") {
                // Without its video the job could only stall: fail it now.
                gst::element_error!(
                    pipeline,
                    gst::StreamError::Format,
                    ["the decoded video ({}) cannot be converted", caps]
                );
            }
        }
        debug!(media, stream_id = ?pad.stream_id(), "discarding decoded stream");
        if let Ok(fakesink) =
            gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build()
        {
            if pipeline.add(&fakesink).is_ok() {
                let _ = fakesink.sync_state_with_parent();
                if let Some(sink_pad) = fakesink.static_pad("sink") {
                    let _ = pad.link(&sink_pad);
                }
            }
        }
    });
}

/// An appsink that takes cmafmux's output and hands it to the sink: the init
/// segment (flagged HEADER) once, then one media segment per buffer list.
fn segment_appsink(shared: &Arc<Shared>, index: usize) -> Result<gst::Element, TranscodeError> {
    let shared = shared.clone();
    let appsink = gst_app::AppSink::builder()
        .sync(false)
        .buffer_list(true)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    match store_sample(&shared, index, &sample) {
                        Ok(()) => Ok(gst::FlowSuccess::Ok),
                        Err(error) => {
                            shared.fail(error);
                            Err(gst::FlowError::Error)
                        }
                    }
                })
                .build(),
        )
        .build();
    Ok(appsink.upcast())
}

fn store_sample(shared: &Shared, index: usize, sample: &gst::Sample) -> Result<(), TranscodeError> {
    let buffers: Vec<gst::Buffer> = match (sample.buffer_list(), sample.buffer()) {
        (Some(list), _) => list.iter_owned().collect(),
        (None, Some(buffer)) => vec![buffer.to_owned()],
        (None, None) => return Ok(()),
    };
    let mut media = buffers.as_slice();
    let name = {
        let renditions = shared.renditions.lock().unwrap_or_else(|e| e.into_inner());
        renditions[index].name.clone()
    };
    if let Some(first) = media.first() {
        // cmafmux flags the start of every fragment HEADER; only the init
        // segment is also DISCONT.
        if first.flags().contains(gst::BufferFlags::HEADER | gst::BufferFlags::DISCONT) {
            let map = first.map_readable().map_err(build_error)?;
            shared.sink.init_segment(&name, &map).map_err(|source| TranscodeError::Output {
                what: format!("the init segment of {name}"),
                source,
            })?;
            let codec = cmaf::codec_string(&map).unwrap_or_default();
            let mut renditions = shared.renditions.lock().unwrap_or_else(|e| e.into_inner());
            renditions[index].codec = codec;
            renditions[index].init_size = map.len() as u64;
            media = &media[1..];
        }
    }
    if media.is_empty() {
        return Ok(());
    }

    let mut data = Vec::with_capacity(media.iter().map(|b| b.size()).sum());
    // Times are running times, so every rendition shares one clock from 0
    // whatever offset the encoders added to their timestamps.
    let segment = sample.segment().and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
    let running_time =
        |pts: gst::ClockTime| segment.as_ref().and_then(|s| s.to_running_time(pts)).unwrap_or(pts).nseconds();
    let (mut start, mut end) = (u64::MAX, 0u64);
    for buffer in media {
        if let Some(pts) = buffer.pts() {
            let pts = running_time(pts);
            start = start.min(pts);
            end = end.max(pts + buffer.duration().map(|d| d.nseconds()).unwrap_or(0));
        }
        let map = buffer.map_readable().map_err(build_error)?;
        data.extend_from_slice(&map);
    }
    if start == u64::MAX {
        start = 0;
    }
    let number = {
        let renditions = shared.renditions.lock().unwrap_or_else(|e| e.into_inner());
        renditions[index].segments.len() as u32 + 1
    };
    let segment = Segment {
        number,
        start: Duration::from_nanos(start),
        duration: Duration::from_nanos(end.saturating_sub(start)),
        size: data.len() as u64,
    };
    shared
        .sink
        .media_segment(&name, &segment, &data)
        .map_err(|source| TranscodeError::Output { what: format!("segment {number} of {name}"), source })?;
    debug!(rendition = %name, number, start = ?segment.start, duration = ?segment.duration, "segment written");
    shared.renditions.lock().unwrap_or_else(|e| e.into_inner())[index].segments.push(segment);
    Ok(())
}

fn run(
    built: &Built,
    plan: &LadderPlan,
    encoder: &EncoderOptions,
    shared: &Shared,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), TranscodeError> {
    let started = Instant::now();
    let bus = built.pipeline.bus().ok_or_else(|| build_error("the pipeline has no bus"))?;
    built.pipeline.set_state(gst::State::Playing).map_err(|_| {
        decode_error_from_bus(&bus).unwrap_or_else(|| build_error("the pipeline would not start"))
    })?;

    let total = plan.source_duration.max(Duration::from_millis(1));
    let mut last_encoded = 0u64;
    let mut last_change = Instant::now();
    loop {
        if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) {
            match message.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(err) => {
                    if let Some(error) = shared.take_error() {
                        return Err(error);
                    }
                    let source = err.src().map(|s| s.name().to_string()).unwrap_or_default();
                    let detail = match err.debug() {
                        Some(debug) => format!("{} [{source}: {debug}]", err.error()),
                        None => format!("{} [{source}]", err.error()),
                    };
                    warn!(%detail, "pipeline error");
                    return Err(TranscodeError::Decode { detail: err.error().to_string() });
                }
                gst::MessageView::Warning(w) => debug!(warning = %w.error(), "pipeline warning"),
                _ => {}
            }
        }
        let encoded = built.encoded.iter().map(|a| a.load(Ordering::Relaxed)).min().unwrap_or(0);
        if encoded != last_encoded {
            last_encoded = encoded;
            last_change = Instant::now();
        } else if last_change.elapsed() > encoder.stall_timeout {
            return Err(TranscodeError::Stalled(encoder.stall_timeout));
        }
        let encoded = Duration::from_nanos(encoded);
        progress(Progress {
            percent: (encoded.as_secs_f64() / total.as_secs_f64() * 100.0).clamp(0.0, 99.9),
            encoded,
            elapsed: started.elapsed(),
        });
    }
    info!(elapsed = ?started.elapsed(), "pipeline finished");
    progress(Progress { percent: 100.0, encoded: plan.source_duration, elapsed: started.elapsed() });
    Ok(())
}

fn decode_error_from_bus(bus: &gst::Bus) -> Option<TranscodeError> {
    let message = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(100), &[gst::MessageType::Error])?;
    match message.view() {
        gst::MessageView::Error(err) => Some(TranscodeError::Decode { detail: err.error().to_string() }),
        _ => None,
    }
}

/// After EOS: every rendition has segments, and the video covers the source.
fn check_complete(plan: &LadderPlan, renditions: &[RenditionOutput]) -> Result<(), TranscodeError> {
    let expected = plan.source_duration;
    for rendition in renditions {
        if rendition.segments.is_empty() {
            return Err(TranscodeError::Decode { detail: format!("no {} could be decoded", rendition.name) });
        }
    }
    let decoded = renditions
        .iter()
        .filter(|r| matches!(r.kind, RenditionKind::Video { .. }))
        .filter_map(|r| r.segments.last().map(|s| s.start + s.duration))
        .min()
        .unwrap_or_default();
    let short_by = expected.saturating_sub(decoded);
    if decoded.as_secs_f64() < expected.as_secs_f64() * TRUNCATION_RATIO && short_by > TRUNCATION_MIN_GAP {
        return Err(TranscodeError::Truncated { decoded, expected });
    }
    Ok(())
}
