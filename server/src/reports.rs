//! The one writer of job results: every report a worker sends (directly
//! in embedded mode, through NATS JetStream at scale) is applied to the
//! metadata store here, and the ready/errored webhooks leave from here; the
//! end of a plugin's job goes to the plugin's `job_ended`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdlc_metadata::{AssetStatus, MetadataError};
use cdlc_plugin_api::{JobEnded, JobSubject};
use cdlc_queue::{ExhaustedJob, NatsQueue, QueueError, Report, ReportDelivery, ReportMessage, Reporter};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::state::keys;
use crate::state::SharedState;

/// Pause before reading the feed again after the connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);
/// Delay before a report that failed to apply is offered again.
const REAPPLY_DELAY: Duration = Duration::from_secs(1);

/// Applies reports to the metadata store, ignoring those of an attempt
/// older than the latest one started for the asset.
pub struct ReportApplier {
    state: SharedState,
    latest_attempt: Mutex<HashMap<String, u32>>,
    /// When each asset's running attempt started, and its media's length
    /// once probed: for the duration and speed the plugins are told.
    timing: Mutex<HashMap<String, (std::time::Instant, Option<u64>)>>,
}

impl std::fmt::Debug for ReportApplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportApplier").finish_non_exhaustive()
    }
}

impl ReportApplier {
    pub fn new(state: SharedState) -> Self {
        ReportApplier {
            state,
            latest_attempt: Mutex::new(HashMap::new()),
            timing: Mutex::new(HashMap::new()),
        }
    }

    fn timing_mut(&self) -> std::sync::MutexGuard<'_, HashMap<String, (std::time::Instant, Option<u64>)>> {
        self.timing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wall time of the asset's last attempt and its media's length, ms.
    fn finished(&self, asset_id: &str) -> (Option<u64>, Option<u64>) {
        match self.timing_mut().remove(asset_id) {
            Some((started, media)) => (Some(started.elapsed().as_millis() as u64), media),
            None => (None, None),
        }
    }

    /// Whether `message` comes from an attempt that a newer one replaced;
    /// a `Started` report makes its attempt the latest.
    fn is_stale(&self, message: &ReportMessage) -> bool {
        let mut latest = self.latest_attempt.lock().unwrap_or_else(|e| e.into_inner());
        let current = latest.get(&message.asset_id).copied().unwrap_or(0);
        if message.attempt < current {
            return true;
        }
        match message.report {
            Report::Ready | Report::Failed { .. } => {
                latest.remove(&message.asset_id);
            }
            _ => {
                latest.insert(message.asset_id.clone(), message.attempt);
            }
        }
        false
    }

    /// Records one report. A report about an asset deleted meanwhile is
    /// dropped (and the stream a finished job wrote for it removed).
    pub async fn apply(&self, message: ReportMessage) -> Result<(), MetadataError> {
        if let Some(subject) = JobSubject::parse(&message.asset_id) {
            self.plugin_job_ended(subject, message).await;
            return Ok(());
        }
        if self.is_stale(&message) {
            debug!(asset_id = %message.asset_id, attempt = message.attempt, "dropping a stale report");
            return Ok(());
        }
        match self.write(&message).await {
            Err(MetadataError::NoSuchAsset(_)) => {
                if matches!(message.report, Report::Ready) {
                    let prefix = keys::stream_prefix(&message.asset_id);
                    let _ = self.state.objects.delete_prefix(&prefix).await;
                }
                Ok(())
            }
            other => other,
        }
    }

    /// A plugin's job: its end (done, or failed for good) goes to the
    /// plugin's `job_ended`; it has nothing else to record.
    async fn plugin_job_ended(&self, subject: JobSubject, message: ReportMessage) {
        let outcome = match message.report {
            Report::Done { output } => Ok(output),
            Report::Failed { reason } => Err(reason),
            _ => return,
        };
        let ended = JobEnded { id: message.job_id, job: subject.job, key: subject.key, outcome };
        self.state.plugins.job_ended(&subject.plugin, &ended).await;
    }

