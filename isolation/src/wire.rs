//! What parent and child say to each other over the child's stdin and stdout.
//!
//! One frame is a little-endian `u32` length, a JSON header of that length,
//! a `u32` length and that many payload bytes (segments and stills; empty
//! otherwise). Both lengths are bounded, so a child gone wrong can neither
//! make the parent allocate without limit nor desynchronise it silently.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use cdlc_ingest::MediaInfo;
use cdlc_transcoder::{LadderPlan, RungSpec, Segment, TranscodeOutput};
use serde::{Deserialize, Serialize};

/// Largest JSON header accepted (a `Done` with thousands of segments fits).
pub const MAX_HEADER_BYTES: u32 = 16 << 20;
/// Largest payload accepted: one segment or still.
pub const MAX_PAYLOAD_BYTES: u32 = 512 << 20;

/// What the parent asks the child to do: probe, plan and transcode one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRequest {
    pub source: PathBuf,
    /// Largest source accepted by the probe, in bytes.
    pub max_source_bytes: u64,
    pub segment_duration: Duration,
    /// Length of the first segment; zero: as long as the others.
    #[serde(default)]
    pub first_segment: Duration,
    /// The rungs asked for; the default ladder when `None`.
    pub rungs: Option<Vec<RungSpec>>,
    /// AAC bitrate in bit/s.
    pub audio_bitrate: u32,
    /// A 5.1 rendition beside the stereo one of each surround track.
    #[serde(default)]
    pub keep_surround: bool,
    pub x264_preset: String,
    /// Encoder threads shared by all rungs.
    pub threads: u32,
    /// The pipeline's own stall timer.
    pub stall_timeout: Duration,
    /// Memory the child may map (its data segment), set as an rlimit by the child.
    pub memory_bytes: u64,
    /// CPU seconds the child may use per second of source, plus [`JobRequest::cpu_base`].
    pub cpu_per_source_second: f64,
    pub cpu_base: Duration,
}

impl JobRequest {
    /// A request for `source` with the transcoder's defaults, and CPU and
    /// memory limits that follow `watch`: the data segment may be twice the
    /// resident budget (mapped is not touched), and the CPU budget is the
    /// wall budget on every core, a backstop should the parent's watchdog
    /// itself be gone.
    pub fn new(source: PathBuf, watch: &crate::Watch) -> JobRequest {
        let ladder = cdlc_transcoder::LadderOptions::default();
        let encoder = cdlc_transcoder::EncoderOptions::default();
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        JobRequest {
            source,
            max_source_bytes: cdlc_ingest::Limits::default().max_file_size,
            segment_duration: ladder.segment_duration,
            first_segment: ladder.first_segment,
            rungs: ladder.rungs,
            audio_bitrate: ladder.audio_bitrate,
            keep_surround: ladder.keep_surround,
            x264_preset: encoder.x264_preset,
            threads: encoder.threads,
            stall_timeout: watch.stall,
            memory_bytes: watch.memory_bytes.saturating_mul(2),
            cpu_per_source_second: watch.wall_per_source_second * cores,
            cpu_base: watch.wall_base.mul_f64(cores),
        }
    }
}

/// Which step a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Probe,
    Plan,
    Transcode,
}

/// One message from the child, in the order a job produces them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChildMessage {
    /// The source was probed and accepted.
    Probed {
        info: MediaInfo,
    },
    /// The ladder the transcode will produce.
    Planned {
        plan: LadderPlan,
    },
    /// The init segment of a rendition (payload: its bytes).
    Init {
        rendition: String,
    },
    /// A media segment (payload: its bytes).
    Media {
        rendition: String,
        segment: Segment,
    },
    /// A still image, poster or storyboard (payload: its bytes).
    Still {
        name: String,
    },
    Progress {
        percent: f64,
        encoded: Duration,
    },
    /// A text stream of the source as WebVTT (payload), after the last
    /// segment and before `Done`.
    Text {
        track: SourceTrack,
    },
    /// The transcode ended well; nothing follows.
    Done {
        output: TranscodeOutput,
    },
    /// The job failed in an orderly way; nothing follows.
    Failed {
        stage: Stage,
        message: String,
        retryable: bool,
    },
}

/// Which text stream of the source a [`ChildMessage::Text`] is, with its
/// tags as the probe read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTrack {
    /// Its place among the source's text streams, from 0.
    pub index: usize,
    pub language: Option<String>,
    pub title: Option<String>,
}

