//! Stills made from the pipeline's decoded frames: a poster and a
//! storyboard (a sprite of small thumbnails plus a WebVTT index of it).
//!
//! Two light branches hang off the video tee, beside the rungs:
//!
//! ```text
//! tee ─┬─ [pick one frame] videoconvertscale ! WxH,JFIF ! jpegenc ! queue ! appsink → poster.jpg
//!      └─ [pick one frame every interval] videoconvertscale ! 160xH,JFIF ! queue ! appsink
//!                                          → tiles → sprite → jpegenc → storyboard.jpg + storyboard.vtt
//! ```
//!
//! A pad probe at the head of each branch drops every frame it does not
//! want, so scaling and encoding cost a few frames, not the whole video. The
//! frames that pass are few and small, so each branch's queue is sized to
//! hold all of them: a branch can never block the tee, and its appsink (not
//! part of preroll) can never hold up the rungs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;
use gst_video::prelude::*;
use tracing::{debug, info, warn};

use crate::output::layout;
use crate::pipeline::{build_error, capsfilter, frame_queue, make, Shared};
use crate::{LadderPlan, TranscodeError};

/// The poster's longest side, at most (the top rung's size when smaller).
pub const POSTER_MAX_SIDE: u32 = 1280;
/// Width of a storyboard thumbnail; the height follows the picture's shape.
pub const TILE_WIDTH: u32 = 160;
/// Thumbnails per row of the storyboard sprite.
pub const STORYBOARD_COLUMNS: u32 = 10;
/// Most thumbnails in one storyboard: the interval grows with the duration
/// so that a long film stays one bounded sprite (200 landscape tiles are
/// 1600x1800 pixels, a few hundred kB).
pub const MAX_TILES: u32 = 200;
/// Storyboard intervals to choose from, in seconds: the smallest that keeps
/// the tile count within [`MAX_TILES`].
const STORYBOARD_INTERVALS: [u64; 14] = [1, 2, 3, 4, 5, 6, 10, 15, 20, 30, 60, 120, 300, 600];
/// The poster is taken at this fraction of the duration, but no later than
/// [`POSTER_LATEST`], so it is ready early for fast publish.
const POSTER_FRACTION: f64 = 0.1;
const POSTER_LATEST: Duration = Duration::from_secs(2);
/// When the chosen frame is black or flat (a fade, a title card's
/// background), the next try is this much later…
const POSTER_RETRY_STEP: Duration = Duration::from_secs(1);
/// …up to this many frames in all, and never past this fraction of the
/// duration; then the last one is kept whatever it looks like.
const POSTER_TRIES: u32 = 6;
const POSTER_LATEST_FRACTION: f64 = 0.5;
/// A frame whose mean luma (16–235) is below this, or whose luma varies
/// less than [`FLAT_LUMA_DEVIATION`], makes a poor poster.
const DARK_LUMA_MEAN: f64 = 32.0;
const FLAT_LUMA_DEVIATION: f64 = 8.0;
/// libjpeg quality of the poster and the sprite.
pub(crate) const JPEG_QUALITY: i32 = 85;
/// Scaler of both branches. They touch a frame a second at most, so the
/// rungs' sinc costs nothing here and does not alias at 12x reductions.
pub(crate) const SCALING_METHOD: &str = "sinc";
/// What a branch's probe returns for a frame it does not want. `Handled`
/// (the probe consumed it) rather than `Drop`: with gstreamer-rs 0.24 on
/// GStreamer 1.22, `Drop` makes the core unref a buffer pointer the
/// bindings have already released, a CRITICAL for every frame.
const SKIP_FRAME: gst::PadProbeReturn = gst::PadProbeReturn::Handled;
/// Encoding the sprite at the end may not take longer than this.
const SPRITE_ENCODE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the stills of one job look like.
#[derive(Debug, Clone, PartialEq)]
pub struct StillsPlan {
    /// First moment the poster may show.
    pub poster_at: Duration,
    /// The poster's size: the top rung's, shrunk to fit [`POSTER_MAX_SIDE`].
    pub poster_width: u32,
    pub poster_height: u32,
    /// One storyboard thumbnail.
    pub tile_width: u32,
    pub tile_height: u32,
    /// Time between thumbnails.
    pub interval: Duration,
    /// The source's probed duration, which bounds the poster's retries.
    pub duration: Duration,
}

