use std::time::Duration;

/// Why a transcode failed. The messages are meant for the person who
/// uploaded the source or runs `cdlc transcode`.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("the GStreamer element {0} is missing; install the GStreamer plugins named in the README")]
    MissingElement(String),
    #[error("could not build the transcoding pipeline: {0}")]
    Build(String),
    #[error("the source could not be decoded ({detail}); it may be damaged")]
    Decode { detail: String },
    #[error("the source is truncated or damaged: only {:.1}s of its {:.1}s could be decoded", .decoded.as_secs_f64(), .expected.as_secs_f64())]
    Truncated { decoded: Duration, expected: Duration },
    #[error("transcoding made no progress for {}s; the source may be damaged", .0.as_secs())]
    Stalled(Duration),
    #[error("the ladder is empty: {0}")]
    EmptyLadder(String),
    #[error("could not write {what}: {source}")]
    Output {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl TranscodeError {
    /// Whether running the same job again could succeed: output and stalls
    /// can be passing faults, a bad source stays bad.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TranscodeError::Output { .. } | TranscodeError::Stalled(_))
    }
}
