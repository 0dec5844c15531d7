//! Isolation: every probe and transcode runs in a child process of its own.
//!
//! GStreamer elements run the source's bytes through C and Rust code that
//! can panic, abort, segfault, loop or allocate without end on a hostile
//! file (cmafmux's "Timestamps going backwards" panic poisons a mutex that
//! later aborts the whole process). So the server never runs a pipeline in
//! its own process: [`run_isolated`] starts the binary again as a child
//! (`cdlc transcode-job`), sends it a [`JobRequest`], relays the segments
//! and stills it sends back to a [`SegmentSink`](cdlc_transcoder::SegmentSink)
//! (and the source's own text tracks, as WebVTT, to the [`JobObserver`]),
//! and watches it: wall time, progress, memory and cancellation here, CPU
//! time and memory by rlimits the child sets on itself ([`child::run_child`]).
//! Whatever goes wrong ends that child and becomes a [`JobError`] with a
//! sentence, never a crash of the caller. Thumbnails of uploaded images
//! ([`thumbnail`]) run the same way, as `cdlc thumbnail-job`.

pub mod child;
mod error;
mod parent;
pub mod thumbnail;
pub mod wire;

pub use error::JobError;
pub use parent::{
    run_isolated, ChildCommand, Finished, JobObserver, Watch, DEFAULT_MEMORY_BYTES, DEFAULT_PROBE_TIMEOUT,
    DEFAULT_STALL, DEFAULT_WALL_BASE, DEFAULT_WALL_PER_SOURCE_SECOND,
};
pub use wire::{JobRequest, SourceTrack, Stage};
