//! Plugins' jobs: work a plugin hands to the job queue, so the farm's
//! workers run it (a day of the analytics lake, say) instead of the process
//! that serves requests.
//!
//! A plugin enqueues with `PluginContext::enqueue_job(job, key)`; a worker
//! (`cdlc serve`'s own or a `cdlc worker` of the farm) calls the plugin's
//! `run_job` with a [`JobContext`]: the plugin's objects and config, no
//! store, since a farm worker has none. What `run_job` returns (or why it
//! failed for good) comes back to the serving process, which calls the
//! plugin's `job_ended` there, where its store is.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::objects::Objects;
use crate::plugin::PluginError;

/// The longest job key.
pub const MAX_JOB_KEY: usize = 128;

/// What a plugin's job is: `{plugin}/{job}/{key}` as text, e.g.
/// `analytics/day/2026-12-01` (the queue carries it where a transcode
/// carries its asset id; asset ids never hold a `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSubject {
    pub plugin: String,
    /// One of the plugin's own job names.
    pub job: String,
    /// The job's argument: a day, an id…
    pub key: String,
}

impl JobSubject {
    /// Checks the parts: plugin and job names of 1–32 lower-case letters,
    /// digits and `_`; a key of 1–128 letters, digits and `-_.:`.
    pub fn new(plugin: &str, job: &str, key: &str) -> Result<JobSubject, JobsError> {
        let named = |text: &str| {
            (1..=32).contains(&text.len())
                && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !named(plugin) || !named(job) {
            return Err(JobsError::Invalid(format!(
                "a plugin job is named by 1-32 lower-case letters, digits or '_' (not {plugin:?}/{job:?})"
            )));
        }
        let key_ok = (1..=MAX_JOB_KEY).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !key_ok {
            return Err(JobsError::Invalid(format!(
                "a plugin job's key is 1-{MAX_JOB_KEY} letters, digits or '-_.:' (not {:?})",
                key.chars().take(40).collect::<String>()
            )));
        }
        Ok(JobSubject { plugin: plugin.to_owned(), job: job.to_owned(), key: key.to_owned() })
    }

    /// The subject of `text`, `None` when it is none (an asset id, say).
    pub fn parse(text: &str) -> Option<JobSubject> {
        let mut parts = text.splitn(3, '/');
        let (plugin, job, key) = (parts.next()?, parts.next()?, parts.next()?);
        JobSubject::new(plugin, job, key).ok()
    }
}

impl std::fmt::Display for JobSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.plugin, self.job, self.key)
    }
}

/// Why a job could not be queued.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobsError {
    /// The job's name or key is not one; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// The queue did not take it (try again later).
    #[error("the job queue is unavailable: {0}")]
    Unavailable(String),
}

/// The host's queue, as plugins see it.
#[async_trait::async_trait]
pub trait Jobs: Send + Sync {
    /// Queues `subject`; returns the job's id.
    async fn enqueue(&self, subject: &JobSubject) -> Result<String, JobsError>;
}

/// One attempt of a job, as `run_job` gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginJob {
    pub id: String,
    pub job: String,
    pub key: String,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    /// A sentence for a person.
    pub message: String,
    /// Whether a later attempt may succeed (storage was away) or not (the
    /// key names nothing).
    pub retryable: bool,
}

impl JobError {
    pub fn permanent(message: impl std::fmt::Display) -> JobError {
        JobError { message: message.to_string(), retryable: false }
    }

    pub fn retryable(message: impl std::fmt::Display) -> JobError {
        JobError { message: message.to_string(), retryable: true }
    }
}

/// How a job ended, for the plugin's `job_ended`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnded {
    pub id: String,
    pub job: String,
    pub key: String,
    /// What `run_job` returned, or why the job failed for good.
    pub outcome: Result<serde_json::Value, String>,
}

/// What `run_job` runs with: the plugin's name, objects and config section,
/// the same as the serving process has; no store.
#[derive(Clone)]
pub struct JobContext {
    name: Arc<str>,
    objects: Arc<dyn Objects>,
    config: Arc<toml::Table>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext").field("name", &self.name).finish_non_exhaustive()
    }
}

impl JobContext {
    /// For the host (and tests).
    pub fn new(name: &str, objects: Arc<dyn Objects>, config: toml::Table) -> JobContext {
        JobContext { name: name.into(), objects, config: Arc::new(config) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's own objects.
    pub fn objects(&self) -> &dyn Objects {
        &*self.objects
    }

    /// The `[plugins.{name}]` section as the plugin's settings type.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        crate::plugin::settings(&self.name, &self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_round_trips_and_refuses_what_is_not_one() {
        let subject = JobSubject::new("analytics", "day", "2026-12-01").expect("valid");
        assert_eq!(subject.to_string(), "analytics/day/2026-12-01");
        assert_eq!(JobSubject::parse("analytics/day/2026-12-01"), Some(subject));
        for not_one in
            ["0123456789abcdef0123456789abcdef", "analytics/day", "Analytics/day/x", "a/b/", "a/b/c d"]
        {
            assert_eq!(JobSubject::parse(not_one), None, "{not_one}");
        }
        assert!(JobSubject::new("a", "b", &"k".repeat(MAX_JOB_KEY + 1)).is_err());
        assert!(JobSubject::new("a", "b", &"k".repeat(MAX_JOB_KEY)).is_ok());
    }
}
