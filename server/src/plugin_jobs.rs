//! The plugins' jobs on the server's job queue: `enqueue_job` queues a
//! `JobKind::Plugin` job whose subject names the plugin, the job and its
//! key, so `cdlc serve`'s workers or the farm's `cdlc worker`s run it.

use std::sync::Arc;

use cdlc_plugin_api::{JobSubject, Jobs, JobsError};
use cdlc_queue::{JobKind, JobQueue};

pub struct QueueJobs {
    pub queue: Arc<dyn JobQueue>,
}

#[cdlc_plugin_api::async_trait]
impl Jobs for QueueJobs {
    async fn enqueue(&self, subject: &JobSubject) -> Result<String, JobsError> {
        let job = self
            .queue
            .enqueue(&subject.to_string(), JobKind::Plugin)
            .await
            .map_err(|e| JobsError::Unavailable(e.to_string()))?;
        Ok(job.job_id)
    }
}
