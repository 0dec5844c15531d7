//! The scale-out backend: NATS JetStream.
//!
//! Jobs are messages of the work-queue stream `CDLC_JOBS` (subject
//! `cdlc.jobs`), pulled one at a time by the durable consumer `workers`
//! with explicit acks: a worker heartbeats (`+WPI`) while it transcodes,
//! acks when done, naks with a delay to retry, terms to give up. A worker
//! that dies stops heartbeating, so its job is delivered again after the
//! ack wait; after `max_attempts` deliveries the server gives up and
//! announces it with a max-deliveries advisory ([`NatsQueue::exhausted_jobs`]).
//!
//! Reports go to `cdlc.reports.{asset}` in the stream `CDLC_REPORTS`,
//! kept until the one metadata writer (`cdlc serve`) has applied and acked
//! them through the durable consumer `serve` ([`NatsQueue::reports`]),
//! which hands out one report at a time, in order.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use futures_util::StreamExt;

use crate::{Delivery, ExhaustedJob, JobKind, JobMessage, JobQueue, QueueError, ReportMessage, Reporter};

pub const JOB_STREAM: &str = "CDLC_JOBS";
pub const JOB_SUBJECT: &str = "cdlc.jobs";
pub const WORKER_CONSUMER: &str = "workers";
pub const REPORT_STREAM: &str = "CDLC_REPORTS";
pub const REPORT_SUBJECT_PREFIX: &str = "cdlc.reports";
pub const REPORT_CONSUMER: &str = "serve";
/// How long a connection attempt may take before the URL is reported wrong.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `release` delays the job, so the stopping worker's last
/// writes land before another worker clears the asset's outputs.
const RELEASE_DELAY: Duration = Duration::from_secs(1);

/// How jobs are delivered.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// A job not acked, heartbeated or nak'ed for this long goes to another worker.
    pub ack_wait: Duration,
    /// Deliveries of a job before the server gives up on it.
    pub max_attempts: u32,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings { ack_wait: Duration::from_secs(30), max_attempts: 3 }
    }
}

/// The job queue on a NATS server with JetStream.
#[derive(Clone)]
pub struct NatsQueue {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    jobs: consumer::PullConsumer,
    settings: NatsSettings,
}