    async fn write(&self, message: &ReportMessage) -> Result<(), MetadataError> {
        let (state, asset_id) = (&self.state, message.asset_id.as_str());
        let metadata = &state.metadata;
        match &message.report {
            Report::Started => {
                self.timing_mut().insert(asset_id.to_owned(), (std::time::Instant::now(), None));
                // A new attempt rewrites the stream: forget what the edge holds of the last.
                state.stream_changed(asset_id);
                metadata.clear_outputs(asset_id).await?;
                metadata.set_progress(asset_id, 0.0).await?;
            }
            Report::Source { info } => {
                if let Some(entry) = self.timing_mut().get_mut(asset_id) {
                    entry.1 = media_ms(info);
                }
                metadata.set_source(asset_id, info.clone()).await?
            }
            Report::Progress { percent } => metadata.set_progress(asset_id, percent.clamp(0.0, 99.0)).await?,
            Report::Segment { segment } => {
                let segment =
                    cdlc_metadata::SegmentRecord { asset_id: asset_id.to_owned(), ..segment.clone() };
                metadata.put_segment(segment).await?;
            }
            Report::Rendition { rendition } => {
                let rendition =
                    cdlc_metadata::RenditionRecord { asset_id: asset_id.to_owned(), ..rendition.clone() };
                metadata.put_rendition(rendition).await?;
            }
            Report::Ready => {
                metadata.set_status(asset_id, AssetStatus::Ready, None).await?;
                // The edge held the growing manifests (fresh for a second); from
                // now on they are final and cached for a year.
                state.stream_changed(asset_id);
                if let Err(error) = crate::captions::publish_if_ready(state, asset_id).await {
                    warn!(asset_id, %error, "the text tracks could not be published");
                }
                metadata.append_event(asset_id, "asset.ready", serde_json::json!({})).await?;
                crate::webhooks::notify(state, "asset.ready", asset_id);
                state.announce_asset("ready", asset_id).await;
                let (duration_ms, media) = self.finished(asset_id);
                let speed = match (media, duration_ms) {
                    (Some(media), Some(wall)) if wall > 0 => Some(media as f64 / wall as f64),
                    _ => None,
                };
                let payload = serde_json::json!({
                    "asset_id": asset_id, "job_id": message.job_id, "attempts": message.attempt,
                    "duration_ms": duration_ms, "media_ms": media, "speed": speed,
                });
                state.announce("assets", "transcoded", payload).await;
                info!(asset_id, job_id = %message.job_id, "asset ready");
            }
            // Only a plugin's job is done rather than ready (see `plugin_job_ended`).
            Report::Done { .. } => {}
            Report::Failed { reason } => {
                // Nothing half-written stays behind an errored asset.
                let _ = state.objects.delete_prefix(&keys::stream_prefix(asset_id)).await;
                state.stream_changed(asset_id);
                metadata.clear_outputs(asset_id).await?;
                metadata.set_status(asset_id, AssetStatus::Errored, Some(reason)).await?;
                metadata
                    .append_event(asset_id, "asset.errored", serde_json::json!({ "error": reason }))
                    .await?;
                crate::webhooks::notify(state, "asset.errored", asset_id);
                state.announce_asset("errored", asset_id).await;
                let (duration_ms, _) = self.finished(asset_id);
                let payload = serde_json::json!({
                    "asset_id": asset_id, "job_id": message.job_id, "attempts": message.attempt,
                    "duration_ms": duration_ms, "reason": reason,
                });
                state.announce("assets", "transcode_failed", payload).await;
                warn!(asset_id, job_id = %message.job_id, reason, "asset errored");
            }
        }
        Ok(())
    }
}

/// The embedded reporter: the worker is in this process, so its reports
/// are applied on the spot.
#[async_trait::async_trait]
impl Reporter for ReportApplier {
    async fn report(&self, message: ReportMessage) -> Result<(), QueueError> {
        Ok(self.apply(message).await?)
    }
}

