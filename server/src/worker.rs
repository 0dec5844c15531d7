//! The in-process worker pool: claims transcode jobs from the metadata
//! store, runs them, and publishes playlists while they run (fast publish).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cdlc_metadata::{AssetStatus, Job, JobState, RenditionRecord, SegmentRecord};
use cdlc_packager::Completeness;
use cdlc_storage::{Bytes, StorageError};
use cdlc_transcoder::{
    layout, LadderPlan, RenditionKind, RenditionOutput, Segment, SegmentSink, TranscodeOutput,
};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tracing::{info, info_span, warn, Instrument};

use crate::api::SharedState;
use crate::state::keys;

/// How long a claimed job stays ours without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(30);
/// Pause between polls of an empty queue.
const IDLE_POLL: Duration = Duration::from_millis(300);
/// First retry delay; doubled at every further attempt.
const RETRY_BACKOFF: Duration = Duration::from_secs(2);

/// Why a job failed, and whether running it again could help.
#[derive(Debug)]
struct JobFailure {
    message: String,
    retryable: bool,
}

impl JobFailure {
    fn permanent(message: impl ToString) -> Self {
        JobFailure { message: message.to_string(), retryable: false }
    }

    fn retryable(message: impl ToString) -> Self {
        JobFailure { message: message.to_string(), retryable: true }
    }
}

/// Starts `count` workers named after this process; they stop taking new
/// jobs when `shutdown` turns true.
pub fn spawn(
    state: SharedState,
    count: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let node = format!("serve-{}", std::process::id());
    (0..count)
        .map(|n| {
            let name = format!("{node}-{n}");
            tokio::spawn(worker_loop(state.clone(), name, shutdown.clone()))
        })
        .collect()
}

async fn worker_loop(state: SharedState, name: String, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match state.metadata.claim_job(&name, LEASE).await {
            Ok(Some(job)) => {
                let span = info_span!("job", job_id = %job.id, asset_id = %job.asset_id);
                run_job(&state, &name, job).instrument(span).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(error) => {
                warn!(%error, "cannot claim jobs");
                tokio::time::sleep(IDLE_POLL * 10).await;
            }
        }
    }
}

async fn run_job(state: &SharedState, worker: &str, job: Job) {
    info!(attempt = job.attempts, "job started");
    let heartbeat = {
        let (state, worker, job_id) = (state.clone(), worker.to_owned(), job.id.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                if !state.metadata.renew_lease(&job_id, &worker, LEASE).await.unwrap_or(false) {
                    warn!(job_id, "lost the lease");
                }
            }
        })
    };
    let result = process(state, &job.asset_id).await;
    heartbeat.abort();
    let metadata = &state.metadata;
    let outcome = match result {
        Ok(()) => {
            crate::webhooks::notify(state, "asset.ready", &job.asset_id);
            metadata.complete_job(&job.id, worker).await.map(|_| JobState::Done)
        }
        Err(failure) => {
            warn!(error = %failure.message, retryable = failure.retryable, "job failed");
            let retry = failure
                .retryable
                .then(|| RETRY_BACKOFF * 2u32.saturating_pow(job.attempts.saturating_sub(1)));
            let outcome = metadata.fail_job(&job.id, worker, &failure.message, retry).await;
            if let Ok(JobState::Failed) = outcome {
                // Nothing half-written stays behind an errored asset.
                let _ = state.objects.delete_prefix(&keys::stream_prefix(&job.asset_id)).await;
                state.edge.purge_asset(&job.asset_id);
                let _ = metadata.clear_outputs(&job.asset_id).await;
                let _ =
                    metadata.set_status(&job.asset_id, AssetStatus::Errored, Some(&failure.message)).await;
                let _ = metadata
                    .append_event(
                        &job.asset_id,
                        "asset.errored",
                        serde_json::json!({ "error": failure.message }),
                    )
                    .await;
                crate::webhooks::notify(state, "asset.errored", &job.asset_id);
            }
            outcome
        }
    };
    match outcome {
        Ok(state) => info!(?state, "job ended"),
        Err(error) => warn!(%error, "could not record the end of the job"),
    }
}