impl StillsPlan {
    pub fn for_ladder(plan: &LadderPlan) -> StillsPlan {
        let (width, height) = plan.rungs.first().map(|r| (r.width, r.height)).unwrap_or((TILE_WIDTH, 90));
        let (poster_width, poster_height) = fit_within(width, height, POSTER_MAX_SIDE);
        let tile_height = even((TILE_WIDTH as f64 * height as f64 / width.max(1) as f64).round() as u32);
        let duration = plan.source_duration;
        StillsPlan {
            poster_at: duration.mul_f64(POSTER_FRACTION).min(POSTER_LATEST),
            poster_width,
            poster_height,
            tile_width: TILE_WIDTH,
            tile_height,
            interval: storyboard_interval(duration),
            duration,
        }
    }
}

/// Rounds down to an even number, at least 2 (4:2:0 needs even sizes).
fn even(n: u32) -> u32 {
    (n & !1).max(2)
}

/// `width`x`height` shrunk (never grown) so neither side exceeds `max`,
/// keeping the shape, with even sides.
pub fn fit_within(width: u32, height: u32, max: u32) -> (u32, u32) {
    let scale = (max as f64 / width.max(height).max(1) as f64).min(1.0);
    (even((width as f64 * scale).round() as u32), even((height as f64 * scale).round() as u32))
}

/// The smallest interval of [`STORYBOARD_INTERVALS`] that keeps a video of
/// `duration` within [`MAX_TILES`] thumbnails; past the list, whatever does.
pub fn storyboard_interval(duration: Duration) -> Duration {
    let tiles = |interval: u64| duration.as_secs_f64() / interval as f64;
    let seconds = STORYBOARD_INTERVALS
        .iter()
        .copied()
        .find(|i| tiles(*i) <= MAX_TILES as f64)
        .unwrap_or_else(|| (duration.as_secs_f64() / MAX_TILES as f64).ceil() as u64);
    Duration::from_secs(seconds.max(1))
}

/// Chooses the poster frame: the first at or after `poster_at` that is
/// neither dark nor flat, trying again a little later a few times.
#[derive(Debug)]
struct PosterPicker {
    next_at: Duration,
    tries_left: u32,
    latest: Duration,
    taken: bool,
}

impl PosterPicker {
    fn new(plan: &StillsPlan) -> Self {
        PosterPicker {
            next_at: plan.poster_at,
            tries_left: POSTER_TRIES,
            latest: plan.duration.mul_f64(POSTER_LATEST_FRACTION),
            taken: false,
        }
    }

    /// Whether the frame at `time` is a candidate at all.
    fn wants(&self, time: Duration) -> bool {
        !self.taken && time >= self.next_at
    }

    /// Judges a candidate: true keeps it as the poster.
    fn judge(&mut self, time: Duration, looks_blank: bool) -> bool {
        self.tries_left = self.tries_left.saturating_sub(1);
        let next_at = time + POSTER_RETRY_STEP;
        if looks_blank && self.tries_left > 0 && next_at <= self.latest {
            self.next_at = next_at;
            return false;
        }
        self.taken = true;
        true
    }
}

