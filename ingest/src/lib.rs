//! Ingest: everything that happens to a source before it is transcoded.
//!
//! [`probe`] reads a file with GStreamer's Discoverer and describes it as a
//! [`MediaInfo`]; [`Limits::check`] decides whether cdlc will accept it and,
//! when it will not, says why in a sentence a person can act on. [`tus`]
//! reads the headers of resumable uploads. [`matroska`] reads the WebVTT
//! tracks of Matroska files, which GStreamer does not expose.

mod boxes;
mod error;
mod limits;
pub mod matroska;
mod probe;
pub mod tus;

pub use error::IngestError;
pub use limits::Limits;
pub use probe::{probe, AudioInfo, MediaInfo, Rotation, SubtitleInfo, VideoInfo};
