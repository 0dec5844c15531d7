//! The parent's side: start the child, relay what it makes, watch it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cdlc_ingest::MediaInfo;
use cdlc_transcoder::{LadderPlan, Progress, SegmentSink, TranscodeOutput};
use rustix::process::{Pid, Signal};
use tracing::{debug, warn};

use crate::wire::{read_frame, write_frame, ChildMessage, JobRequest, SourceTrack};
use crate::JobError;

/// How often the watchdog looks at the child.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// Lines of the child's stderr kept to explain a crash.
const STDERR_LINES_KEPT: usize = 40;
/// Longest stderr line kept or relayed, in bytes.
const STDERR_LINE_BYTES: usize = 4096;

/// How to start the child: normally this very binary with `transcode-job`.
#[derive(Debug, Clone)]
pub struct ChildCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl ChildCommand {
    /// The running executable with `transcode-job`.
    pub fn this_binary() -> io::Result<ChildCommand> {
        Ok(ChildCommand { program: std::env::current_exe()?, args: vec!["transcode-job".into()] })
    }

    /// Starts the child with its stdin, stdout and stderr piped to us.
    pub(crate) fn spawn(&self) -> Result<Child, JobError> {
        Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| JobError::Spawn { program: self.program.display().to_string(), source })
    }
}

/// Limits the parent enforces while the child runs.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Longest probe (the Discoverer has a timer of its own, shorter).
    pub probe_timeout: Duration,
    /// Longest time without the progress advancing, whatever the reason.
    pub stall: Duration,
    /// Wall-time budget: `wall_base + wall_per_source_second × duration`.
    pub wall_base: Duration,
    pub wall_per_source_second: f64,
    /// Largest resident memory of the child.
    pub memory_bytes: u64,
}

/// Defaults of [`Watch`]: generous for a slow preset on a busy machine,
/// short enough that a poison file does not hold a worker for hours.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(90);
pub const DEFAULT_STALL: Duration = Duration::from_secs(120);
pub const DEFAULT_WALL_BASE: Duration = Duration::from_secs(300);
pub const DEFAULT_WALL_PER_SOURCE_SECOND: f64 = 30.0;
pub const DEFAULT_MEMORY_BYTES: u64 = 6 << 30;

