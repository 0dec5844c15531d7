//! Thumbnails of uploaded images in a child process of their own, like
//! transcodes: `cdlc thumbnail-job` reads one frame on stdin (a
//! [`ThumbnailRequest`] and the image as its payload) and answers one
//! ([`ThumbnailAnswer`], the JPEG as its payload). The child caps its memory
//! and CPU time and dies with its parent; the parent kills it after
//! [`THUMBNAIL_TIMEOUT`]. A crafted PNG can then end only that child.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, Signal};
use serde::{Deserialize, Serialize};

use crate::wire::{read_frame, write_frame};
use crate::{ChildCommand, JobError, Stage};

/// Longest a thumbnail may take, the child's start included.
pub const THUMBNAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// The child's data segment: a 10 000 x 10 000 picture decodes in well under this.
pub const THUMBNAIL_MEMORY_BYTES: u64 = 1 << 30;
/// The child's CPU seconds (a backstop under the parent's timeout).
const THUMBNAIL_CPU_SECONDS: u64 = 20;

/// What the parent asks.
#[derive(Debug, Serialize, Deserialize)]
pub struct ThumbnailRequest {
    pub width: u32,
}

/// What the child answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThumbnailAnswer {
    /// The payload is the JPEG.
    Done,
    Failed {
        message: String,
    },
}

impl ChildCommand {
    /// The running executable with `thumbnail-job`.
    pub fn thumbnail_job() -> io::Result<ChildCommand> {
        Ok(ChildCommand { program: std::env::current_exe()?, args: vec!["thumbnail-job".into()] })
    }
}

/// Makes a JPEG `width` pixels wide of a JPEG or PNG `image` in a child
/// process started with `command` (normally [`ChildCommand::thumbnail_job`]).
/// Blocking: call it from a blocking thread.
pub fn thumbnail_isolated(command: &ChildCommand, image: &[u8], width: u32) -> Result<Vec<u8>, JobError> {
    let mut child = command.spawn()?;
    let (mut stdin, mut stdout, stderr) = match (child.stdin.take(), child.stdout.take(), child.stderr.take())
    {
        (Some(stdin), Some(stdout), Some(stderr)) => (stdin, stdout, stderr),
        _ => return Err(JobError::Protocol("the child's pipes are missing".into())),
    };
    let (answered, answer) = mpsc::channel();
    std::thread::scope(|scope| {
        // The image goes in while the answer comes out: neither pipe may fill up and stall the other.
        scope.spawn(move || {
            let _ = write_frame(&mut stdin, &ThumbnailRequest { width }, image).and_then(|()| stdin.flush());
        });
        scope.spawn(move || {
            let _ = answered.send(read_frame::<ThumbnailAnswer>(&mut stdout));
        });
        let stderr_text = scope.spawn(move || io::read_to_string(stderr).unwrap_or_default());
        let outcome = answer.recv_timeout(THUMBNAIL_TIMEOUT);
        if outcome.is_err() {
            let _ = child.kill();
        }
        let status = child.wait();
        let stderr_text = stderr_text.join().unwrap_or_default();
        match outcome {
            Err(_) => Err(JobError::TimedOut(THUMBNAIL_TIMEOUT)),
            Ok(Ok(Some((ThumbnailAnswer::Done, jpeg)))) => Ok(jpeg),
            Ok(Ok(Some((ThumbnailAnswer::Failed { message }, _)))) => {
                Err(JobError::Failed { stage: Stage::Transcode, message, retryable: false })
            }
            Ok(Err(error)) => Err(JobError::Protocol(error.to_string())),
            Ok(Ok(None)) => {
                use std::os::unix::process::ExitStatusExt;
                let detail = stderr_text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.chars().take(300).collect());
                let how = match status.ok().and_then(|s| s.signal()) {
                    Some(signal) if signal == Signal::XCPU.as_raw() => return Err(JobError::CpuExhausted),
                    Some(signal) => format!("killed by signal {signal}"),
                    None => "it exited before answering".into(),
                };
                Err(JobError::Crashed { how, detail })
            }
        }
    })
}

/// The child: `cdlc thumbnail-job`.
pub fn run_thumbnail_child() -> ExitCode {
    cdlc_transcoder::leave_crashes_to_the_parent();
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    let mut channel = match crate::child::take_stdout() {
        Ok(channel) => channel,
        Err(error) => {
            eprintln!("thumbnail-job: cannot set up the output channel: {error}");
            return ExitCode::from(3);
        }
    };
    for (resource, value) in
        [(Resource::Data, THUMBNAIL_MEMORY_BYTES), (Resource::Cpu, THUMBNAIL_CPU_SECONDS)]
    {
        let value = Some(value);
        if let Err(error) = rustix::process::setrlimit(resource, Rlimit { current: value, maximum: value }) {
            eprintln!("thumbnail-job: cannot set the limit {resource:?}: {error}");
        }
    }
    let (request, image) = match read_frame::<ThumbnailRequest>(&mut io::stdin().lock()) {
        Ok(Some(frame)) => frame,
        Ok(None) => {
            eprintln!("thumbnail-job: no request on stdin");
            return ExitCode::from(3);
        }
        Err(error) => {
            eprintln!("thumbnail-job: cannot read the request: {error}");
            return ExitCode::from(3);
        }
    };
    let sent = match cdlc_transcoder::thumbnail::thumbnail_jpeg(&image, request.width, THUMBNAIL_TIMEOUT) {
        Ok(jpeg) => write_frame(&mut channel, &ThumbnailAnswer::Done, &jpeg),
        Err(error) => write_frame(&mut channel, &ThumbnailAnswer::Failed { message: error.to_string() }, &[]),
    };
    match sent.and_then(|()| channel.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(4),
    }
}