/// Whether a decoded I420 frame is too dark or too flat to be a poster,
/// judged on a sparse grid of luma samples.
fn looks_blank(frame: &gst_video::VideoFrameRef<&gst::BufferRef>) -> bool {
    let Ok(luma) = frame.plane_data(0) else {
        return false;
    };
    let stride = frame.plane_stride()[0] as usize;
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let (columns, rows) = (32usize.min(width), 18usize.min(height));
    let mut samples = Vec::with_capacity(columns * rows);
    for row in 0..rows {
        let y = (row * 2 + 1) * height / (rows * 2);
        for column in 0..columns {
            let x = (column * 2 + 1) * width / (columns * 2);
            if let Some(value) = luma.get(y * stride + x) {
                samples.push(*value as f64);
            }
        }
    }
    if samples.is_empty() {
        return false;
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let variance = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / samples.len() as f64;
    mean < DARK_LUMA_MEAN || variance.sqrt() < FLAT_LUMA_DEVIATION
}

/// The thumbnails gathered so far, by slot (slot k shows the first frame at
/// or after k × interval).
#[derive(Debug, Default)]
struct Storyboard {
    /// Next slot still waiting for a frame.
    next_slot: u64,
    tiles: Vec<Option<gst::Buffer>>,
    tile_caps: Option<gst::Caps>,
    /// Running time at which the last frame ends.
    end: Duration,
}

/// State the stills branches share with the job.
pub(crate) struct Stills {
    plan: StillsPlan,
    poster: Mutex<PosterPicker>,
    storyboard: Mutex<Storyboard>,
}

impl Stills {
    pub(crate) fn new(plan: StillsPlan) -> Arc<Stills> {
        Arc::new(Stills {
            poster: Mutex::new(PosterPicker::new(&plan)),
            storyboard: Mutex::new(Storyboard::default()),
            plan,
        })
    }

    fn slot_of(&self, time: Duration) -> u64 {
        (time.as_nanos() / self.plan.interval.as_nanos().max(1)) as u64
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raw I420 caps in JPEG's own colour space (full range, BT.601 matrix,
/// centred chroma), so that every JPEG decoder shows the source's colours.
pub(crate) fn jfif_caps(width: u32, height: u32) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", width as i32)
        .field("height", height as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .field("colorimetry", "1:4:0:0")
        .field("chroma-site", "jpeg")
        .build()
}

/// The running time of a buffer arriving on `pad`.
fn running_time(pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<Duration> {
    let pts = buffer.pts()?;
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    let time = segment.segment().downcast_ref::<gst::ClockTime>()?.to_running_time(pts)?;
    Some(Duration::from_nanos(time.nseconds()))
}

/// Adds the poster and storyboard branches to `tee`.
pub(crate) fn add_branches(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    stills: &Arc<Stills>,
    shared: &Arc<Shared>,
) -> Result<(), TranscodeError> {
    add_poster_branch(pipeline, tee, stills, shared)?;
    add_storyboard_branch(pipeline, tee, stills, shared)
}

/// An appsink outside preroll (`async=false`), so the pipeline starts
/// without waiting for a still; `max-buffers` bounds it, the queue before
/// it absorbs the rest.
fn stills_appsink(
    on_sample: impl Fn(&gst::Sample) -> Result<(), TranscodeError> + Send + Sync + 'static,
    shared: &Arc<Shared>,
) -> gst::Element {
    let shared = shared.clone();
    gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .max_buffers(4)
        .drop(false)
        .callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    match on_sample(&sample) {
                        Ok(()) => Ok(gst::FlowSuccess::Ok),
                        Err(error) => {
                            shared.fail(error);
                            Err(gst::FlowError::Error)
                        }
                    }
                })
                .build(),
        )
        .build()
        .upcast()
}

/// Adds `videoconvertscale ! WxH,JFIF ! rest…` to the tee, behind a probe
/// that lets through only the frames `wanted(pad, frame, running time)`
/// accepts: everything else costs nothing past the probe.
fn add_branch(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    (width, height): (u32, u32),
    rest: &[&gst::Element],
    wanted: impl Fn(&gst::Pad, &gst::BufferRef, Duration) -> bool + Send + Sync + 'static,
) -> Result<(), TranscodeError> {
    let scale = make("videoconvertscale")?;
    scale.set_property_from_str("method", SCALING_METHOD);
    let size = capsfilter(jfif_caps(width, height))?;
    let mut chain = vec![&scale, &size];
    chain.extend_from_slice(rest);
    pipeline.add_many(chain.iter().copied()).map_err(build_error)?;
    gst::Element::link_many(chain.iter().copied()).map_err(build_error)?;
    tee.link(&scale).map_err(build_error)?;

    let pad = scale.static_pad("sink").ok_or_else(|| build_error("videoconvertscale has no sink pad"))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        match running_time(pad, buffer) {
            Some(time) if wanted(pad, buffer, time) => gst::PadProbeReturn::Ok,
            _ => SKIP_FRAME,
        }
    });
    Ok(())
}

