//! Captions and subtitles for cdlc's streams.
//!
//! - [`parse`] reads an uploaded sidecar, SRT or WebVTT (told apart by its
//!   first line), into [`Cue`]s: UTF-8 only (a byte-order mark and CRLF
//!   line ends are fine), every cue's times checked, every size bounded.
//! - [`write_vtt`] writes cues as one WebVTT file (DASH serves it whole).
//! - [`segment`] cuts them into WebVTT segments over the video's segment
//!   boundaries, each with the `X-TIMESTAMP-MAP` HLS needs to place it on
//!   the media timeline (which starts at 0 in cdlc's CMAF segments).

mod parse;
mod track;
mod write;

pub use parse::{parse, Cue, Format};
pub use track::{language_name, Kind, Origin, TrackInfo, MAX_TRACKS};
pub use write::{segment, timestamp, write_vtt, TIMESTAMP_MAP};

/// The largest sidecar accepted.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The most cues in one file (a feature film has 1 000–2 000).
pub const MAX_CUES: usize = 50_000;
/// The longest text of one cue.
pub const MAX_CUE_BYTES: usize = 4 * 1024;
/// The latest a cue may end: 24 hours.
pub const MAX_TIME_MS: u64 = 24 * 3600 * 1000;

/// Why a sidecar was refused; each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptionError {
    #[error("the captions file is {0} bytes; at most 4 MiB is accepted")]
    TooLarge(usize),
    #[error("the captions file is not UTF-8 text (byte {0}); save it as UTF-8")]
    NotUtf8(usize),
    #[error("the captions file is neither WebVTT (starting with WEBVTT) nor SRT (numbered cues with 00:00:01,000 --> 00:00:02,000 times)")]
    UnknownFormat,
    #[error("line {line}: {reason}")]
    BadCue { line: usize, reason: String },
    #[error("the captions file has no cue")]
    Empty,
    #[error("the captions file has more than {MAX_CUES} cues")]
    TooManyCues,
}
