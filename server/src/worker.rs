//! Workers: take jobs from the queue and run them: transcodes (publishing
//! playlists while they run: fast publish) and plugins' jobs (the plugin's
//! `run_job`).
//!
//! Running a job needs only object storage: the source is read from it,
//! segments, playlists and manifests are written to it. Everything else a
//! job learns (source info, progress, segments, renditions, the outcome)
//! leaves through a [`Reporter`], so the same code serves the in-process
//! pool of `cdlc serve` (reports applied on the spot) and the farm of
//! `cdlc worker` processes (reports sent over NATS to the one metadata writer).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cdlc_captions::TrackInfo;
use cdlc_metadata::RenditionRecord;
use cdlc_plugin_api::host::PluginJobRunner;
use cdlc_plugin_api::JobSubject;
use cdlc_queue::{Delivery, JobKind, JobMessage, JobQueue, Report, ReportMessage, Reporter};
use cdlc_storage::{Bytes, ObjectStore};
use cdlc_transcoder::{LadderPlan, RenditionKind, RenditionOutput, SegmentSink, TranscodeOutput};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use crate::fast_publish::{Destination, PublishingSink};
use crate::running::RunningJobs;
use crate::state::keys;

/// Longest wait for a job before checking for a stop again.
const IDLE_WAIT: Duration = Duration::from_secs(2);
/// Pause after the queue failed to answer.
const QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(3);
/// First retry delay; doubled at every further attempt.
const RETRY_BACKOFF: Duration = Duration::from_secs(2);

/// Why a job failed, and whether running it again could help.
#[derive(Debug)]
pub(crate) struct JobFailure {
    pub(crate) message: String,
    retryable: bool,
}

impl JobFailure {
    fn permanent(message: impl ToString) -> Self {
        JobFailure { message: message.to_string(), retryable: false }
    }

    fn retryable(message: impl ToString) -> Self {
        JobFailure { message: message.to_string(), retryable: true }
    }

    fn from_queue(error: cdlc_queue::QueueError) -> Self {
        let retryable = error.is_retryable();
        JobFailure { message: error.to_string(), retryable }
    }
}

/// How jobs are encoded; the same for every worker of a deployment.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub segment_duration: f64,
    pub first_segment_duration: f64,
    pub keep_surround: bool,
    pub x264_preset: String,
    /// Largest source accepted by the probe, in bytes.
    pub max_source_bytes: u64,
    /// How often a running job tells the queue it is alive.
    pub heartbeat: Duration,
    /// How the transcode child is started, and the limits it runs under.
    pub child: cdlc_isolation::ChildCommand,
    pub watch: cdlc_isolation::Watch,
}

impl JobSettings {
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let child = cdlc_isolation::ChildCommand::this_binary()
            .map_err(|e| anyhow::anyhow!("cannot find this program's own path to start transcodes: {e}"))?;
        let watch = cdlc_isolation::Watch {
            memory_bytes: config.transcode_memory_bytes,
            stall: Duration::from_secs(config.transcode_stall_seconds),
            ..cdlc_isolation::Watch::default()
        };
        Ok(JobSettings {
            segment_duration: config.segment_duration,
            first_segment_duration: config.first_segment_duration,
            keep_surround: config.keep_surround,
            x264_preset: config.x264_preset.clone(),
            max_source_bytes: config.max_upload_bytes,
            heartbeat: crate::config::LEASE / 3,
            child,
            watch,
        })
    }
}

/// Everything running a job needs: object storage, a place for the
/// source, and where reports go. No metadata store.
pub struct JobRunner {
    pub objects: Arc<dyn ObjectStore>,
    pub reporter: Arc<dyn Reporter>,
    pub settings: JobSettings,
    /// Where sources from a remote object store are downloaded.
    pub spool_dir: PathBuf,
    /// Jobs running here, by asset, so a delete can stop them.
    pub running: Arc<RunningJobs>,
    /// What runs plugins' jobs (`JobKind::Plugin`).
    pub plugin_jobs: PluginJobRunner,
}

/// Starts `count` workers named `{node}-{n}`; they stop taking jobs when
/// `shutdown` turns true and hand back the job they run.
pub fn spawn(
    runner: Arc<JobRunner>,
    queue: Arc<dyn JobQueue>,
    node: &str,
    count: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|n| {
            let name = format!("{node}-{n}");
            tokio::spawn(worker_loop(runner.clone(), queue.clone(), name, shutdown.clone()))
        })
        .collect()
}

