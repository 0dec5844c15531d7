use std::time::Duration;

use crate::wire::Stage;

/// Why an isolated job did not produce a stream. The messages are meant
/// for the person who uploaded the source.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The child refused the source or failed in an orderly way; the
    /// message is the probe's, the planner's or the transcoder's sentence.
    #[error("{message}")]
    Failed { stage: Stage, message: String, retryable: bool },
    #[error("the transcoder crashed on this file ({how}){}", .detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Crashed { how: String, detail: Option<String> },
    #[error(
        "the transcode used its whole CPU-time budget for a source of this length; the source may be damaged"
    )]
    CpuExhausted,
    #[error("the transcode took longer than {}s, the limit for a source of this length", .0.as_secs())]
    TimedOut(Duration),
    #[error("transcoding made no progress for {}s; the source may be damaged", .0.as_secs())]
    Stalled(Duration),
    #[error("the transcoder needed more than {} MiB of memory for this file", .0 >> 20)]
    OutOfMemory(u64),
    #[error("the job was cancelled")]
    Cancelled,
    #[error("could not store the output: {0}")]
    Output(String),
    #[error("could not start the transcoder process {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the transcoder process sent something unreadable ({0})")]
    Protocol(String),
}

impl JobError {
    /// Whether running the job again could succeed. A crash counts as an
    /// attempt: a file that crashes every time ends errored after the last.
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Failed { retryable, .. } => *retryable,
            JobError::Crashed { .. }
            | JobError::TimedOut(_)
            | JobError::Stalled(_)
            | JobError::Output(_)
            | JobError::Spawn { .. }
            | JobError::Protocol(_) => true,
            JobError::CpuExhausted | JobError::OutOfMemory(_) | JobError::Cancelled => false,
        }
    }
}
