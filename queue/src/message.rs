//! What travels through the queue, as JSON.

use cdlc_metadata::{JobKind, RenditionRecord, SegmentRecord};
use serde::{Deserialize, Serialize};

/// One job: a unit of work on one asset, or a plugin's job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    /// The job's subject: a transcode's asset, or a plugin job's
    /// `cdlc_plugin_api::JobSubject` as text (`{plugin}/{job}/{key}`).
    pub asset_id: String,
    pub kind: JobKind,
}

/// What a worker learned or produced, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// An attempt begins: whatever an earlier attempt recorded is void.
    Started,
    /// What the probe found (the media info as JSON).
    Source { info: serde_json::Value },
    /// Percent done (0–100) of the running transcode.
    Progress { percent: f64 },
    /// A media segment is stored.
    Segment { segment: SegmentRecord },
    /// A rendition is complete.
    Rendition { rendition: RenditionRecord },
    /// Every object is written; the asset can be marked ready.
    Ready,
    /// A plugin's job succeeded, with what it returned (for the plugin's
    /// `job_ended`).
    Done { output: serde_json::Value },
    /// The job failed for good; `reason` is a sentence for a person.
    Failed { reason: String },
}

/// A report about one attempt of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMessage {
    pub asset_id: String,
    pub job_id: String,
    /// The attempt that sent it, from 1; reports of an older attempt than
    /// the latest `Started` are stale.
    pub attempt: u32,
    #[serde(flatten)]
    pub report: Report,
}

/// A job that used every attempt without a worker settling it (its
/// workers died or hung each time).
#[derive(Debug, Clone, PartialEq)]
pub struct ExhaustedJob {
    pub job: JobMessage,
    pub attempts: u32,
}

impl ExhaustedJob {
    /// Why the job failed, as a sentence.
    pub fn reason(&self) -> String {
        let plural = if self.attempts == 1 { "" } else { "s" };
        let then = match self.job.kind {
            JobKind::Transcode => ", then upload the video again",
            JobKind::Plugin => "",
        };
        format!(
            "no worker finished the job in {} attempt{plural} (each worker stopped answering); \
             check the workers' logs{then}",
            self.attempts
        )
    }
}