async fn worker_loop(
    runner: Arc<JobRunner>,
    queue: Arc<dyn JobQueue>,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let next = tokio::select! {
            next = queue.next(&name, IDLE_WAIT) => next,
            _ = shutdown.changed() => continue,
        };
        match next {
            Ok(Some(delivery)) => {
                let job = delivery.job();
                let span = info_span!("job", job_id = %job.job_id, asset_id = %job.asset_id);
                run_job(&runner, Arc::from(delivery), shutdown.clone()).instrument(span).await;
            }
            Ok(None) => {}
            Err(error) => {
                warn!(worker = name, %error, "cannot take jobs");
                tokio::select! {
                    _ = tokio::time::sleep(QUEUE_ERROR_PAUSE) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

async fn run_job(runner: &JobRunner, delivery: Arc<dyn Delivery>, shutdown: watch::Receiver<bool>) {
    match delivery.job().kind {
        JobKind::Transcode => run_transcode(runner, delivery, shutdown).await,
        JobKind::Plugin => run_plugin_job(runner, delivery, shutdown).await,
    }
}

async fn run_transcode(runner: &JobRunner, delivery: Arc<dyn Delivery>, mut shutdown: watch::Receiver<bool>) {
    let (job, attempt) = (delivery.job().clone(), delivery.attempt());
    info!(attempt, "job started");
    // Stopped by a delete here (at once), by the source vanishing (a delete
    // on another node: seen at the next heartbeat), or by shutdown.
    let running = runner.running.start(&job.asset_id);
    let cancelled = running.stop_flag();
    let heartbeat = {
        let (objects, source, cancelled) =
            (runner.objects.clone(), keys::source(&job.asset_id), cancelled.clone());
        spawn_heartbeat(runner, &delivery, move || {
            let (objects, source, cancelled) = (objects.clone(), source.clone(), cancelled.clone());
            async move {
                if let Ok(None) = objects.head(&source).await {
                    info!("the asset's source is gone (deleted): stopping its transcode");
                    cancelled.store(true, Ordering::SeqCst);
                }
            }
        })
    };
    let result = tokio::select! {
        result = process(runner, &job, attempt, cancelled.clone()) => Some(result),
        _ = shutdown.wait_for(|stop| *stop) => None,
    };
    heartbeat.abort();
    if result.is_none() {
        // The transcode stops at its next segment; no write lands after this.
        cancelled.store(true, Ordering::SeqCst);
    }
    settle(runner, &*delivery, result).await;
    drop(running);
}

/// Runs a plugin's job (`JobKind::Plugin`): the plugin's `run_job` here,
/// its output reported (`Report::Done`) for the serving process to hand to
/// the plugin's `job_ended`.
async fn run_plugin_job(
    runner: &JobRunner,
    delivery: Arc<dyn Delivery>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (job, attempt) = (delivery.job().clone(), delivery.attempt());
    let Some(subject) = JobSubject::parse(&job.asset_id) else {
        let failure = JobFailure::permanent(format!("{:?} names no plugin job", job.asset_id));
        return settle(runner, &*delivery, Some(Err(failure))).await;
    };
    info!(attempt, subject = %subject, "plugin job started");
    let heartbeat = spawn_heartbeat(runner, &delivery, || async {});
    let result = tokio::select! {
        result = runner.plugin_jobs.run(&subject, &job.job_id, attempt) => Some(result),
        _ = shutdown.wait_for(|stop| *stop) => None,
    };
    heartbeat.abort();
    let result = match result {
        None => None,
        Some(Ok(output)) => {
            let report = report_message(&job, attempt, Report::Done { output });
            Some(runner.reporter.report(report).await.map_err(JobFailure::from_queue))
        }
        Some(Err(error)) => Some(Err(JobFailure { message: error.message, retryable: error.retryable })),
    };
    settle(runner, &*delivery, result).await;
}

/// Tells the queue every `heartbeat` that the job is alive, then runs
/// `also` (a check of the job's own), until aborted.
fn spawn_heartbeat<F, Fut>(
    runner: &JobRunner,
    delivery: &Arc<dyn Delivery>,
    also: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (delivery, every) = (delivery.clone(), runner.settings.heartbeat);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(error) = delivery.heartbeat().await {
                warn!(%error, "heartbeat failed");
            }
            also().await;
        }
    })
}

/// Ends a delivery: `None` hands it back (this worker is stopping); a
/// failure is retried later while attempts remain, else reported (for the
/// asset or the plugin) and given up.
async fn settle(runner: &JobRunner, delivery: &dyn Delivery, result: Option<Result<(), JobFailure>>) {
    let (job, attempt) = (delivery.job(), delivery.attempt());
    let settled = match result {
        None => {
            info!("stopping: handing the job back");
            delivery.release().await
        }
        Some(Ok(())) => delivery.complete().await,
        Some(Err(failure)) => {
            let last = !failure.retryable || attempt >= delivery.max_attempts();
            warn!(error = %failure.message, retryable = failure.retryable, last, "job failed");
            if last {
                let report = Report::Failed { reason: failure.message.clone() };
                if let Err(error) = runner.reporter.report(report_message(job, attempt, report)).await {
                    warn!(%error, "cannot report the failure");
                }
                delivery.give_up(&failure.message).await
            } else {
                let delay = RETRY_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1));
                delivery.retry_later(&failure.message, delay).await
            }
        }
    };
    match settled {
        Ok(()) => info!("job ended"),
        Err(error) => warn!(%error, "could not settle the job with the queue"),
    }
}