/// A feed read from NATS, one item at a time.
trait Feed: Send {
    type Item: Send;
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Item, QueueError>>> + Send;
}

impl Feed for cdlc_queue::Reports {
    type Item = ReportDelivery;
    fn next(&mut self) -> impl Future<Output = Option<Result<ReportDelivery, QueueError>>> + Send {
        cdlc_queue::Reports::next(self)
    }
}

impl Feed for cdlc_queue::ExhaustedJobs {
    type Item = ExhaustedJob;
    fn next(&mut self) -> impl Future<Output = Option<Result<ExhaustedJob, QueueError>>> + Send {
        cdlc_queue::ExhaustedJobs::next(self)
    }
}

/// Opens the feed `open` gives and hands each item to `handle`, opening
/// it again after a failure, until `shutdown`.
async fn follow<F, Open, Opened, Handle, Handled>(
    what: &'static str,
    open: Open,
    handle: Handle,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Feed,
    Open: Fn() -> Opened,
    Opened: Future<Output = Result<F, QueueError>>,
    Handle: Fn(F::Item) -> Handled,
    Handled: Future<Output = ()>,
{
    while !*shutdown.borrow() {
        match open().await {
            Ok(mut feed) => loop {
                let next = tokio::select! {
                    next = feed.next() => next,
                    _ = shutdown.changed() => return,
                };
                match next {
                    Some(Ok(item)) => handle(item).await,
                    Some(Err(error)) => {
                        warn!(%error, what, "the feed failed");
                        break;
                    }
                    None => break,
                }
            },
            Err(error) => warn!(%error, what, "cannot open the feed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Applies the reports every worker sends through NATS, until `shutdown`.
pub async fn consume_reports(applier: Arc<ReportApplier>, queue: NatsQueue, shutdown: watch::Receiver<bool>) {
    let apply = |delivery: ReportDelivery| {
        let applier = applier.clone();
        async move {
            let asset_id = delivery.report.asset_id.clone();
            let settled = match applier.apply(delivery.report.clone()).await {
                Ok(()) => delivery.ack().await,
                Err(error) if error.is_retryable() => {
                    warn!(asset_id, %error, "cannot apply a report yet");
                    delivery.retry_later(REAPPLY_DELAY).await
                }
                Err(error) => {
                    warn!(asset_id, %error, "dropping a report that cannot be applied");
                    delivery.ack().await
                }
            };
            if let Err(error) = settled {
                warn!(asset_id, %error, "cannot settle a report");
            }
        }
    };
    follow("reports", || queue.reports(), apply, shutdown).await;
}

/// Errors the assets of jobs that no worker finished in every attempt
/// (each worker died or hung), until `shutdown`.
pub async fn consume_exhausted(
    applier: Arc<ReportApplier>,
    queue: NatsQueue,
    shutdown: watch::Receiver<bool>,
) {
    let error_asset = |exhausted: ExhaustedJob| {
        let applier = applier.clone();
        async move {
            let message = ReportMessage {
                asset_id: exhausted.job.asset_id.clone(),
                job_id: exhausted.job.job_id.clone(),
                attempt: exhausted.attempts,
                report: Report::Failed { reason: exhausted.reason() },
            };
            if let Err(error) = applier.apply(message).await {
                warn!(asset_id = %exhausted.job.asset_id, %error, "cannot error an exhausted job's asset");
            }
        }
    };
    follow("exhausted jobs", || queue.exhausted_jobs(), error_asset, shutdown).await;
}

/// The probed media's length in ms from the source info (`duration` as
/// serde writes a `Duration`, or seconds).
fn media_ms(info: &serde_json::Value) -> Option<u64> {
    let duration = info.get("duration")?;
    if let Some(seconds) = duration.as_f64() {
        return Some((seconds * 1000.0) as u64);
    }
    let secs = duration.get("secs")?.as_u64()?;
    let nanos = duration.get("nanos").and_then(|n| n.as_u64()).unwrap_or(0);
    Some(secs * 1000 + nanos / 1_000_000)
}
