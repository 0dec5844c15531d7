//! The child's side: `cdlc transcode-job` reads one [`JobRequest`] on stdin,
//! probes, plans and transcodes, and answers in frames on stdout.
//!
//! The child bounds itself before it touches the source: it dies with its
//! parent, its data segment is capped at the request's memory budget, and
//! its CPU time at a budget that grows with the source's duration once the
//! probe knows it. Whatever a source does to GStreamer after that (a panic
//! that aborts, a segfault, an endless loop) ends this process only.

use std::fs::File;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdlc_transcoder::{EncoderOptions, LadderOptions, Segment, SegmentSink};
use rustix::process::{Resource, Rlimit, Signal};
use tracing::warn;

use crate::wire::{read_frame, write_frame, ChildMessage, JobRequest, SourceTrack, Stage};

/// CPU seconds allowed between the soft limit (SIGXCPU) and the hard one (SIGKILL).
const CPU_GRACE_SECONDS: u64 = 5;

/// Runs one job as the child process; the binary's `transcode-job` command.
pub fn run_child() -> ExitCode {
    cdlc_transcoder::leave_crashes_to_the_parent();
    // If the parent dies, nobody reads what we make: go with it.
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    let channel = match take_stdout() {
        Ok(channel) => Arc::new(Channel(Mutex::new(channel))),
        Err(error) => {
            eprintln!("transcode-job: cannot set up the output channel: {error}");
            return ExitCode::from(3);
        }
    };
    let request: JobRequest = match read_frame(&mut io::stdin().lock()) {
        Ok(Some((request, _))) => request,
        Ok(None) => {
            eprintln!("transcode-job: no job on stdin");
            return ExitCode::from(3);
        }
        Err(error) => {
            eprintln!("transcode-job: cannot read the job: {error}");
            return ExitCode::from(3);
        }
    };
    if let Err(error) = limit(Resource::Data, request.memory_bytes) {
        warn!(%error, "cannot cap the child's memory");
    }
    if let Err(error) = limit_cpu(request.cpu_base, false) {
        warn!(%error, "cannot cap the child's CPU time");
    }
    let failure = match run_job(&request, &channel) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(failure) => failure,
    };
    let Failure { stage, message, retryable } = failure;
    match channel.send(&ChildMessage::Failed { stage, message, retryable }, &[]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(4),
    }
}

/// The framed channel to the parent. Stdout itself is pointed at stderr, so
/// that nothing a library prints can corrupt the frames.
pub(crate) fn take_stdout() -> io::Result<File> {
    let channel = File::from(rustix::io::dup(io::stdout())?);
    rustix::stdio::dup2_stdout(io::stderr())?;
    Ok(channel)
}

struct Channel(Mutex<File>);

impl Channel {
    /// One frame, whole: streaming threads of several renditions share the channel.
    fn send(&self, message: &ChildMessage, payload: &[u8]) -> io::Result<()> {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        write_frame(&mut *out, message, payload)?;
        out.flush()
    }
}

/// An orderly failure, sent as [`ChildMessage::Failed`].
struct Failure {
    stage: Stage,
    message: String,
    retryable: bool,
}

fn failed(stage: Stage, message: impl ToString, retryable: bool) -> Failure {
    Failure { stage, message: message.to_string(), retryable }
}