fn report_message(job: &JobMessage, attempt: u32, report: Report) -> ReportMessage {
    ReportMessage { asset_id: job.asset_id.clone(), job_id: job.job_id.clone(), attempt, report }
}

/// Sends reports of one attempt.
#[derive(Clone)]
pub(crate) struct AttemptReporter {
    reporter: Arc<dyn Reporter>,
    job: JobMessage,
    attempt: u32,
}

impl AttemptReporter {
    #[cfg(test)]
    pub(crate) fn new(reporter: Arc<dyn Reporter>, job: JobMessage, attempt: u32) -> Self {
        AttemptReporter { reporter, job, attempt }
    }

    pub(crate) async fn send(&self, report: Report) -> Result<(), JobFailure> {
        self.reporter
            .report(report_message(&self.job, self.attempt, report))
            .await
            .map_err(JobFailure::from_queue)
    }
}

/// Probes, transcodes and publishes one asset. Everything a previous
/// attempt wrote is removed first, so a retry leaves exactly one set.
async fn process(
    runner: &JobRunner,
    job: &JobMessage,
    attempt: u32,
    cancelled: Arc<AtomicBool>,
) -> Result<(), JobFailure> {
    let asset_id = job.asset_id.as_str();
    let reports = AttemptReporter { reporter: runner.reporter.clone(), job: job.clone(), attempt };
    reports.send(Report::Started).await?;
    runner.objects.delete_prefix(&keys::stream_prefix(asset_id)).await.map_err(JobFailure::retryable)?;
    crate::captions::forget_source_tracks(&*runner.objects, asset_id).await.map_err(JobFailure::retryable)?;
    let source = SourceFile::fetch(runner, job).await?;

    let context = BlockingJob {
        objects: runner.objects.clone(),
        settings: runner.settings.clone(),
        reports: reports.clone(),
        handle: Handle::current(),
        source: source.path.clone(),
        cancelled,
    };
    let (output, texts) = tokio::task::spawn_blocking(move || context.transcode())
        .await
        .map_err(|e| JobFailure::retryable(format!("the transcode task failed: {e}")))??;
    drop(source);
    crate::captions::record_source_tracks(&*runner.objects, asset_id, &texts)
        .await
        .map_err(JobFailure::retryable)?;

    for rendition in &output.renditions {
        reports.send(Report::Rendition { rendition: rendition_record(asset_id, rendition) }).await?;
    }
    let package = serde_json::to_vec(&output).map_err(JobFailure::retryable)?;
    runner
        .objects
        .put(&keys::package(asset_id), Bytes::from(package))
        .await
        .map_err(JobFailure::retryable)?;
    // Without text tracks: the server adds them once the asset is ready.
    let mut manifests = Vec::new();
    cdlc_packager::write_manifests(&output, &[], |path, bytes| {
        manifests.push((path.to_owned(), Bytes::copy_from_slice(bytes)));
        Ok(())
    })
    .map_err(JobFailure::retryable)?;
    for (path, bytes) in manifests {
        runner.objects.put(&keys::stream(asset_id, &path), bytes).await.map_err(JobFailure::retryable)?;
    }
    reports.send(Report::Ready).await
}

/// The source of a job as a local file: the object's own file when the
/// store keeps files, else a download into the spool directory, removed on drop.
struct SourceFile {
    path: PathBuf,
    downloaded: bool,
}

impl SourceFile {
    async fn fetch(runner: &JobRunner, job: &JobMessage) -> Result<SourceFile, JobFailure> {
        let key = keys::source(&job.asset_id);
        let missing = || JobFailure::permanent(format!("the source {key} is missing from object storage"));
        let size = runner.objects.head(&key).await.map_err(JobFailure::retryable)?.ok_or_else(missing)?.size;
        if let Some(path) = runner.objects.local_path(&key) {
            return Ok(SourceFile { path, downloaded: false });
        }
        if size > runner.settings.max_source_bytes {
            return Err(JobFailure::permanent(format!(
                "the source is {size} bytes, above the limit of {} bytes",
                runner.settings.max_source_bytes
            )));
        }
        tokio::fs::create_dir_all(&runner.spool_dir).await.map_err(JobFailure::retryable)?;
        let file =
            SourceFile { path: runner.spool_dir.join(format!("source-{}", job.job_id)), downloaded: true };
        runner.objects.download_to(&key, &file.path).await.map_err(|e| {
            if e.is_retryable() {
                JobFailure::retryable(e)
            } else {
                JobFailure::permanent(e)
            }
        })?;
        Ok(file)
    }
}