impl Default for Watch {
    fn default() -> Self {
        Watch {
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            stall: DEFAULT_STALL,
            wall_base: DEFAULT_WALL_BASE,
            wall_per_source_second: DEFAULT_WALL_PER_SOURCE_SECOND,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

/// What the caller learns while the job runs. Called on the calling thread,
/// in the order the child produced things.
pub trait JobObserver {
    /// The probe accepted the source (before any planning).
    fn probed(&mut self, info: &MediaInfo) -> Result<(), String>;
    /// The ladder is planned; returns where segments and stills go.
    fn planned(&mut self, plan: &LadderPlan) -> Result<Arc<dyn SegmentSink>, String>;
    /// About four times a second while transcoding.
    fn progress(&mut self, progress: Progress);
    /// A text stream of the source as WebVTT, after the last segment. It
    /// comes from the child: check it (`cdlc_captions::parse`) before use.
    fn text_track(&mut self, track: &SourceTrack, vtt: &[u8]) -> Result<(), String>;
}

/// A job that ended well.
#[derive(Debug)]
pub struct Finished {
    pub info: MediaInfo,
    pub plan: LadderPlan,
    pub output: TranscodeOutput,
}

/// Why the watchdog ended the child.
#[derive(Debug, Clone)]
enum Verdict {
    Cancelled,
    TimedOut(Duration),
    Stalled(Duration),
    OutOfMemory(u64),
    /// The parent itself stopped: the sink failed or the child spoke nonsense.
    Parent(String),
}

/// What the watchdog reads; updated as frames arrive.
struct Watched {
    /// Wall-time limit, from the start of the child.
    budget: Duration,
    /// Highest progress seen and when it was reached (or the job started).
    best_percent: f64,
    last_advance: Instant,
    transcoding: bool,
    verdict: Option<Verdict>,
    /// The child was reaped or is about to be: never signal its pid again.
    finished: bool,
}

/// Runs `request` in a child process started by `command`, under `watch`,
/// until it ends; `cancel` ends it at once (within the watchdog's 100 ms).
pub fn run_isolated(
    command: &ChildCommand,
    request: &JobRequest,
    watch: &Watch,
    cancel: &AtomicBool,
    observer: &mut dyn JobObserver,
) -> Result<Finished, JobError> {
    let mut child = command.spawn()?;
    let pid = child.id();
    debug!(pid, "transcode child started");
    let started = Instant::now();
    let watched = Mutex::new(Watched {
        budget: watch.probe_timeout,
        best_percent: -1.0,
        last_advance: started,
        transcoding: false,
        verdict: None,
        finished: false,
    });
    let stderr_tail = Mutex::new(VecDeque::new());

    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let outcome = std::thread::scope(|scope| {
        if let Some(stderr) = stderr {
            scope.spawn(|| relay_stderr(stderr, &stderr_tail));
        }
        scope.spawn(|| watchdog(pid, started, watch, cancel, &watched));
        let outcome = match (stdin, stdout) {
            (Some(stdin), Some(stdout)) => {
                converse(request, stdin, stdout, watch, started, &watched, observer)
            }
            _ => Conversation::Broken("the child's pipes are missing".into()),
        };
        if let Conversation::Broken(reason) = &outcome {
            stop(pid, &watched, Verdict::Parent(reason.clone()));
        }
        let status = reap(&mut child, &watched);
        (outcome, status)
    });
    let (outcome, status) = outcome;
    let verdict = watched.into_inner().unwrap_or_else(|e| e.into_inner()).verdict;
    let tail: Vec<String> = stderr_tail.into_inner().unwrap_or_else(|e| e.into_inner()).into();
    conclude(outcome, status, verdict, &tail)
}

/// How the exchange of frames ended.
enum Conversation {
    Done(Box<Finished>),
    Failed(JobError),
    /// The child's output ended without a last word: it died.
    Ended,
    /// The parent gave up on the child.
    Broken(String),
}

fn converse(
    request: &JobRequest,
    mut stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
    watch: &Watch,
    started: Instant,
    watched: &Mutex<Watched>,
    observer: &mut dyn JobObserver,
) -> Conversation {
    if let Err(error) = write_frame(&mut stdin, request, &[]).and_then(|()| stdin.flush()) {
        return Conversation::Broken(format!("cannot send the job: {error}"));
    }
    drop(stdin);
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let (mut info, mut plan, mut sink) = (None, None, None::<Arc<dyn SegmentSink>>);
    loop {
        let (message, payload) = match read_frame::<ChildMessage>(&mut reader) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Conversation::Ended,
            // A frame cut short is a child that died mid-write.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Conversation::Ended,
            Err(e) => return Conversation::Broken(format!("an unreadable frame: {e}")),
        };
        let needs_sink = || Conversation::Broken("a segment arrived before the plan".into());
        let stored = |result: io::Result<()>| {
            result.map_err(|e| Conversation::Failed(JobError::Output(e.to_string())))
        };
        match message {
            ChildMessage::Probed { info: probed } => {
                if let Err(error) = observer.probed(&probed) {
                    return Conversation::Failed(JobError::Output(error));
                }
                let budget = started.elapsed()
                    + watch.wall_base
                    + probed.duration.mul_f64(watch.wall_per_source_second.max(0.0));
                lock(watched).budget = budget;
                info = Some(probed);
            }
            ChildMessage::Planned { plan: planned } => {
                match observer.planned(&planned) {
                    Ok(s) => sink = Some(s),
                    Err(error) => return Conversation::Failed(JobError::Output(error)),
                }
                let mut w = lock(watched);
                w.transcoding = true;
                w.last_advance = Instant::now();
                plan = Some(planned);
            }
            ChildMessage::Init { rendition } => {
                let Some(sink) = &sink else { return needs_sink() };
                if let Err(c) = stored(sink.init_segment(&rendition, &payload)) {
                    return c;
                }
            }
            ChildMessage::Media { rendition, segment } => {
                let Some(sink) = &sink else { return needs_sink() };
                if let Err(c) = stored(sink.media_segment(&rendition, &segment, &payload)) {
                    return c;
                }
                advanced(watched, None);
            }
            ChildMessage::Still { name } => {
                let Some(sink) = &sink else { return needs_sink() };
                if let Err(c) = stored(sink.still(&name, &payload)) {
                    return c;
                }
            }
            ChildMessage::Progress { percent, encoded } => {
                if !percent.is_finite() {
                    return Conversation::Broken("a progress that is not a number".into());
                }
                advanced(watched, Some(percent));
                observer.progress(Progress { percent, encoded, elapsed: started.elapsed() });
            }
            ChildMessage::Text { track } => {
                if let Err(error) = observer.text_track(&track, &payload) {
                    return Conversation::Failed(JobError::Output(error));
                }
                advanced(watched, None);
            }
            ChildMessage::Done { output } => {
                return match (info.take(), plan.take()) {
                    (Some(info), Some(plan)) => Conversation::Done(Box::new(Finished { info, plan, output })),
                    _ => Conversation::Broken("the job ended before it was planned".into()),
                };
            }
            ChildMessage::Failed { stage, message, retryable } => {
                return Conversation::Failed(JobError::Failed { stage, message, retryable });
            }
        }
    }
}

fn lock(watched: &Mutex<Watched>) -> std::sync::MutexGuard<'_, Watched> {
    watched.lock().unwrap_or_else(|e| e.into_inner())
}

/// Progress counts only when it goes beyond what was reached before, so
/// timestamps that jump back and forth cannot keep a looping job alive. A
/// new segment counts too.
fn advanced(watched: &Mutex<Watched>, percent: Option<f64>) {
    let mut w = lock(watched);
    match percent {
        Some(p) if p > w.best_percent => {
            w.best_percent = p;
            w.last_advance = Instant::now();
        }
        Some(_) => {}
        None => w.last_advance = Instant::now(),
    }
}

fn watchdog(pid: u32, started: Instant, watch: &Watch, cancel: &AtomicBool, watched: &Mutex<Watched>) {
    loop {
        std::thread::sleep(WATCH_EVERY);
        let verdict = {
            let w = lock(watched);
            if w.finished || w.verdict.is_some() {
                return;
            }
            if cancel.load(Ordering::SeqCst) {
                Some(Verdict::Cancelled)
            } else if started.elapsed() > w.budget {
                Some(Verdict::TimedOut(w.budget))
            } else if w.transcoding && w.last_advance.elapsed() > watch.stall {
                Some(Verdict::Stalled(watch.stall))
            } else {
                resident_bytes(pid).filter(|used| *used > watch.memory_bytes).map(Verdict::OutOfMemory)
            }
        };
        if let Some(verdict) = verdict {
            warn!(pid, ?verdict, "stopping the transcode child");
            stop(pid, watched, verdict);
            return;
        }
    }
}

/// Records why the child is stopped and kills it, unless it was reaped.
fn stop(pid: u32, watched: &Mutex<Watched>, verdict: Verdict) {
    let mut w = lock(watched);
    if w.finished {
        return;
    }
    w.verdict.get_or_insert(verdict);
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

fn reap(child: &mut Child, watched: &Mutex<Watched>) -> io::Result<ExitStatus> {
    let status = child.wait();
    lock(watched).finished = true;
    status
}

/// The child's resident set size, from `/proc`.
fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as u64)
}

