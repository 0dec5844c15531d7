//! Fast publish: segments become objects the moment the transcode makes
//! them, and the playlists are republished so a viewer can press play after
//! the first segments.
//!
//! The thread that relays the transcode child's output never waits on object
//! storage or the reporter: [`PublishingSink`] hands every segment to a
//! bounded queue and returns. One async task, the [`Publisher`], drains the
//! queue in batches: it writes the batch's segments concurrently, reports
//! them, then writes each playlist the batch changed once (segments first,
//! then the playlists that point at them). When storage is slower than the
//! encoders the queue fills and the relay thread waits for room: the child's
//! pipe and then its encoders slow down, and memory stays bounded by
//! [`PUBLISH_QUEUE`] segments. The first failed write fails the job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cdlc_metadata::SegmentRecord;
use cdlc_packager::hls::GrowingPlaylist;
use cdlc_packager::Completeness;
use cdlc_queue::Report;
use cdlc_storage::{Bytes, ObjectStore};
use cdlc_transcoder::{layout, LadderPlan, RenditionOutput, Segment, SegmentSink, TranscodeOutput};
use futures_util::future::try_join_all;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::state::keys;
use crate::worker::AttemptReporter;

/// Segments (and init segments, stills) waiting for storage at most. A
/// 1080p segment of 2 s is about 1.3 MB: the queue holds some 40 MB at worst.
pub const PUBLISH_QUEUE: usize = 32;

/// One object the transcode made, on its way to storage.
enum Made {
    Init { rendition: String, data: Bytes },
    Media { rendition: String, segment: Segment, data: Bytes },
    Still { name: String, data: Bytes },
}

/// The [`SegmentSink`] of a job: queues what the transcode makes. Called on
/// the relay thread; blocks only while the queue is full.
pub struct PublishingSink {
    queue: Mutex<Option<mpsc::Sender<Made>>>,
    /// Why the publisher stopped, once it has.
    failure: Arc<Mutex<Option<String>>>,
    cancelled: Arc<AtomicBool>,
    publisher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    handle: Handle,
}

/// Where a job publishes, and for whom.
pub struct Destination {
    pub objects: Arc<dyn ObjectStore>,
    pub reports: AttemptReporter,
    pub asset_id: String,
    pub cancelled: Arc<AtomicBool>,
}

impl PublishingSink {
    /// Starts the publisher of `plan` on `handle`.
    pub fn start(destination: Destination, plan: &LadderPlan, handle: &Handle) -> Arc<PublishingSink> {
        Self::start_renditions(destination, plan.renditions(), plan.segment_duration(), handle)
    }

    fn start_renditions(
        destination: Destination,
        renditions: Vec<RenditionOutput>,
        segment_duration: Duration,
        handle: &Handle,
    ) -> Arc<PublishingSink> {
        let (sender, receiver) = mpsc::channel(PUBLISH_QUEUE);
        let failure = Arc::new(Mutex::new(None));
        let cancelled = destination.cancelled.clone();
        let publisher = Publisher::new(destination, renditions, segment_duration);
        let task = handle.spawn(publisher.run(receiver, failure.clone()));
        Arc::new(PublishingSink {
            queue: Mutex::new(Some(sender)),
            failure,
            cancelled,
            publisher: Mutex::new(Some(task)),
            handle: handle.clone(),
        })
    }

    fn send(&self, made: Made) -> std::io::Result<()> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the worker is stopping; the job was handed back"));
        }
        let sender = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(sender) = sender else {
            return Err(std::io::Error::other("the publisher was already closed"));
        };
        // Blocking here is the backpressure: this is the relay thread (a
        // blocking thread), never a runtime thread.
        sender.blocking_send(made).map_err(|_| self.stopped())
    }

    fn stopped(&self) -> std::io::Error {
        let failure = self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone();
        std::io::Error::other(failure.unwrap_or_else(|| "the publisher stopped".into()))
    }

    /// Waits until everything queued is stored and published (from a
    /// blocking thread); the error of the first write that failed.
    pub fn finish(&self) -> Result<(), String> {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(task) = self.publisher.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.handle.block_on(task).map_err(|e| format!("the publisher task failed: {e}"))?;
        }
        match self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