fn add_poster_branch(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    stills: &Arc<Stills>,
    shared: &Arc<Shared>,
) -> Result<(), TranscodeError> {
    let jpeg = make("jpegenc")?;
    jpeg.set_property("quality", JPEG_QUALITY);
    // Sized for everything the branch can pass: it never blocks the tee.
    let queue = frame_queue(2)?;
    let sink_for_poster = shared.clone();
    let appsink = stills_appsink(
        move |sample| {
            let Some(buffer) = sample.buffer() else {
                return Ok(());
            };
            let map = buffer.map_readable().map_err(build_error)?;
            sink_for_poster
                .sink
                .still(layout::POSTER, &map)
                .map_err(|source| TranscodeError::Output { what: "the poster".into(), source })?;
            info!(bytes = map.len(), "poster written");
            Ok(())
        },
        shared,
    );
    let picker = stills.clone();
    let size = (stills.plan.poster_width, stills.plan.poster_height);
    add_branch(pipeline, tee, size, &[&jpeg, &queue, &appsink], move |pad, buffer, time| {
        let mut poster = lock(&picker.poster);
        if !poster.wants(time) {
            return false;
        }
        let blank = pad
            .current_caps()
            .and_then(|caps| gst_video::VideoInfo::from_caps(&caps).ok())
            .and_then(|video| gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &video).ok())
            .is_some_and(|frame| looks_blank(&frame));
        let chosen = poster.judge(time, blank);
        debug!(?time, blank, chosen, "poster candidate");
        chosen
    })
}

fn add_storyboard_branch(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    stills: &Arc<Stills>,
    shared: &Arc<Shared>,
) -> Result<(), TranscodeError> {
    // Sized for every tile there can be: it never blocks the tee.
    let queue = frame_queue(MAX_TILES + 1)?;
    let gatherer = stills.clone();
    let appsink = stills_appsink(
        move |sample| {
            gatherer.keep_tile(sample);
            Ok(())
        },
        shared,
    );
    let picker = stills.clone();
    let size = (stills.plan.tile_width, stills.plan.tile_height);
    add_branch(pipeline, tee, size, &[&queue, &appsink], move |_, buffer, time| {
        let slot = picker.slot_of(time);
        let mut board = lock(&picker.storyboard);
        board.end = board.end.max(time + buffer.duration().map(Duration::from).unwrap_or_default());
        if slot < board.next_slot || slot >= MAX_TILES as u64 {
            return false;
        }
        board.next_slot = slot + 1;
        true
    })
}

impl Stills {
    /// Files a scaled thumbnail under its slot.
    fn keep_tile(&self, sample: &gst::Sample) {
        let (Some(buffer), Some(segment)) = (sample.buffer_owned(), sample.segment()) else {
            return;
        };
        let time = buffer
            .pts()
            .and_then(|pts| segment.downcast_ref::<gst::ClockTime>()?.to_running_time(pts))
            .map(|t| Duration::from_nanos(t.nseconds()));
        let Some(time) = time else {
            return;
        };
        let slot = self.slot_of(time) as usize;
        if slot >= MAX_TILES as usize {
            return;
        }
        let mut board = lock(&self.storyboard);
        if board.tile_caps.is_none() {
            board.tile_caps = sample.caps_owned();
        }
        if board.tiles.len() <= slot {
            board.tiles.resize(slot + 1, None);
        }
        board.tiles[slot] = Some(buffer);
    }