/// Copies the child's log lines to ours and keeps the last ones.
fn relay_stderr(stderr: std::process::ChildStderr, tail: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        line.truncate(STDERR_LINE_BYTES);
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        eprintln!("{text}");
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_LINES_KEPT {
            tail.pop_front();
        }
        tail.push_back(text);
    }
}

fn conclude(
    outcome: Conversation,
    status: io::Result<ExitStatus>,
    verdict: Option<Verdict>,
    stderr_tail: &[String],
) -> Result<Finished, JobError> {
    match verdict {
        Some(Verdict::Cancelled) => return Err(JobError::Cancelled),
        Some(Verdict::TimedOut(budget)) => return Err(JobError::TimedOut(budget)),
        Some(Verdict::Stalled(stall)) => return Err(JobError::Stalled(stall)),
        Some(Verdict::OutOfMemory(used)) => return Err(JobError::OutOfMemory(used)),
        Some(Verdict::Parent(reason)) => {
            if let Conversation::Failed(error) = outcome {
                return Err(error);
            }
            return Err(JobError::Protocol(reason));
        }
        None => {}
    }
    match outcome {
        Conversation::Done(finished) => return Ok(*finished),
        Conversation::Failed(error) => return Err(error),
        Conversation::Broken(reason) => return Err(JobError::Protocol(reason)),
        Conversation::Ended => {}
    }
    let status =
        status.map_err(|e| JobError::Crashed { how: format!("cannot be waited for: {e}"), detail: None })?;
    let detail = crash_detail(stderr_tail);
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) if signal == Signal::XCPU.as_raw() => Err(JobError::CpuExhausted),
        Some(signal) => Err(JobError::Crashed { how: signal_name(signal), detail }),
        None => Err(JobError::Crashed {
            how: format!("it exited with code {} before finishing", status.code().unwrap_or(-1)),
            detail,
        }),
    }
}

/// The most telling line a dying child printed: its panic message if it
/// panicked, else the last line.
fn crash_detail(tail: &[String]) -> Option<String> {
    let panic = tail.iter().position(|l| l.contains("panicked at"));
    let line = match panic {
        // Rust prints "thread 'x' panicked at file:line:col:" then the message.
        Some(i) => tail.get(i + 1).filter(|l| !l.trim().is_empty()).unwrap_or(&tail[i]),
        None => tail.iter().rev().find(|l| !l.trim().is_empty())?,
    };
    let line = line.trim();
    Some(line.chars().take(300).collect())
}

fn signal_name(signal: i32) -> String {
    let name = match Signal::from_named_raw(signal) {
        Some(Signal::SEGV) => "a segmentation fault (SIGSEGV)",
        Some(Signal::ABORT) => "an abort (SIGABRT)",
        Some(Signal::BUS) => "a bus error (SIGBUS)",
        Some(Signal::ILL) => "an illegal instruction (SIGILL)",
        Some(Signal::FPE) => "an arithmetic fault (SIGFPE)",
        Some(Signal::KILL) => "killed (SIGKILL), perhaps by the system for lack of memory",
        Some(Signal::TERM) => "terminated (SIGTERM)",
        _ => return format!("killed by signal {signal}"),
    };
    name.to_owned()
}