fn run_job(request: &JobRequest, channel: &Arc<Channel>) -> Result<(), Failure> {
    let limits =
        cdlc_ingest::Limits { max_file_size: request.max_source_bytes, ..cdlc_ingest::Limits::default() };
    let info = cdlc_ingest::probe(&request.source, &limits).map_err(|e| failed(Stage::Probe, e, false))?;
    let budget = request.cpu_base + info.duration.mul_f64(request.cpu_per_source_second.max(0.0));
    if let Err(error) = limit_cpu(budget, true) {
        warn!(%error, "cannot raise the child's CPU budget");
    }
    let gone = |e: io::Error| failed(Stage::Transcode, format!("the parent stopped listening: {e}"), true);
    channel.send(&ChildMessage::Probed { info: info.clone() }, &[]).map_err(gone)?;

    let options = LadderOptions {
        segment_duration: request.segment_duration,
        first_segment: request.first_segment,
        rungs: request.rungs.clone(),
        audio_bitrate: request.audio_bitrate,
        keep_surround: request.keep_surround,
    };
    let plan = cdlc_transcoder::plan(&info, &options).map_err(|e| failed(Stage::Plan, e, false))?;
    channel.send(&ChildMessage::Planned { plan: plan.clone() }, &[]).map_err(gone)?;

    let encoder = EncoderOptions {
        x264_preset: request.x264_preset.clone(),
        stall_timeout: request.stall_timeout,
        threads: request.threads.max(1),
    };
    // The source's text streams are read beside the transcode (a demux-only
    // pass), and only when the probe found some: most sources cost nothing.
    let texts = (!info.subtitles.is_empty()).then(|| {
        let (done, texts) = std::sync::mpsc::channel();
        let source = request.source.clone();
        let timeout = request.stall_timeout + info.duration;
        std::thread::spawn(move || {
            let _ = done.send(cdlc_transcoder::subtitles::extract_text(&source, timeout));
        });
        texts
    });
    let sink = Arc::new(PipeSink { channel: channel.clone() });
    let progress_channel = channel.clone();
    let output = cdlc_transcoder::transcode(&request.source, &plan, &encoder, sink, &mut |progress| {
        let message = ChildMessage::Progress { percent: progress.percent, encoded: progress.encoded };
        let _ = progress_channel.send(&message, &[]);
    })
    .map_err(|e| {
        let retryable = e.is_retryable();
        failed(Stage::Transcode, e, retryable)
    })?;
    if let Some(texts) = texts {
        // The video is what matters: text that fails or is late is left out.
        match texts.recv_timeout(request.stall_timeout / 2) {
            Ok(Ok(texts)) => send_texts(channel, &info.subtitles, texts).map_err(gone)?,
            Ok(Err(error)) => warn!(%error, "the source's text tracks cannot be read; they are left out"),
            Err(_) => warn!("reading the source's text tracks took too long; they are left out"),
        }
    }
    channel.send(&ChildMessage::Done { output }, &[]).map_err(gone)
}

/// Each text stream as WebVTT, within a sidecar's size (the last cues of
/// a larger one are left out), tagged as the probe saw it.
fn send_texts(
    channel: &Channel,
    probed: &[cdlc_ingest::SubtitleInfo],
    texts: Vec<cdlc_transcoder::subtitles::SourceText>,
) -> io::Result<()> {
    for text in texts {
        let index = probed
            .iter()
            .position(|s| s.stream_id.as_deref() == Some(text.stream_id.as_str()))
            .or((text.order < probed.len()).then_some(text.order));
        let Some(index) = index else {
            warn!(stream_id = %text.stream_id, "a text stream the probe did not list is left out");
            continue;
        };
        let mut cues = text.cues;
        let mut vtt = cdlc_captions::write_vtt(&cues);
        while vtt.len() > cdlc_captions::MAX_FILE_BYTES && !cues.is_empty() {
            cues.truncate(cues.len() * 9 / 10);
            vtt = cdlc_captions::write_vtt(&cues);
        }
        if cues.is_empty() {
            continue;
        }
        let track = SourceTrack {
            index,
            language: text.language.or_else(|| probed[index].language.clone()),
            title: text.title.or_else(|| probed[index].title.clone()),
        };
        channel.send(&ChildMessage::Text { track }, vtt.as_bytes())?;
    }
    Ok(())
}

/// Hands every segment and still to the parent as it is produced.
struct PipeSink {
    channel: Arc<Channel>,
}

impl SegmentSink for PipeSink {
    fn init_segment(&self, rendition: &str, data: &[u8]) -> io::Result<()> {
        self.channel.send(&ChildMessage::Init { rendition: rendition.to_owned() }, data)
    }

    fn media_segment(&self, rendition: &str, segment: &Segment, data: &[u8]) -> io::Result<()> {
        let message = ChildMessage::Media { rendition: rendition.to_owned(), segment: segment.clone() };
        self.channel.send(&message, data)
    }

    fn still(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.channel.send(&ChildMessage::Still { name: name.to_owned() }, data)
    }
}

fn limit(resource: Resource, value: u64) -> io::Result<()> {
    let value = Some(value);
    rustix::process::setrlimit(resource, Rlimit { current: value, maximum: value }).map_err(io::Error::from)
}

/// The soft limit at `budget` (SIGXCPU ends the process). The probe runs
/// under a soft limit only; the `last` call, once the duration is known,
/// also lowers the hard limit a little above it (SIGKILL), which no later
/// call could raise again without privileges.
fn limit_cpu(budget: Duration, last: bool) -> io::Result<()> {
    let soft = budget.as_secs().max(1);
    let current = rustix::process::getrlimit(Resource::Cpu);
    let wanted_hard = if last { Some(soft + CPU_GRACE_SECONDS) } else { current.maximum };
    let hard = match (wanted_hard, current.maximum) {
        (Some(wanted), Some(max)) => Some(wanted.min(max)),
        (wanted, None) => wanted,
        (None, max) => max,
    };
    let soft = hard.map_or(soft, |hard| soft.min(hard));
    rustix::process::setrlimit(Resource::Cpu, Rlimit { current: Some(soft), maximum: hard })
        .map_err(io::Error::from)
}
