use std::path::PathBuf;
use std::time::Duration;

/// Why a source was refused. Every message is a sentence that tells the
/// uploader what is wrong with the file and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the file is empty (0 bytes); upload the video file again")]
    Empty,
    #[error("the file is {size} bytes, larger than the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("the file is not a video cdlc can read ({detail}); upload an MP4, MOV, MKV or WebM file")]
    NotMedia { detail: String },
    #[error("the file is incomplete or damaged ({detail}); upload the whole file again")]
    Damaged { detail: String },
    #[error("the source is truncated or damaged: the file is incomplete (it ends at byte {have}, its '{kind}' box runs to byte {need}); upload the whole file again")]
    Truncated { kind: String, have: u64, need: u64 },
    #[error("the file's {detail} needs a decoder cdlc does not have; convert it to H.264, HEVC, VP9 or AV1 (and AAC or Opus audio) and upload it again")]
    MissingDecoder { detail: String },
    #[error("the file is {what}, which cdlc cannot read to its end (GStreamer 1.22's demuxer never finishes it); convert it to MP4, e.g. `ffmpeg -i FILE -c:v libx264 -pix_fmt yuv420p video.mp4`, and upload that")]
    UnreadableContainer { what: String },
    #[error("the file has no video stream (it holds {found}); upload a file with video")]
    NoVideo { found: String },
    #[error("the file is a still image, not a video")]
    StillImage,
    #[error("the video's duration cannot be read; remux it into MP4 or MKV and upload it again")]
    UnknownDuration,
    #[error("the video is {}s long, longer than the limit of {}s", .duration.as_secs(), .limit.as_secs())]
    TooLong { duration: Duration, limit: Duration },
    #[error("the video is {width}x{height} pixels, larger than the limit of {max_width}x{max_height}")]
    TooManyPixels { width: u32, height: u32, max_width: u32, max_height: u32 },
    #[error("the video has no pictures (its size reads as {width}x{height})")]
    NoPictures { width: u32, height: u32 },
    #[error("probing the file took longer than {}s; it may be damaged", .0.as_secs())]
    ProbeTimeout(Duration),
    #[error("GStreamer could not start: {0}")]
    Init(String),
}