/// Probes, transcodes and publishes one asset. Everything a previous
/// attempt wrote is removed first, so a retry leaves exactly one set.
async fn process(state: &SharedState, asset_id: &str) -> Result<(), JobFailure> {
    let metadata = &state.metadata;
    if metadata.get_asset(asset_id).await.map_err(JobFailure::retryable)?.is_none() {
        return Ok(()); // deleted meanwhile
    }
    metadata.clear_outputs(asset_id).await.map_err(JobFailure::retryable)?;
    state.objects.delete_prefix(&keys::stream_prefix(asset_id)).await.map_err(JobFailure::retryable)?;
    state.edge.purge_asset(asset_id);
    metadata.set_progress(asset_id, 0.0).await.map_err(JobFailure::retryable)?;

    let source = LocalSource::fetch(state, asset_id).await?;
    let (state_for_job, id, path) = (state.clone(), asset_id.to_owned(), source.path.clone());
    let handle = Handle::current();
    let output = tokio::task::spawn_blocking(move || transcode_blocking(&state_for_job, &handle, &id, &path))
        .await
        .map_err(|e| JobFailure::retryable(format!("the transcode task failed: {e}")))??;
    drop(source);

    for rendition in &output.renditions {
        metadata.put_rendition(rendition_record(asset_id, rendition)).await.map_err(JobFailure::retryable)?;
    }
    let mut manifests = Vec::new();
    cdlc_packager::write_manifests(&output, |path, bytes| {
        manifests.push((path.to_owned(), Bytes::copy_from_slice(bytes)));
        Ok(())
    })
    .map_err(JobFailure::retryable)?;
    for (path, bytes) in manifests {
        state.objects.put(&keys::stream(asset_id, &path), bytes).await.map_err(JobFailure::retryable)?;
    }
    metadata.set_status(asset_id, AssetStatus::Ready, None).await.map_err(JobFailure::retryable)?;
    // The edge held the growing manifests (fresh for a second); from now on
    // they are final and cached for a year.
    state.edge.purge_asset(asset_id);
    metadata
        .append_event(asset_id, "asset.ready", serde_json::json!({}))
        .await
        .map_err(JobFailure::retryable)?;
    Ok(())
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

/// The source as a local file for GStreamer: the object's own file when
/// the store keeps files, else a download into the spool folder that is
/// removed when this is dropped.
struct LocalSource {
    path: PathBuf,
    downloaded: bool,
}

impl LocalSource {
    async fn fetch(state: &SharedState, asset_id: &str) -> Result<LocalSource, JobFailure> {
        let key = keys::source(asset_id);
        if let Some(path) = state.objects.local_path(&key) {
            return Ok(LocalSource { path, downloaded: false });
        }
        let path = state.spool_dir.join(format!("source-{asset_id}-{}", uuid::Uuid::new_v4().simple()));
        let source = LocalSource { path, downloaded: true };
        match state.objects.download_to(&key, &source.path).await {
            Ok(_) => Ok(source),
            Err(StorageError::NotFound(_)) => {
                Err(JobFailure::permanent("the source file is missing from object storage; upload it again"))
            }
            Err(e) if e.is_retryable() => Err(JobFailure::retryable(e)),
            Err(e) => Err(JobFailure::permanent(e)),
        }
    }
}

impl Drop for LocalSource {
    fn drop(&mut self) {
        if self.downloaded {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The blocking part of a job, on a blocking thread.
fn transcode_blocking(
    state: &SharedState,
    handle: &Handle,
    asset_id: &str,
    source: &Path,
) -> Result<TranscodeOutput, JobFailure> {
    let limits = cdlc_ingest::Limits {
        max_file_size: state.config.max_upload_bytes,
        ..cdlc_ingest::Limits::default()
    };
    let info = cdlc_ingest::probe(source, &limits).map_err(JobFailure::permanent)?;
    let source_json = serde_json::to_value(&info).map_err(JobFailure::permanent)?;
    handle.block_on(state.metadata.set_source(asset_id, source_json)).map_err(JobFailure::retryable)?;

    let options = cdlc_transcoder::LadderOptions {
        segment_duration: Duration::from_secs_f64(state.config.segment_duration),
        ..Default::default()
    };
    let plan = cdlc_transcoder::plan(&info, &options).map_err(JobFailure::permanent)?;
    let sink = Arc::new(PublishingSink::new(state.clone(), handle.clone(), asset_id, &plan));
    let encoder = cdlc_transcoder::EncoderOptions {
        x264_preset: state.config.x264_preset.clone(),
        ..Default::default()
    };
    let mut last_reported = -1.0;
    cdlc_transcoder::transcode(source, &plan, &encoder, sink, &mut |progress| {
        if progress.percent - last_reported >= 1.0 {
            last_reported = progress.percent;
            let _ = handle.block_on(state.metadata.set_progress(asset_id, progress.percent.min(99.0)));
        }
    })
    .map_err(|e| if e.is_retryable() { JobFailure::retryable(e) } else { JobFailure::permanent(e) })
}

/// Stores segments as objects the moment they exist and republishes the
/// playlists, so a viewer can press play after the first segments.
struct PublishingSink {
    state: SharedState,
    handle: Handle,
    asset_id: String,
    segment_duration: Duration,
    renditions: Mutex<Vec<RenditionOutput>>,
    master_published: AtomicBool,
    /// Time 0 of the dynamic MPD: set when the stream first becomes playable.
    availability_start: std::sync::OnceLock<SystemTime>,
}

impl PublishingSink {
    fn new(state: SharedState, handle: Handle, asset_id: &str, plan: &LadderPlan) -> Self {
        PublishingSink {
            state,
            handle,
            asset_id: asset_id.to_owned(),
            segment_duration: plan.segment_duration(),
            renditions: Mutex::new(plan.renditions()),
            master_published: AtomicBool::new(false),
            availability_start: std::sync::OnceLock::new(),
        }
    }

    fn put(&self, relative: &str, data: Bytes) -> std::io::Result<()> {
        let key = keys::stream(&self.asset_id, relative);
        self.handle.block_on(self.state.objects.put(&key, data)).map(|_| ()).map_err(std::io::Error::other)
    }
}

impl SegmentSink for PublishingSink {
    fn init_segment(&self, rendition: &str, data: &[u8]) -> std::io::Result<()> {
        self.put(&layout::init_segment(rendition), Bytes::copy_from_slice(data))?;
        let codec = cdlc_transcoder::cmaf::codec_string(data).unwrap_or_default();
        let mut renditions = self.renditions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = renditions.iter_mut().find(|r| r.name == rendition) {
            r.codec = codec;
            r.init_size = data.len() as u64;
        }
        Ok(())
    }

    fn media_segment(&self, rendition: &str, segment: &Segment, data: &[u8]) -> std::io::Result<()> {
        // The segment first, then the playlists that point at it.
        self.put(&layout::media_segment(rendition, segment.number), Bytes::copy_from_slice(data))?;
        let record = SegmentRecord {
            asset_id: self.asset_id.clone(),
            rendition: rendition.to_owned(),
            number: segment.number,
            start_ns: segment.start.as_nanos() as u64,
            duration_ns: segment.duration.as_nanos() as u64,
            size: segment.size,
        };
        self.handle.block_on(self.state.metadata.put_segment(record)).map_err(std::io::Error::other)?;

        let (playlist, master, mpd) = {
            let mut renditions = self.renditions.lock().unwrap_or_else(|e| e.into_inner());
            let Some(current) = renditions.iter_mut().find(|r| r.name == rendition) else {
                return Ok(());
            };
            current.segments.push(segment.clone());
            let playlist = cdlc_packager::hls::media_playlist(
                current,
                Completeness::Growing,
                Some(self.segment_duration),
            );
            let everyone_started = renditions.iter().all(|r| !r.segments.is_empty() && !r.codec.is_empty());
            let snapshot = TranscodeOutput { renditions: renditions.clone() };
            let master = (everyone_started && !self.master_published.load(Ordering::SeqCst))
                .then(|| cdlc_packager::hls::master_playlist(&snapshot));
            // A dynamic MPD listing every segment so far, once all renditions play.
            let mpd = everyone_started.then(|| {
                let now = SystemTime::now();
                let listed = renditions.iter().map(|r| r.duration()).min().unwrap_or_default();
                let availability_start = *self.availability_start.get_or_init(|| now - listed);
                let timing = cdlc_packager::dash::Timing::Dynamic {
                    availability_start,
                    publish_time: now,
                    update_period: self.segment_duration,
                };
                cdlc_packager::dash::manifest(&snapshot, &timing)
            });
            (playlist, master, mpd)
        };
        self.put(&layout::media_playlist(rendition), Bytes::from(playlist))?;
        if let Some(mpd) = mpd {
            self.put(layout::DASH_MANIFEST, Bytes::from(mpd))?;
        }
        if let Some(master) = master {
            self.put(layout::HLS_MASTER, Bytes::from(master))?;
            self.master_published.store(true, Ordering::SeqCst);
            info!(asset_id = %self.asset_id, "playable: master playlist published");
        }
        Ok(())
    }

    /// The poster (early) and the storyboard (at the end) become objects
    /// beside the playlists; the asset view shows them once they exist.
    fn still(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.put(name, Bytes::copy_from_slice(data))
    }
}