impl std::fmt::Debug for NatsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsQueue").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl NatsQueue {
    /// Connects to `url` (`nats://host:port`) and creates the streams and
    /// the worker consumer, or updates them to `settings`.
    pub async fn connect(url: &str, settings: NatsSettings) -> Result<NatsQueue, QueueError> {
        let connect_error = |reason: String| QueueError::Connect { url: url.to_owned(), reason };
        let client = tokio::time::timeout(
            CONNECT_TIMEOUT,
            async_nats::ConnectOptions::new().name("cdlc").connect(url),
        )
        .await
        .map_err(|_| connect_error(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| connect_error(e.to_string()))?;
        let jetstream = jetstream::new(client.clone());
        jetstream
            .create_or_update_stream(stream::Config {
                name: JOB_STREAM.into(),
                subjects: vec![JOB_SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| connect_error(format!("cannot create the stream {JOB_STREAM}: {e}")))?;
        jetstream
            .create_or_update_stream(stream::Config {
                name: REPORT_STREAM.into(),
                subjects: vec![format!("{REPORT_SUBJECT_PREFIX}.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| connect_error(format!("cannot create the stream {REPORT_STREAM}: {e}")))?;
        let jobs_config = consumer::pull::Config {
            durable_name: Some(WORKER_CONSUMER.into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: settings.ack_wait,
            max_deliver: settings.max_attempts as i64,
            filter_subject: JOB_SUBJECT.into(),
            ..Default::default()
        };
        let jobs_stream = jetstream.get_stream(JOB_STREAM).await.map_err(QueueError::nats)?;
        let jobs = ensure_consumer(&jobs_stream, jobs_config).await?;
        Ok(NatsQueue { client, jetstream, jobs, settings })
    }

    /// The connection, for the host's other uses of the same NATS (its
    /// event bus).
    pub fn client(&self) -> async_nats::Client {
        self.client.clone()
    }

    pub fn settings(&self) -> &NatsSettings {
        &self.settings
    }

    /// The reports of every worker, one at a time and in order, for the
    /// process that writes metadata. Each must be acked once applied.
    pub async fn reports(&self) -> Result<Reports, QueueError> {
        let stream = self.jetstream.get_stream(REPORT_STREAM).await.map_err(QueueError::nats)?;
        let config = consumer::pull::Config {
            durable_name: Some(REPORT_CONSUMER.into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.settings.ack_wait,
            // One outstanding report at a time keeps them in order even
            // when several processes consume.
            max_ack_pending: 1,
            ..Default::default()
        };
        let consumer = ensure_consumer(&stream, config).await?;
        let messages = consumer.messages().await.map_err(QueueError::nats)?;
        Ok(Reports { messages })
    }

    /// Jobs the server stopped delivering because every attempt's worker
    /// vanished. Each is removed from the queue as it is yielded.
    pub async fn exhausted_jobs(&self) -> Result<ExhaustedJobs, QueueError> {
        let subject = format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOB_STREAM}.{WORKER_CONSUMER}");
        let advisories = self.client.subscribe(subject).await.map_err(QueueError::nats)?;
        let stream = self.jetstream.get_stream(JOB_STREAM).await.map_err(QueueError::nats)?;
        Ok(ExhaustedJobs { advisories, stream })
    }
}

/// Creates the durable consumer, or updates it when it exists with other settings.
async fn ensure_consumer(
    stream: &stream::Stream,
    config: consumer::pull::Config,
) -> Result<consumer::PullConsumer, QueueError> {
    match stream.create_consumer(config.clone()).await {
        Ok(consumer) => Ok(consumer),
        Err(_) => stream.update_consumer(config).await.map_err(QueueError::nats),
    }
}

fn parse<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, QueueError> {
    serde_json::from_slice(payload).map_err(|e| QueueError::BadMessage(e.to_string()))
}

/// A NATS subject token must not split or match subjects.
fn check_subject_token(asset_id: &str) -> Result<(), QueueError> {
    let bad = asset_id.is_empty()
        || asset_id.len() > 200
        || asset_id.chars().any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace());
    if bad {
        return Err(QueueError::BadMessage(format!("asset id {asset_id:?} cannot be a NATS subject token")));
    }
    Ok(())
}

#[async_trait::async_trait]
impl JobQueue for NatsQueue {
    async fn enqueue(&self, asset_id: &str, kind: JobKind) -> Result<JobMessage, QueueError> {
        check_subject_token(asset_id)?;
        let job =
            JobMessage { job_id: uuid::Uuid::now_v7().to_string(), asset_id: asset_id.to_owned(), kind };
        let payload = serde_json::to_vec(&job).map_err(|e| QueueError::BadMessage(e.to_string()))?;
        let publish =
            jetstream::message::PublishMessage::build().payload(payload.into()).message_id(&job.job_id);
        self.jetstream
            .send_publish(JOB_SUBJECT, publish)
            .await
            .map_err(QueueError::nats)?
            .await
            .map_err(QueueError::nats)?;
        Ok(job)
    }

    async fn next(&self, worker: &str, wait: Duration) -> Result<Option<Box<dyn Delivery>>, QueueError> {
        let wait = wait.max(Duration::from_millis(100));
        let mut batch =
            self.jobs.fetch().max_messages(1).expires(wait).messages().await.map_err(QueueError::nats)?;
        let Some(message) = batch.next().await else {
            return Ok(None);
        };
        let message = message.map_err(QueueError::nats)?;
        let attempt = message.info().map(|i| i.delivered.max(1) as u32).unwrap_or(1);
        let job: JobMessage = match parse(&message.payload) {
            Ok(job) => job,
            Err(error) => {
                tracing::warn!(%error, worker, "dropping a job message cdlc cannot read");
                message.ack_with(AckKind::Term).await.map_err(QueueError::nats)?;
                return Ok(None);
            }
        };
        Ok(Some(Box::new(NatsDelivery { message, job, attempt, max_attempts: self.settings.max_attempts })))
    }
}

#[async_trait::async_trait]
impl Reporter for NatsQueue {
    async fn report(&self, message: ReportMessage) -> Result<(), QueueError> {
        check_subject_token(&message.asset_id)?;
        let subject = format!("{REPORT_SUBJECT_PREFIX}.{}", message.asset_id);
        let payload = serde_json::to_vec(&message).map_err(|e| QueueError::BadMessage(e.to_string()))?;
        self.jetstream
            .publish(subject, payload.into())
            .await
            .map_err(QueueError::nats)?
            .await
            .map_err(QueueError::nats)?;
        Ok(())
    }
}

struct NatsDelivery {
    message: jetstream::Message,
    job: JobMessage,
    attempt: u32,
    max_attempts: u32,
}

impl std::fmt::Debug for NatsDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsDelivery").field("job", &self.job).field("attempt", &self.attempt).finish()
    }
}

impl NatsDelivery {
    /// Acks and waits for the server to confirm, so a settled job is
    /// really settled before the worker moves on.
    async fn settle(&self, kind: AckKind) -> Result<(), QueueError> {
        self.message.double_ack_with(kind).await.map_err(QueueError::nats)
    }
}

#[async_trait::async_trait]
impl Delivery for NatsDelivery {
    fn job(&self) -> &JobMessage {
        &self.job
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    async fn heartbeat(&self) -> Result<(), QueueError> {
        self.message.ack_with(AckKind::Progress).await.map_err(QueueError::nats)
    }

    async fn complete(&self) -> Result<(), QueueError> {
        self.settle(AckKind::Ack).await
    }

    async fn retry_later(&self, _reason: &str, delay: Duration) -> Result<(), QueueError> {
        self.settle(AckKind::Nak(Some(delay))).await
    }

    async fn give_up(&self, _reason: &str) -> Result<(), QueueError> {
        self.settle(AckKind::Term).await
    }

    /// Counts as a delivery on the server; a stop during the last attempt
    /// therefore ends in the max-deliveries advisory, like a crash would.
    async fn release(&self) -> Result<(), QueueError> {
        self.settle(AckKind::Nak(Some(RELEASE_DELAY))).await
    }
}

/// The report feed of [`NatsQueue::reports`].
pub struct Reports {
    messages: consumer::pull::Stream,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reports").finish_non_exhaustive()
    }
}

impl Reports {
    /// The next report; waits until one comes. Messages that are not
    /// reports are dropped with a warning. `None` when the connection closed.
    pub async fn next(&mut self) -> Option<Result<ReportDelivery, QueueError>> {
        loop {
            let message = match self.messages.next().await? {
                Ok(message) => message,
                Err(error) => return Some(Err(QueueError::nats(error))),
            };
            match parse::<ReportMessage>(&message.payload) {
                Ok(report) => return Some(Ok(ReportDelivery { report, message })),
                Err(error) => {
                    tracing::warn!(%error, subject = %message.subject, "dropping a report cdlc cannot read");
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
    }
}

/// One report taken from the feed; ack it once it is applied.
pub struct ReportDelivery {
    pub report: ReportMessage,
    message: jetstream::Message,
}

impl std::fmt::Debug for ReportDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportDelivery").field("report", &self.report).finish()
    }
}

impl ReportDelivery {
    /// Applied: removes it from the feed.
    pub async fn ack(&self) -> Result<(), QueueError> {
        self.message.double_ack_with(AckKind::Ack).await.map_err(QueueError::nats)
    }

    /// Not applied this time: deliver it again after `delay`.
    pub async fn retry_later(&self, delay: Duration) -> Result<(), QueueError> {
        self.message.ack_with(AckKind::Nak(Some(delay))).await.map_err(QueueError::nats)
    }
}

/// The feed of [`NatsQueue::exhausted_jobs`].
pub struct ExhaustedJobs {
    advisories: async_nats::Subscriber,
    stream: stream::Stream,
}

impl std::fmt::Debug for ExhaustedJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExhaustedJobs").finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct MaxDeliveriesAdvisory {
    stream_seq: u64,
    deliveries: u64,
}

impl ExhaustedJobs {
    /// The next exhausted job, removed from the queue; `None` when the
    /// connection closed.
    pub async fn next(&mut self) -> Option<Result<ExhaustedJob, QueueError>> {
        loop {
            let advisory = self.advisories.next().await?;
            let Ok(advisory) = parse::<MaxDeliveriesAdvisory>(&advisory.payload) else {
                continue;
            };
            let stored = match self.stream.get_raw_message(advisory.stream_seq).await {
                Ok(stored) => stored,
                // Settled meanwhile (a late ack): nothing is exhausted.
                Err(_) => continue,
            };
            let _ = self.stream.delete_message(advisory.stream_seq).await;
            return Some(
                parse::<JobMessage>(&stored.payload)
                    .map(|job| ExhaustedJob { job, attempts: advisory.deliveries as u32 }),
            );
        }
    }
}