impl Drop for SourceFile {
    fn drop(&mut self) {
        if self.downloaded {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn rendition_record(asset_id: &str, rendition: &RenditionOutput) -> RenditionRecord {
    let (kind, width, height, nominal) = match rendition.kind {
        RenditionKind::Video { width, height, bitrate_kbps, .. } => {
            ("video", Some(width), Some(height), bitrate_kbps as u64 * 1000)
        }
        RenditionKind::Audio { bitrate, .. } => ("audio", None, None, bitrate as u64),
    };
    let measured = rendition.average_bitrate();
    RenditionRecord {
        asset_id: asset_id.to_owned(),
        name: rendition.name.clone(),
        kind: kind.into(),
        width,
        height,
        bitrate: if measured > 0 { measured } else { nominal },
        codec: rendition.codec.clone(),
    }
}

/// The blocking part of a job, on a blocking thread: the probe and the
/// transcode run in a child process ([`cdlc_isolation`]), this thread relays
/// what it makes to object storage and the reporter.
struct BlockingJob {
    objects: Arc<dyn ObjectStore>,
    settings: JobSettings,
    reports: AttemptReporter,
    handle: Handle,
    source: PathBuf,
    cancelled: Arc<AtomicBool>,
}

impl BlockingJob {
    /// The packaged output and the text tracks extracted from the source
    /// (their cues already stored).
    fn transcode(self) -> Result<(TranscodeOutput, Vec<TrackInfo>), JobFailure> {
        let watch = self.settings.watch.clone();
        let mut request = cdlc_isolation::JobRequest::new(self.source.clone(), &watch);
        request.max_source_bytes = self.settings.max_source_bytes;
        request.segment_duration = Duration::from_secs_f64(self.settings.segment_duration);
        request.first_segment = Duration::from_secs_f64(self.settings.first_segment_duration);
        request.keep_surround = self.settings.keep_surround;
        request.x264_preset = self.settings.x264_preset.clone();
        let command = self.settings.child.clone();
        let mut observer =
            PublishingObserver { job: &self, last_reported: -1.0, sink: None, texts: Vec::new() };
        let finished =
            cdlc_isolation::run_isolated(&command, &request, &watch, &self.cancelled, &mut observer);
        // Every queued write lands (or the job fails) before the final manifests are written.
        let published = observer.sink.take().map_or(Ok(()), |sink| sink.finish());
        let finished =
            finished.map_err(|e| JobFailure { message: e.to_string(), retryable: e.is_retryable() })?;
        published.map_err(JobFailure::retryable)?;
        Ok((finished.output, observer.texts))
    }
}

/// Turns what the transcode child tells into reports and published objects.
struct PublishingObserver<'a> {
    job: &'a BlockingJob,
    last_reported: f64,
    sink: Option<Arc<PublishingSink>>,
    texts: Vec<TrackInfo>,
}

impl cdlc_isolation::JobObserver for PublishingObserver<'_> {
    fn probed(&mut self, info: &cdlc_ingest::MediaInfo) -> Result<(), String> {
        let source_json = serde_json::to_value(info).map_err(|e| e.to_string())?;
        let report = Report::Source { info: source_json };
        self.job.handle.block_on(self.job.reports.send(report)).map_err(|failure| failure.message)
    }

    fn planned(&mut self, plan: &LadderPlan) -> Result<Arc<dyn SegmentSink>, String> {
        let destination = Destination {
            objects: self.job.objects.clone(),
            reports: self.job.reports.clone(),
            asset_id: self.job.reports.job.asset_id.clone(),
            cancelled: self.job.cancelled.clone(),
        };
        let sink = PublishingSink::start(destination, plan, &self.job.handle);
        self.sink = Some(sink.clone());
        Ok(sink)
    }

    fn progress(&mut self, progress: cdlc_transcoder::Progress) {
        if progress.percent - self.last_reported >= 1.0 {
            self.last_reported = progress.percent;
            let report = Report::Progress { percent: progress.percent.min(99.0) };
            if let Err(failure) = self.job.handle.block_on(self.job.reports.send(report)) {
                warn!(error = failure.message, "cannot report progress");
            }
        }
    }

    fn text_track(&mut self, track: &cdlc_isolation::SourceTrack, vtt: &[u8]) -> Result<(), String> {
        let (track, cues) = track.checked(vtt)?;
        let key = keys::caption(&self.job.reports.job.asset_id, &track.id);
        let body = Bytes::from(cdlc_captions::write_vtt(&cues));
        self.job.handle.block_on(self.job.objects.put(&key, body)).map_err(|e| e.to_string())?;
        self.texts.push(track);
        Ok(())
    }
}