    /// After the last frame: composes the sprite and its WebVTT index and
    /// hands both to the sink, the image first so the index never points
    /// at a missing picture.
    pub(crate) fn finish_storyboard(&self, shared: &Shared) -> Result<(), TranscodeError> {
        let board = std::mem::take(&mut *lock(&self.storyboard));
        let (Some(caps), false) = (board.tile_caps, board.tiles.is_empty()) else {
            warn!("no frame reached the storyboard");
            return Ok(());
        };
        let grid = Grid::new(board.tiles.len() as u32, self.plan.tile_width, self.plan.tile_height);
        let sprite = compose(&board.tiles, &caps, &grid)?;
        // jpegenc's caps require a frame rate; 0/1 is a still image.
        let mut sprite_caps = jfif_caps(grid.width(), grid.height());
        sprite_caps.make_mut().set("framerate", gst::Fraction::new(0, 1));
        let jpeg = encode_jpeg(sprite, &sprite_caps)?;
        let vtt = storyboard_vtt(&grid, self.plan.interval, board.end);
        let output = |what: &str| {
            let what = what.to_owned();
            move |source| TranscodeError::Output { what, source }
        };
        shared.sink.still(layout::STORYBOARD_IMAGE, &jpeg).map_err(output("the storyboard image"))?;
        shared
            .sink
            .still(layout::STORYBOARD_INDEX, vtt.as_bytes())
            .map_err(output("the storyboard index"))?;
        info!(tiles = grid.tiles, interval = ?self.plan.interval, bytes = jpeg.len(), "storyboard written");
        Ok(())
    }
}

/// Where the tiles sit in the sprite: row by row, [`STORYBOARD_COLUMNS`] wide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub tiles: u32,
    pub columns: u32,
    pub tile_width: u32,
    pub tile_height: u32,
}

impl Grid {
    pub fn new(tiles: u32, tile_width: u32, tile_height: u32) -> Grid {
        Grid { tiles, columns: tiles.clamp(1, STORYBOARD_COLUMNS), tile_width, tile_height }
    }

    pub fn rows(&self) -> u32 {
        self.tiles.div_ceil(self.columns).max(1)
    }

    pub fn width(&self) -> u32 {
        self.columns * self.tile_width
    }

    pub fn height(&self) -> u32 {
        self.rows() * self.tile_height
    }

    /// Top-left corner of tile `index`.
    pub fn origin(&self, index: u32) -> (u32, u32) {
        ((index % self.columns) * self.tile_width, (index / self.columns) * self.tile_height)
    }
}

/// WebVTT for a storyboard: one cue per tile, back to back from 0 to `end`,
/// each pointing at its tile with a media fragment (`#xywh=`).
pub fn storyboard_vtt(grid: &Grid, interval: Duration, end: Duration) -> String {
    let mut vtt = String::from("WEBVTT\n");
    for index in 0..grid.tiles {
        let start = interval * index;
        let stop = if index + 1 == grid.tiles { end.max(start) } else { interval * (index + 1) };
        let (x, y) = grid.origin(index);
        vtt.push_str(&format!(
            "\n{} --> {}\n{}#xywh={x},{y},{},{}\n",
            vtt_time(start),
            vtt_time(stop),
            layout::STORYBOARD_IMAGE,
            grid.tile_width,
            grid.tile_height
        ));
    }
    vtt
}

