//! The records the metadata service keeps.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssetStatus {
    /// Created; the source is still arriving.
    Uploading,
    /// The source is complete; probing and transcoding.
    Processing,
    /// Every rendition is published.
    Ready,
    /// Failed for good; `error` says why.
    Errored,
}

impl AssetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Uploading => "uploading",
            AssetStatus::Processing => "processing",
            AssetStatus::Ready => "ready",
            AssetStatus::Errored => "errored",
        }
    }

    pub fn parse(text: &str) -> Option<AssetStatus> {
        Some(match text {
            "uploading" => AssetStatus::Uploading,
            "processing" => AssetStatus::Processing,
            "ready" => AssetStatus::Ready,
            "errored" => AssetStatus::Errored,
            _ => return None,
        })
    }
}

/// What a caller may set when creating an asset.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewAsset {
    pub title: Option<String>,
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Asset {
    pub id: String,
    pub title: Option<String>,
    pub status: AssetStatus,
    /// 0–100 while processing.
    pub progress: f64,
    /// Why the asset is `errored`, as a sentence.
    pub error: Option<String>,
    pub private: bool,
    /// The probe's media info (JSON), once known.
    pub source: Option<serde_json::Value>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// One rung of an asset's ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Rendition)]
pub struct RenditionRecord {
    pub asset_id: String,
    pub name: String,
    /// "video" or "audio".
    pub kind: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bitrate: u64,
    pub codec: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    pub asset_id: String,
    pub rendition: String,
    pub number: u32,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Probe, transcode and package an asset's source; the job's subject
    /// (`asset_id`) is the asset.
    Transcode,
    /// A plugin's job (a step of its own, such as a day of the analytics
    /// lake); the subject names the plugin, the job and its argument
    /// (`cdlc_plugin_api::JobSubject`) and is no asset.
    Plugin,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Transcode => "transcode",
            JobKind::Plugin => "plugin",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        match text {
            "transcode" => Some(JobKind::Transcode),
            "plugin" => Some(JobKind::Plugin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        Some(match text {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub asset_id: String,
    pub kind: JobKind,
    pub state: JobState,
    /// Attempts started so far, including the running one.
    pub attempts: u32,
    pub max_attempts: u32,
    pub lease_owner: Option<String>,
    /// Milliseconds since the epoch when the lease runs out.
    pub lease_until: Option<i64>,
    /// Not to be claimed before this time (ms since the epoch).
    pub run_after: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    pub asset_id: String,
    pub kind: String,
    pub data: serde_json::Value,
    pub at: i64,
}

/// One page of a list and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}
