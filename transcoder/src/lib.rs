//! Transcoder: turns a probed source into an aligned ladder of CMAF renditions.
//!
//! The way through this crate:
//! 1. [`ladder::plan`] picks the rungs from the source (never upscaling) and a
//!    GOP equal to the segment duration, so every rung has keyframes at the
//!    same instants.
//! 2. [`transcode`] runs one GStreamer pipeline: the source is decoded once,
//!    teed to one scaler + x264enc + cmafmux per rung, and the first audio
//!    track goes through avenc_aac + cmafmux.
//! 3. Every init and media segment is handed to a [`SegmentSink`] the moment
//!    cmafmux produces it, and progress is reported as it goes.
//! 4. Two light branches of the same pipeline make the [`stills`]: a poster
//!    early on, a storyboard sprite and its WebVTT index at the end.
//! 5. [`subtitles::extract_text`], a demux-only pass, reads the source's
//!    own text tracks (SRT, ASS, mov_text) as cues.
//! 6. [`thumbnail::thumbnail_jpeg`], its own small pipeline, scales an
//!    uploaded JPEG or PNG (a catalog poster) down to a small JPEG.

pub mod cmaf;
mod error;
pub mod ladder;
pub mod output;
mod pipeline;
pub mod stills;
pub mod subtitles;
pub mod thumbnail;
mod timeline;

pub use error::TranscodeError;
pub use ladder::{plan, AudioPlan, LadderOptions, LadderPlan, Rung, RungSpec};
pub use output::{
    layout, DirectorySink, RenditionKind, RenditionOutput, Segment, SegmentSink, TranscodeOutput,
};
pub use pipeline::{
    threads_per_rung, transcode, EncoderOptions, Progress, DEFAULT_X264_PRESET, X264_PRESETS,
};
pub use stills::StillsPlan;

/// Turns GStreamer's own SIGSEGV handler off, for a process whose crash is
/// its parent's to report (a transcode child dies of its signal, which the
/// server names; GStreamer's handler would exit 255 while plugins load).
/// Call it first in a fresh process: once GStreamer is initialized it is too late.
pub fn leave_crashes_to_the_parent() {
    gst::segtrap_set_enabled(false);
}

/// Registers the GStreamer elements cdlc ships inside its own binary
/// (cmafmux from gst-plugin-fmp4). Safe to call more than once.
pub fn init() -> Result<(), TranscodeError> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            gst::init().map_err(|e| e.to_string())?;
            gstfmp4::plugin_register_static().map_err(|e| e.to_string())
        })
        .clone()
        .map_err(TranscodeError::Init)
}
