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

#[test]
fn the_first_segment_is_short_and_every_rendition_splits_at_the_same_instants() {
    let (dir, src) =
        Clip::video("testsrc2=s=640x360:r=30:d=7").input("sine=d=7").h264().aac().write("short-first.mp4");
    let info = cdlc_ingest::probe(&src, &cdlc_ingest::Limits::default()).expect("probe");
    let options = LadderOptions {
        rungs: Some(vec!["360:600".parse().unwrap(), "240:300".parse().unwrap()]),
        ..Default::default()
    };
    let plan = cdlc_transcoder::plan(&info, &options).expect("plan");
    assert_eq!(plan.first_segment_frames, 15, "0.5 s at 30 fps");
    let out = dir.path().join("out");
    let sink = Arc::new(DirectorySink::new(&out));
    let output = cdlc_transcoder::transcode(&src, &plan, &EncoderOptions::default(), sink, &mut |_| {})
        .expect("transcode");

    let starts = |name: &str| -> Vec<f64> {
        let rendition = output.renditions.iter().find(|r| r.name == name).expect(name);
        let init = std::fs::read(out.join(format!("{name}/init.mp4"))).expect("init");
        let timescale = crate::support::init_timescale(&init);
        rendition
            .segments
            .iter()
            .map(|s| {
                let data = std::fs::read(out.join(format!("{name}/{:05}.m4s", s.number))).expect("segment");
                let boxes = crate::support::read_segment(&data, timescale);
                assert!(boxes.starts_with_keyframe, "{name} segment {} starts with a keyframe", s.number);
                boxes.start
            })
            .collect()
    };
    let (big, small, audio) = (starts("360p"), starts("240p"), starts("audio"));
    // 0, 0.5, 2.5, 4.5, 6.5 (the last one short).
    let expected = [0.0, 0.5, 2.5, 4.5, 6.5];
    assert_eq!(big.len(), expected.len(), "360p segments start at {big:?}");
    for (got, want) in big.iter().zip(expected) {
        assert!((got - want).abs() < 0.02, "360p segments start at {big:?}, not {expected:?}");
    }
    assert_eq!(big, small, "every rung splits at the same instants");
    assert_eq!(audio.len(), big.len(), "audio segments start at {audio:?}");
    for (a, v) in audio.iter().zip(&big) {
        assert!((a - v).abs() < 0.03, "audio segments {audio:?} follow the video {big:?}");
    }
    let first = &output.renditions[0].segments[0];
    assert!((first.duration.as_secs_f64() - 0.5).abs() < 0.02, "first segment lasts {:?}", first.duration);
    // Each rendition, its init segment then every media segment, is one fragmented MP4 that decodes.
    for rendition in &output.renditions {
        let name = &rendition.name;
        let mut whole = std::fs::read(out.join(format!("{name}/init.mp4"))).expect("init");
        for s in &rendition.segments {
            whole.extend(std::fs::read(out.join(format!("{name}/{:05}.m4s", s.number))).expect("segment"));
        }
        let file = out.join(format!("{name}.mp4"));
        std::fs::write(&file, whole).expect("write");
        crate::support::decode_all(&file);
    }
}