fn vtt_time(time: Duration) -> String {
    let millis = time.as_millis();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

/// Lays the tiles out on one I420 canvas. A slot no frame reached (a gap in
/// the source) repeats the tile before it, as the video itself holds still.
fn compose(
    tiles: &[Option<gst::Buffer>],
    tile_caps: &gst::Caps,
    grid: &Grid,
) -> Result<gst::Buffer, TranscodeError> {
    let tile_info = gst_video::VideoInfo::from_caps(tile_caps).map_err(build_error)?;
    let sprite_info =
        gst_video::VideoInfo::from_caps(&jfif_caps(grid.width(), grid.height())).map_err(build_error)?;
    let canvas = gst::Buffer::with_size(sprite_info.size()).map_err(build_error)?;
    let mut canvas = gst_video::VideoFrame::from_buffer_writable(canvas, &sprite_info)
        .map_err(|_| build_error("cannot map the storyboard canvas"))?;
    // Black in full range: luma 0, chroma at the middle.
    for plane in 0..3 {
        let fill = if plane == 0 { 0 } else { 128 };
        canvas.plane_data_mut(plane).map_err(build_error)?.fill(fill);
    }
    let mut previous: Option<&gst::Buffer> = None;
    for (index, tile) in tiles.iter().enumerate() {
        let Some(buffer) = tile.as_ref().or(previous) else {
            continue;
        };
        previous = Some(buffer);
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &tile_info)
            .map_err(build_error)?;
        let (x, y) = grid.origin(index as u32);
        for plane in 0..3u32 {
            // I420: chroma planes are half size both ways.
            let shift = if plane == 0 { 0 } else { 1 };
            let (width, height) = ((grid.tile_width >> shift) as usize, (grid.tile_height >> shift) as usize);
            let (x, y) = ((x >> shift) as usize, (y >> shift) as usize);
            let from_stride = frame.plane_stride()[plane as usize] as usize;
            let to_stride = canvas.plane_stride()[plane as usize] as usize;
            let from = frame.plane_data(plane).map_err(build_error)?;
            let to = canvas.plane_data_mut(plane).map_err(build_error)?;
            for row in 0..height {
                let source = from.get(row * from_stride..row * from_stride + width);
                let target = to.get_mut((y + row) * to_stride + x..(y + row) * to_stride + x + width);
                if let (Some(source), Some(target)) = (source, target) {
                    target.copy_from_slice(source);
                }
            }
        }
    }
    Ok(canvas.into_buffer())
}

