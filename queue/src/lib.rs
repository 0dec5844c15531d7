//! The job queue: transcode jobs go out to workers, and what the workers
//! find and produce comes back as reports.
//!
//! [`JobQueue`] is the port: `enqueue` on the API side, `next` on the
//! worker side, and a [`Delivery`] that the worker settles. Two backends:
//! [`MetadataQueue`] keeps jobs in the metadata store (embedded mode, one
//! process) and [`NatsQueue`] uses a NATS JetStream work-queue stream (a
//! farm of `cdlc worker` processes). Reports ([`ReportMessage`]) travel
//! through a [`Reporter`]: straight into the metadata store when embedded,
//! through a JetStream stream to the one process that writes metadata when
//! on NATS.

mod embedded;
mod error;
mod message;
mod nats;

use std::time::Duration;

pub use cdlc_metadata::JobKind;
pub use embedded::MetadataQueue;
pub use error::QueueError;
pub use message::{ExhaustedJob, JobMessage, Report, ReportMessage};
pub use nats::{ExhaustedJobs, NatsQueue, NatsSettings, ReportDelivery, Reports};

/// A job a worker took: what to do, and how to tell the queue how it went.
///
/// Exactly one of `complete`, `retry_later`, `give_up` or `release` ends
/// a delivery; a delivery dropped without any of them comes back to some
/// worker once its lease (ack wait) runs out.
#[async_trait::async_trait]
pub trait Delivery: Send + Sync + std::fmt::Debug {
    fn job(&self) -> &JobMessage;
    /// This attempt's number, from 1.
    fn attempt(&self) -> u32;
    /// Attempts allowed in all; the last one cannot be retried.
    fn max_attempts(&self) -> u32;
    /// Called during long work so the job is not handed to another worker.
    async fn heartbeat(&self) -> Result<(), QueueError>;
    /// The job succeeded; it is gone from the queue.
    async fn complete(&self) -> Result<(), QueueError>;
    /// The attempt failed in a way a later attempt may not; run it again
    /// after `delay`. Callers check `attempt() < max_attempts()` first.
    async fn retry_later(&self, reason: &str, delay: Duration) -> Result<(), QueueError>;
    /// The job failed for good; it is gone from the queue.
    async fn give_up(&self, reason: &str) -> Result<(), QueueError>;
    /// This worker is stopping: hand the job back so another worker can
    /// take it soon, without counting it as a failure where the backend can.
    async fn release(&self) -> Result<(), QueueError>;
}

/// The job queue port.
#[async_trait::async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Queues a job for an asset.
    async fn enqueue(&self, asset_id: &str, kind: JobKind) -> Result<JobMessage, QueueError>;
    /// The next job for `worker`, waiting at most about `wait`; `None` when
    /// nothing came.
    async fn next(&self, worker: &str, wait: Duration) -> Result<Option<Box<dyn Delivery>>, QueueError>;
}

/// Where a worker sends what it learns about a job as it runs.
#[async_trait::async_trait]
pub trait Reporter: Send + Sync {
    /// Returns once the report is recorded (or durably queued), so reports
    /// of one job arrive in the order they were sent.
    async fn report(&self, message: ReportMessage) -> Result<(), QueueError>;
}
