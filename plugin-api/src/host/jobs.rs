//! The host's side of plugins' jobs: what runs them on a worker
//! ([`PluginJobRunner`]) and, for a host without the server's queue, a queue
//! that runs each job on a task of this process.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::{check_sections, enabled_section, PrefixedObjects};
use crate::jobs::{JobContext, JobEnded, JobError, JobSubject, Jobs, JobsError, PluginJob};
use crate::plugin::{Plugin, PluginContext, PluginError};

/// Runs plugins' jobs on a worker: each enabled plugin with the context its
/// jobs get.
#[derive(Clone, Default)]
pub struct PluginJobRunner {
    plugins: Vec<(Arc<dyn Plugin>, JobContext)>,
}

impl std::fmt::Debug for PluginJobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.plugins.iter().map(|(p, _)| p.name()).collect();
        f.debug_struct("PluginJobRunner").field("plugins", &names).finish()
    }
}

impl PluginJobRunner {
    pub(crate) fn of(plugins: Vec<(Arc<dyn Plugin>, JobContext)>) -> PluginJobRunner {
        PluginJobRunner { plugins }
    }

    /// For a worker that serves no requests (`cdlc worker`): the plugins of
    /// `available` that `config` (the `[plugins]` table) enables, with their
    /// objects in `objects` and their sections; nothing is started.
    pub fn new(
        available: Vec<Arc<dyn Plugin>>,
        config: &toml::Table,
        objects: Arc<dyn cdlc_storage::ObjectStore>,
    ) -> Result<PluginJobRunner, PluginError> {
        check_sections(&available, config)?;
        let mut plugins = Vec::new();
        for plugin in available {
            let name = plugin.name();
            if let Some(section) = enabled_section(config, name)? {
                let objects = Arc::new(PrefixedObjects::new(objects.clone(), name));
                plugins.push((plugin, JobContext::new(name, objects, section)));
            }
        }
        Ok(PluginJobRunner { plugins })
    }

    /// Runs attempt `attempt` of job `id`.
    pub async fn run(
        &self,
        subject: &JobSubject,
        id: &str,
        attempt: u32,
    ) -> Result<serde_json::Value, JobError> {
        let Some((plugin, ctx)) = self.plugins.iter().find(|(p, _)| p.name() == subject.plugin) else {
            return Err(JobError::permanent(format!(
                "the plugin {} is not enabled on this worker (check its [plugins.{}] section)",
                subject.plugin, subject.plugin
            )));
        };
        let job =
            PluginJob { id: id.to_owned(), job: subject.job.clone(), key: subject.key.clone(), attempt };
        let span =
            tracing::info_span!("plugin_job", plugin = plugin.name(), job = %subject.job, key = %subject.key);
        plugin.run_job(ctx, &job).instrument(span).await
    }
}

/// The host that runs no jobs ([`PluginContext::new`]'s default).
pub struct NoJobs;

#[async_trait::async_trait]
impl Jobs for NoJobs {
    async fn enqueue(&self, _subject: &JobSubject) -> Result<String, JobsError> {
        Err(JobsError::Unavailable("this host runs no jobs".into()))
    }
}

/// Attempts of a job run in process.
const IN_PROCESS_ATTEMPTS: u32 = 3;
/// Pause before the next attempt of a retryable failure, doubled each time.
const IN_PROCESS_BACKOFF: Duration = Duration::from_millis(500);

type Started = Option<Arc<Vec<(Arc<dyn Plugin>, PluginContext)>>>;

/// Runs each job on a task of this process, once the host has started every
/// plugin: `run_job`, retried while retryable, then `job_ended`.
#[derive(Clone)]
pub(crate) struct InProcessJobs {
    started: Arc<tokio::sync::watch::Sender<Started>>,
}

impl Default for InProcessJobs {
    fn default() -> InProcessJobs {
        InProcessJobs { started: Arc::new(tokio::sync::watch::Sender::new(None)) }
    }
}

impl InProcessJobs {
    pub(crate) fn set(&self, started: Vec<(Arc<dyn Plugin>, PluginContext)>) {
        self.started.send_replace(Some(Arc::new(started)));
    }
}

async fn run_in_process(mut started: tokio::sync::watch::Receiver<Started>, subject: JobSubject, id: String) {
    let Ok(Some(plugins)) = started.wait_for(Option::is_some).await.map(|s| s.clone()) else { return };
    let Some((plugin, ctx)) = plugins.iter().find(|(p, _)| p.name() == subject.plugin) else {
        tracing::warn!(subject = %subject, "a job for a plugin that is not started");
        return;
    };
    let runner = PluginJobRunner::of(vec![(plugin.clone(), ctx.job_context())]);
    let mut attempt = 1;
    let outcome = loop {
        match runner.run(&subject, &id, attempt).await {
            Ok(output) => break Ok(output),
            Err(error) if error.retryable && attempt < IN_PROCESS_ATTEMPTS => {
                tracing::warn!(subject = %subject, attempt, %error, "a job failed; trying again");
                tokio::time::sleep(IN_PROCESS_BACKOFF * 2u32.pow(attempt - 1)).await;
                attempt += 1;
            }
            Err(error) => break Err(error.message),
        }
    };
    let ended = JobEnded { id, job: subject.job, key: subject.key, outcome };
    if let Err(error) = plugin.job_ended(ctx, &ended).await {
        tracing::error!(plugin = plugin.name(), job_id = %ended.id, %error, "job_ended failed");
    }
}

#[async_trait::async_trait]
impl Jobs for InProcessJobs {
    async fn enqueue(&self, subject: &JobSubject) -> Result<String, JobsError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        tokio::spawn(run_in_process(self.started.subscribe(), subject.clone(), id.clone()));
        Ok(id)
    }
}