impl Drop for PublishingSink {
    fn drop(&mut self) {
        // A job that ended early: no write may land after it.
        if let Some(task) = self.publisher.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl SegmentSink for PublishingSink {
    fn init_segment(&self, rendition: &str, data: &[u8]) -> std::io::Result<()> {
        self.send(Made::Init { rendition: rendition.to_owned(), data: Bytes::copy_from_slice(data) })
    }

    fn media_segment(&self, rendition: &str, segment: &Segment, data: &[u8]) -> std::io::Result<()> {
        let data = Bytes::copy_from_slice(data);
        self.send(Made::Media { rendition: rendition.to_owned(), segment: segment.clone(), data })
    }

    /// The poster (early) and the storyboard (at the end) become objects
    /// beside the playlists; the asset view shows them once they exist.
    fn still(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.send(Made::Still { name: name.to_owned(), data: Bytes::copy_from_slice(data) })
    }
}

/// The task that stores what the queue holds and keeps the manifests current.
struct Publisher {
    to: Destination,
    segment_duration: Duration,
    /// The presentation so far; segments are appended, never copied.
    output: TranscodeOutput,
    playlists: Vec<GrowingPlaylist>,
    master_published: bool,
    /// Time 0 of the dynamic MPD: set when the stream first becomes playable.
    availability_start: Option<SystemTime>,
}

impl Publisher {
    fn new(to: Destination, renditions: Vec<RenditionOutput>, segment_duration: Duration) -> Self {
        let output = TranscodeOutput { renditions };
        let playlists = output.renditions.iter().map(|_| GrowingPlaylist::new(segment_duration)).collect();
        Publisher {
            to,
            segment_duration,
            output,
            playlists,
            master_published: false,
            availability_start: None,
        }
    }

    async fn run(mut self, mut queue: mpsc::Receiver<Made>, failure: Arc<Mutex<Option<String>>>) {
        let mut batch = Vec::with_capacity(PUBLISH_QUEUE);
        while queue.recv_many(&mut batch, PUBLISH_QUEUE).await > 0 {
            if let Err(error) = self.publish(std::mem::take(&mut batch)).await {
                failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(error);
                // Closing the queue turns the relay thread's next send into this error.
                queue.close();
                return;
            }
        }
    }

    async fn put(&self, relative: &str, data: Bytes) -> Result<(), String> {
        if self.to.cancelled.load(Ordering::SeqCst) {
            return Err("the worker is stopping; the job was handed back".into());
        }
        let key = keys::stream(&self.to.asset_id, relative);
        self.to.objects.put(&key, data).await.map(|_| ()).map_err(|e| format!("cannot store {key}: {e}"))
    }

    /// Stores `writes` concurrently; the first error.
    async fn put_all(&self, writes: Vec<(String, Bytes)>) -> Result<(), String> {
        try_join_all(writes.into_iter().map(|(path, data)| async move { self.put(&path, data).await }))
            .await
            .map(|_| ())
    }

    fn index_of(&self, rendition: &str) -> Option<usize> {
        self.output.renditions.iter().position(|r| r.name == rendition)
    }

    async fn publish(&mut self, batch: Vec<Made>) -> Result<(), String> {
        let writes = batch.iter().map(|made| match made {
            Made::Init { rendition, data } => (layout::init_segment(rendition), data.clone()),
            Made::Media { rendition, segment, data } => {
                (layout::media_segment(rendition, segment.number), data.clone())
            }
            Made::Still { name, data } => (name.clone(), data.clone()),
        });
        self.put_all(writes.collect()).await?;

        let mut changed = vec![false; self.output.renditions.len()];
        for made in batch {
            match made {
                Made::Init { rendition, data } => {
                    let Some(index) = self.index_of(&rendition) else { continue };
                    let current = &mut self.output.renditions[index];
                    current.codec = cdlc_transcoder::cmaf::codec_string(&data).unwrap_or_default();
                    current.init_size = data.len() as u64;
                }
                Made::Media { rendition, segment, .. } => {
                    let record = SegmentRecord {
                        asset_id: self.to.asset_id.clone(),
                        rendition: rendition.clone(),
                        number: segment.number,
                        start_ns: segment.start.as_nanos() as u64,
                        duration_ns: segment.duration.as_nanos() as u64,
                        size: segment.size,
                    };
                    self.to.reports.send(Report::Segment { segment: record }).await.map_err(|f| f.message)?;
                    let Some(index) = self.index_of(&rendition) else { continue };
                    self.playlists[index].push(&segment);
                    self.output.renditions[index].segments.push(segment);
                    changed[index] = true;
                }
                Made::Still { .. } => {}
            }
        }
        if !changed.contains(&true) {
            return Ok(());
        }
        let playlists = changed.iter().enumerate().filter(|(_, c)| **c).map(|(index, _)| {
            let name = &self.output.renditions[index].name;
            let text = self.playlists[index].render(Completeness::Growing);
            (layout::media_playlist(name), Bytes::from(text))
        });
        let playlists = playlists.collect();
        self.put_all(playlists).await?;

        let everyone_started =
            self.output.renditions.iter().all(|r| !r.segments.is_empty() && !r.codec.is_empty());
        if !everyone_started {
            return Ok(());
        }
        // A dynamic MPD listing every segment so far.
        let now = SystemTime::now();
        let listed = self.output.renditions.iter().map(|r| r.duration()).min().unwrap_or_default();
        let availability_start = *self.availability_start.get_or_insert(now - listed);
        let timing = cdlc_packager::dash::Timing::Dynamic {
            availability_start,
            publish_time: now,
            update_period: self.segment_duration,
        };
        let mpd = cdlc_packager::dash::manifest(&self.output, &timing, &[]);
        self.put(layout::DASH_MANIFEST, Bytes::from(mpd)).await?;
        if !self.master_published {
            let master = cdlc_packager::hls::master_playlist(&self.output, &[]);
            self.put(layout::HLS_MASTER, Bytes::from(master)).await?;
            self.master_published = true;
            info!(asset_id = %self.to.asset_id, "playable: master playlist published");
        } else {
            debug!(asset_id = %self.to.asset_id, "playlists republished");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdlc_queue::{JobKind, JobMessage, QueueError, ReportMessage, Reporter};
    use cdlc_storage::LocalStore;
    use cdlc_transcoder::RenditionKind;

    /// Keeps the reports, in the order they arrived.
    #[derive(Default)]
    struct Reports(Mutex<Vec<ReportMessage>>);

    #[async_trait::async_trait]
    impl Reporter for Reports {
        async fn report(&self, message: ReportMessage) -> Result<(), QueueError> {
            self.0.lock().unwrap().push(message);
            Ok(())
        }
    }

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    /// An init segment whose only use is its codec: avc1.64001f.
    fn init_segment() -> Vec<u8> {
        let avc1 = boxed(b"avc1", &[vec![0; 78], boxed(b"avcC", &[1, 0x64, 0, 0x1f])].concat());
        let stsd = boxed(b"stsd", &[vec![0; 8], avc1].concat());
        let mut inner = stsd;
        for kind in [b"stbl", b"minf", b"mdia", b"trak", b"moov"] {
            inner = boxed(kind, &inner);
        }
        inner
    }

    fn start(root: &std::path::Path, reports: Arc<Reports>) -> Arc<PublishingSink> {
        let job = JobMessage { asset_id: "a".repeat(32), job_id: "b".repeat(32), kind: JobKind::Transcode };
        let destination = Destination {
            objects: Arc::new(LocalStore::open(root).unwrap()),
            reports: AttemptReporter::new(reports, job, 1),
            asset_id: "a".repeat(32),
            cancelled: Arc::new(AtomicBool::new(false)),
        };
        let kind = RenditionKind::Video { width: 640, height: 360, frame_rate: (30, 1), bitrate_kbps: 800 };
        let rendition = RenditionOutput {
            name: "360p".into(),
            kind,
            codec: String::new(),
            init_size: 0,
            segments: Vec::new(),
        };
        PublishingSink::start_renditions(
            destination,
            vec![rendition],
            Duration::from_secs(2),
            &Handle::current(),
        )
    }

    fn segment(number: u32) -> Segment {
        let start = Duration::from_millis(500) + Duration::from_secs(2) * (number - 1);
        Segment { number, start, duration: Duration::from_secs(2), size: 4 }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn segments_land_before_the_playlists_that_name_them_and_every_report_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let reports = Arc::new(Reports::default());
        let sink = start(dir.path(), reports.clone());
        let relay = tokio::task::spawn_blocking(move || {
            sink.init_segment("360p", &init_segment())?;
            // More segments than the queue holds: the relay waits for room.
            for n in 1..=(PUBLISH_QUEUE as u32 * 3) {
                sink.media_segment("360p", &segment(n), b"moof")?;
            }
            sink.finish().map_err(std::io::Error::other)
        });
        relay.await.unwrap().expect("every write succeeds");

        let stream = dir.path().join(format!("streams/{}", "a".repeat(32)));
        let playlist = std::fs::read_to_string(stream.join("360p/playlist.m3u8")).unwrap();
        let listed: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
        assert_eq!(listed.len(), PUBLISH_QUEUE * 3, "{playlist}");
        for name in listed {
            assert!(stream.join("360p").join(name).exists(), "{name} is listed and stored");
        }
        assert!(playlist.contains("#EXT-X-PLAYLIST-TYPE:EVENT"));
        let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
        assert!(master.contains("avc1.64001f") && master.contains("360p/playlist.m3u8"), "{master}");
        let numbers: Vec<u32> = reports
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match &m.report {
                Report::Segment { segment } => Some(segment.number),
                _ => None,
            })
            .collect();
        assert_eq!(numbers, (1..=PUBLISH_QUEUE as u32 * 3).collect::<Vec<_>>(), "reported in order");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fails_fails_the_job_with_the_key_it_could_not_store() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the rendition's folder should be: no write under it can succeed.
        let stream = dir.path().join(format!("streams/{}", "a".repeat(32)));
        std::fs::create_dir_all(&stream).unwrap();
        std::fs::write(stream.join("360p"), b"in the way").unwrap();
        let sink = start(dir.path(), Arc::new(Reports::default()));
        let outcome = tokio::task::spawn_blocking(move || {
            let sent = (1..=PUBLISH_QUEUE as u32 * 4)
                .try_for_each(|n| sink.media_segment("360p", &segment(n), b"x"));
            (sent, sink.finish())
        })
        .await
        .unwrap();
        let (sent, finished) = outcome;
        let sent = sent.expect_err("the relay learns of the failure and stops sending");
        assert!(sent.to_string().contains("cannot store"), "{sent}");
        let finished = finished.expect_err("the job fails");
        assert!(finished.contains("360p/00001.m4s"), "{finished}");
    }
}
