//! The transcoder as a library: segments leave while it runs, progress rises to 100.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cdlc_transcoder::{DirectorySink, EncoderOptions, LadderOptions, Segment, SegmentSink};

use crate::support::Clip;

/// Writes like a `DirectorySink` and notes the progress at each media segment.
struct RecordingSink {
    inner: DirectorySink,
    progress: Arc<AtomicU64>,
    written: Mutex<Vec<(String, u32, f64)>>,
}

impl SegmentSink for RecordingSink {
    fn init_segment(&self, rendition: &str, data: &[u8]) -> std::io::Result<()> {
        self.inner.init_segment(rendition, data)
    }

    fn media_segment(&self, rendition: &str, segment: &Segment, data: &[u8]) -> std::io::Result<()> {
        let percent = f64::from_bits(self.progress.load(Ordering::SeqCst));
        self.written.lock().expect("lock").push((rendition.to_owned(), segment.number, percent));
        self.inner.media_segment(rendition, segment, data)
    }
}

#[test]
fn segments_are_written_while_the_transcode_runs_and_progress_reaches_100() {
    let (dir, src) =
        Clip::video("testsrc2=s=640x360:r=30:d=20").input("sine=d=20").h264().aac().write("long.mp4");
    let info = cdlc_ingest::probe(&src, &cdlc_ingest::Limits::default()).expect("probe");
    let plan = cdlc_transcoder::plan(&info, &LadderOptions::default()).expect("plan");
    let progress = Arc::new(AtomicU64::new(0f64.to_bits()));
    let sink = Arc::new(RecordingSink {
        inner: DirectorySink::new(dir.path().join("out")),
        progress: progress.clone(),
        written: Mutex::new(Vec::new()),
    });
    let encoder = EncoderOptions { x264_preset: "medium".into(), ..Default::default() };
    let mut reported = Vec::new();
    let output = cdlc_transcoder::transcode(&src, &plan, &encoder, sink.clone(), &mut |p| {
        progress.store(p.percent.to_bits(), Ordering::SeqCst);
        reported.push(p.percent);
    })
    .expect("transcode");

    assert_eq!(reported.last().copied(), Some(100.0), "progress ends at 100");
    assert!(reported.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {reported:?}");
    assert!(reported.iter().any(|p| *p > 0.0 && *p < 100.0), "progress in between: {reported:?}");

    let written = sink.written.lock().expect("lock");
    let segments: usize = output.renditions.iter().map(|r| r.segments.len()).sum();
    assert_eq!(written.len(), segments, "every segment went through the sink");
    let video_first = written.iter().find(|(name, n, _)| name == "360p" && *n == 1).expect("360p segment 1");
    assert!(
        video_first.2 < 50.0,
        "the first segment was written at {:.0} %, not near the end",
        video_first.2
    );
    let last = written.iter().map(|w| w.2).fold(0.0, f64::max);
    assert!(last > video_first.2, "later segments came later");
}
