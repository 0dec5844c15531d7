//! The embedded backend: jobs are rows of the metadata store, claimed with
//! a lease that heartbeats renew.

use std::sync::Arc;
use std::time::Duration;

use cdlc_metadata::{Job, JobKind, MetadataStore};

use crate::{Delivery, JobMessage, JobQueue, QueueError};

/// Pause between polls of an empty queue.
const IDLE_POLL: Duration = Duration::from_millis(300);

/// Jobs in the metadata store (embedded mode: one process owns the store).
#[derive(Clone)]
pub struct MetadataQueue {
    metadata: Arc<dyn MetadataStore>,
    max_attempts: u32,
    lease: Duration,
}

impl std::fmt::Debug for MetadataQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataQueue").field("lease", &self.lease).finish_non_exhaustive()
    }
}

impl MetadataQueue {
    /// A queue whose jobs get `max_attempts` and whose claims last `lease`
    /// without a heartbeat.
    pub fn new(metadata: Arc<dyn MetadataStore>, max_attempts: u32, lease: Duration) -> Self {
        MetadataQueue { metadata, max_attempts, lease }
    }
}

#[async_trait::async_trait]
impl JobQueue for MetadataQueue {
    async fn enqueue(&self, asset_id: &str, kind: JobKind) -> Result<JobMessage, QueueError> {
        let job = self.metadata.enqueue_job(asset_id, kind, self.max_attempts).await?;
        Ok(JobMessage { job_id: job.id, asset_id: job.asset_id, kind: job.kind })
    }

    async fn next(&self, worker: &str, wait: Duration) -> Result<Option<Box<dyn Delivery>>, QueueError> {
        match self.metadata.claim_job(worker, self.lease).await? {
            Some(job) => Ok(Some(Box::new(ClaimedJob {
                message: JobMessage {
                    job_id: job.id.clone(),
                    asset_id: job.asset_id.clone(),
                    kind: job.kind,
                },
                job,
                worker: worker.to_owned(),
                queue: self.clone(),
            }))),
            None => {
                tokio::time::sleep(wait.min(IDLE_POLL)).await;
                Ok(None)
            }
        }
    }
}

#[derive(Debug)]
struct ClaimedJob {
    job: Job,
    message: JobMessage,
    worker: String,
    queue: MetadataQueue,
}

#[async_trait::async_trait]
impl Delivery for ClaimedJob {
    fn job(&self) -> &JobMessage {
        &self.message
    }

    fn attempt(&self) -> u32 {
        self.job.attempts
    }

    fn max_attempts(&self) -> u32 {
        self.job.max_attempts
    }

    async fn heartbeat(&self) -> Result<(), QueueError> {
        let metadata = &self.queue.metadata;
        if !metadata.renew_lease(&self.job.id, &self.worker, self.queue.lease).await? {
            tracing::warn!(job_id = %self.job.id, "lost the lease");
        }
        Ok(())
    }

    async fn complete(&self) -> Result<(), QueueError> {
        Ok(self.queue.metadata.complete_job(&self.job.id, &self.worker).await?)
    }

    async fn retry_later(&self, reason: &str, delay: Duration) -> Result<(), QueueError> {
        self.queue.metadata.fail_job(&self.job.id, &self.worker, reason, Some(delay)).await?;
        Ok(())
    }

    async fn give_up(&self, reason: &str) -> Result<(), QueueError> {
        self.queue.metadata.fail_job(&self.job.id, &self.worker, reason, None).await?;
        Ok(())
    }

    /// The store belongs to this process: the job stays leased and is
    /// queued again when the process starts next (`requeue_running_jobs`).
    async fn release(&self) -> Result<(), QueueError> {
        Ok(())
    }
}