impl SourceTrack {
    /// The track and its cues from the child's WebVTT, checked as an
    /// uploaded sidecar is (the child read an untrusted file).
    pub fn checked(&self, vtt: &[u8]) -> Result<(cdlc_captions::TrackInfo, Vec<cdlc_captions::Cue>), String> {
        if self.index >= cdlc_transcoder::subtitles::MAX_SOURCE_TRACKS {
            return Err(format!("the child sent text stream {}, past the bound", self.index));
        }
        let (_, cues) = cdlc_captions::parse(vtt).map_err(|e| format!("text stream {}: {e}", self.index))?;
        let track = cdlc_captions::TrackInfo::from_source(
            self.index,
            self.language.as_deref(),
            self.title.as_deref(),
            cues.len(),
        );
        Ok((track, cues))
    }
}

/// Writes one frame.
pub fn write_frame<T: Serialize>(out: &mut impl Write, header: &T, payload: &[u8]) -> io::Result<()> {
    let json = serde_json::to_vec(header).map_err(io::Error::other)?;
    let header_len = u32::try_from(json.len()).ok().filter(|n| *n <= MAX_HEADER_BYTES);
    let payload_len = u32::try_from(payload.len()).ok().filter(|n| *n <= MAX_PAYLOAD_BYTES);
    let (Some(header_len), Some(payload_len)) = (header_len, payload_len) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a frame is larger than the wire allows"));
    };
    out.write_all(&header_len.to_le_bytes())?;
    out.write_all(&json)?;
    out.write_all(&payload_len.to_le_bytes())?;
    out.write_all(payload)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of the stream (before a frame).
pub fn read_frame<T: for<'de> Deserialize<'de>>(input: &mut impl Read) -> io::Result<Option<(T, Vec<u8>)>> {
    let Some(header_len) = read_len(input, MAX_HEADER_BYTES, true)? else {
        return Ok(None);
    };
    let mut json = vec![0; header_len as usize];
    input.read_exact(&mut json)?;
    let header = serde_json::from_slice(&json)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("a frame's header: {e}")))?;
    let payload_len = read_len(input, MAX_PAYLOAD_BYTES, false)?.unwrap_or(0);
    let mut payload = vec![0; payload_len as usize];
    input.read_exact(&mut payload)?;
    Ok(Some((header, payload)))
}

fn read_len(input: &mut impl Read, max: u32, eof_ok: bool) -> io::Result<Option<u32>> {
    let mut bytes = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match input.read(&mut bytes[filled..]) {
            Ok(0) if filled == 0 && eof_ok => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame"))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(bytes);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame announces {len} bytes, above {max}"),
        ));
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        let message = ChildMessage::Still { name: "poster.jpg".into() };
        write_frame(&mut wire, &message, b"jpeg bytes").unwrap();
        write_frame(
            &mut wire,
            &ChildMessage::Progress { percent: 12.5, encoded: Duration::from_secs(3) },
            &[],
        )
        .unwrap();
        let mut reader = wire.as_slice();
        let (first, payload): (ChildMessage, _) = read_frame(&mut reader).unwrap().unwrap();
        assert!(matches!(first, ChildMessage::Still { name } if name == "poster.jpg"));
        assert_eq!(payload, b"jpeg bytes");
        let (second, payload): (ChildMessage, _) = read_frame(&mut reader).unwrap().unwrap();
        assert!(matches!(second, ChildMessage::Progress { percent, .. } if percent == 12.5));
        assert!(payload.is_empty());
        assert!(read_frame::<ChildMessage>(&mut reader).unwrap().is_none());
    }

    #[test]
    fn a_cut_or_oversized_frame_is_an_error_not_an_allocation() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &ChildMessage::Init { rendition: "720p".into() }, &[1, 2, 3]).unwrap();
        let cut = &wire[..wire.len() - 1];
        let error = read_frame::<ChildMessage>(&mut &cut[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);

        let huge = (MAX_HEADER_BYTES + 1).to_le_bytes();
        let error = read_frame::<ChildMessage>(&mut &huge[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);

        let mut garbage = 5u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(b"nope!");
        garbage.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            read_frame::<ChildMessage>(&mut garbage.as_slice()).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