/// Encodes one raw frame to JPEG with a pipeline of its own:
/// appsrc ! jpegenc ! appsink.
fn encode_jpeg(frame: gst::Buffer, caps: &gst::Caps) -> Result<Vec<u8>, TranscodeError> {
    let pipeline = gst::Pipeline::with_name("storyboard-jpeg");
    let source = gst_app::AppSrc::builder().caps(caps).format(gst::Format::Time).build();
    let jpeg = make("jpegenc")?;
    jpeg.set_property("quality", JPEG_QUALITY);
    let sink = gst_app::AppSink::builder().sync(false).build();
    let chain = [source.upcast_ref::<gst::Element>(), &jpeg, sink.upcast_ref()];
    pipeline.add_many(chain).map_err(build_error)?;
    gst::Element::link_many(chain).map_err(build_error)?;
    pipeline.set_state(gst::State::Playing).map_err(build_error)?;
    let result = (|| {
        source.push_buffer(frame).map_err(build_error)?;
        source.end_of_stream().map_err(build_error)?;
        let timeout = gst::ClockTime::from_nseconds(SPRITE_ENCODE_TIMEOUT.as_nanos() as u64);
        let sample = sink.try_pull_sample(timeout).ok_or_else(|| {
            let reason = pipeline
                .bus()
                .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
                .and_then(|message| match message.view() {
                    gst::MessageView::Error(err) => Some(err.error().to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "no image came out".into());
            build_error(format!("could not encode the storyboard: {reason}"))
        })?;
        let buffer = sample.buffer().ok_or_else(|| build_error("jpegenc gave an empty storyboard image"))?;
        let map = buffer.map_readable().map_err(build_error)?;
        Ok(map.to_vec())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_keeps_the_storyboard_bounded() {
        assert_eq!(storyboard_interval(Duration::from_secs(10)), Duration::from_secs(1));
        assert_eq!(storyboard_interval(Duration::from_secs(200)), Duration::from_secs(1));
        assert_eq!(storyboard_interval(Duration::from_secs(201)), Duration::from_secs(2));
        assert_eq!(storyboard_interval(Duration::from_secs(2 * 3600)), Duration::from_secs(60));
        for hours in [0.0, 0.5, 1.0, 3.0, 12.0, 100.0, 1000.0] {
            let duration = Duration::from_secs_f64(hours * 3600.0);
            let interval = storyboard_interval(duration);
            assert!(interval >= Duration::from_secs(1));
            assert!(duration.as_secs_f64() / interval.as_secs_f64() <= MAX_TILES as f64, "{hours} h");
        }
        assert_eq!(storyboard_interval(Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn sizes_keep_the_shape_and_stay_even() {
        assert_eq!(fit_within(1920, 1080, POSTER_MAX_SIDE), (1280, 720));
        assert_eq!(fit_within(640, 360, POSTER_MAX_SIDE), (640, 360), "never grown");
        assert_eq!(fit_within(1080, 1920, POSTER_MAX_SIDE), (720, 1280), "portrait: the long side");
        assert_eq!(fit_within(1918, 1078, POSTER_MAX_SIDE), (1280, 718));
    }

    #[test]
    fn the_poster_skips_blank_frames_a_few_times_then_settles() {
        let plan = StillsPlan {
            poster_at: Duration::from_secs(2),
            poster_width: 640,
            poster_height: 360,
            tile_width: 160,
            tile_height: 90,
            interval: Duration::from_secs(1),
            duration: Duration::from_secs(60),
        };
        let mut picker = PosterPicker::new(&plan);
        assert!(!picker.wants(Duration::from_millis(1999)));
        assert!(picker.wants(Duration::from_secs(2)));
        assert!(!picker.judge(Duration::from_secs(2), true), "a black frame is passed over");
        assert!(!picker.wants(Duration::from_millis(2500)));
        assert!(picker.wants(Duration::from_secs(3)));
        assert!(picker.judge(Duration::from_secs(3), false));
        assert!(!picker.wants(Duration::from_secs(10)), "one poster only");

        let mut all_black = PosterPicker::new(&plan);
        let mut time = Duration::from_secs(2);
        let mut tries = 0;
        while !all_black.judge(time, true) {
            tries += 1;
            time += POSTER_RETRY_STEP;
            assert!(all_black.wants(time));
        }
        assert_eq!(tries + 1, POSTER_TRIES, "a black video still gets its poster");

        let short = StillsPlan { duration: Duration::from_secs(3), ..plan };
        let mut picker = PosterPicker::new(&short);
        assert!(picker.judge(Duration::from_secs(2), true), "no retry past half the video");
    }

    #[test]
    fn the_storyboard_index_tiles_the_whole_duration() {
        let grid = Grid::new(12, 160, 90);
        assert_eq!((grid.columns, grid.rows(), grid.width(), grid.height()), (10, 2, 1600, 180));
        let vtt = storyboard_vtt(&grid, Duration::from_secs(5), Duration::from_millis(57_250));
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nstoryboard.jpg#xywh=0,0,160,90\n"));
        assert!(vtt.contains("\n00:00:45.000 --> 00:00:50.000\nstoryboard.jpg#xywh=1440,0,160,90\n"));
        assert!(vtt.contains("\n00:00:50.000 --> 00:00:55.000\nstoryboard.jpg#xywh=0,90,160,90\n"));
        assert!(vtt.ends_with("\n00:00:55.000 --> 00:00:57.250\nstoryboard.jpg#xywh=160,90,160,90\n"));
        assert_eq!(vtt.matches(" --> ").count(), 12);
        assert_eq!(vtt_time(Duration::from_millis(3_723_004)), "01:02:03.004");
    }
}
