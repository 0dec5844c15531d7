//! The text tracks inside a source (SRT, SSA/ASS and mov_text in MKV and
//! MP4) as cues, in one demux-only pass beside the transcode, and the WebVTT
//! tracks of Matroska files, which parsebin does not see, read by
//! `cdlc_ingest::matroska` after it:
//!
//! ```text
//! filesrc ! parsebin ─ text pad ─ queue ! [ssaparse !] appsink   (each text stream)
//!                   └─ any other pad ─ fakesink
//! ```
//!
//! Nothing is decoded: parsebin only demuxes and parses, so the pass costs
//! a read of the file. Cue times are on the transcode's media clock, which
//! starts at the first video frame: a cue's timestamp minus that frame's
//! (ffmpeg's MKV files start the video at 23 ms, and their cues with it).
//! Pango markup (what matroskademux and ssaparse give) becomes plain text.
//! Every track is bounded like an uploaded sidecar (cues, bytes per cue,
//! 24 hours); a track with no cue is left out.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdlc_captions::{Cue, MAX_CUES, MAX_CUE_BYTES, MAX_FILE_BYTES, MAX_TIME_MS};
use gst::prelude::*;

use crate::pipeline::{build_error, make};
use crate::TranscodeError;

/// The most text streams taken from one source.
pub const MAX_SOURCE_TRACKS: usize = 16;

/// How long a cue without a duration stays up.
const DEFAULT_CUE_MS: u64 = 3000;

/// One text stream of the source, as cues sorted by start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    /// The stream's GStreamer stream id (what the probe's `SubtitleInfo` has).
    pub stream_id: String,
    /// Its place among the source's text streams, from 0.
    pub order: usize,
    /// Its language and title tags, as the stream's tag events gave them
    /// (the probe can finish before a sparse stream sends its tags).
    pub language: Option<String>,
    pub title: Option<String>,
    pub cues: Vec<Cue>,
}

type LanguageAndTitle = (Option<String>, Option<String>);

/// What the pads of one pass share.
#[derive(Default)]
struct Found {
    /// Each text stream's cues and the bytes of their text so far.
    tracks: Mutex<HashMap<String, (Vec<Cue>, usize)>>,
    /// Stream ids of the text pads, in the order they appeared.
    order: Mutex<Vec<String>>,
    /// Language and title tags of each text stream.
    tags: Mutex<HashMap<String, LanguageAndTitle>>,
    /// Whether a video pad was seen, and its first timestamp.
    video: Mutex<(bool, Option<gst::ClockTime>)>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cues of each text stream of `source`, in the order its pads
/// appeared; gives up after `timeout`.
pub fn extract_text(source: &Path, timeout: Duration) -> Result<Vec<SourceText>, TranscodeError> {
    crate::init()?;
    let pipeline = gst::Pipeline::new();
    let src = make("filesrc")?;
    src.set_property("location", source.to_string_lossy().as_ref());
    let parse = make("parsebin")?;
    pipeline.add_many([&src, &parse]).map_err(build_error)?;
    src.link(&parse).map_err(build_error)?;

    let found: Arc<Found> = Arc::default();
    let weak = pipeline.downgrade();
    let pads = found.clone();
    parse.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        if let Err(error) = branch(&pipeline, pad, &pads) {
            tracing::warn!(%error, "a stream of the source is not read for text");
        }
    });

    let outcome = run(&pipeline, timeout);
    let _ = pipeline.set_state(gst::State::Null);
    outcome?;
    let start_ms = lock(&found.video).1.map_or(0, |t| t.mseconds());
    let mut tracks = std::mem::take(&mut *lock(&found.tracks));
    let order = std::mem::take(&mut *lock(&found.order));
    let mut tags = std::mem::take(&mut *lock(&found.tags));
    let mut texts: Vec<SourceText> = order
        .into_iter()
        .enumerate()
        .filter_map(|(order, stream_id)| {
            let mut cues: Vec<Cue> = tracks
                .remove(&stream_id)?
                .0
                .into_iter()
                .filter(|c| c.end_ms > start_ms)
                .map(|c| Cue {
                    start_ms: c.start_ms.saturating_sub(start_ms),
                    end_ms: c.end_ms - start_ms,
                    ..c
                })
                .collect();
            cues.sort_by_key(|c| (c.start_ms, c.end_ms));
            let (language, title) = tags.remove(&stream_id).unwrap_or_default();
            (!cues.is_empty()).then_some(SourceText { stream_id, order, language, title, cues })
        })
        .collect();
    let first = texts.len();
    texts.extend(matroska_webvtt(source, start_ms, first));
    Ok(texts)
}

/// The WebVTT tracks of a Matroska source, which parsebin does not expose
/// (`cdlc_ingest::matroska` reads them), on the same media clock and within
/// the same bounds as the others; `video_start_ms`: the first video frame as
/// parsebin saw it, if the file's own blocks do not say.
fn matroska_webvtt(source: &Path, video_start_ms: u64, first_order: usize) -> Vec<SourceText> {
    let read = match cdlc_ingest::matroska::webvtt_cues(source) {
        Ok(read) => read,
        Err(error) => {
            tracing::warn!(%error, "the source's WebVTT tracks cannot be read");
            return Vec::new();
        }
    };
    let start_ms = read.first_video_ns.map_or(video_start_ms, |ns| ns / 1_000_000);
    let room = MAX_SOURCE_TRACKS.saturating_sub(first_order);
    read.tracks
        .into_iter()
        .take(room)
        .enumerate()
        .filter_map(|(index, (track, blocks))| {
            let mut bytes = 0;
            let mut cues: Vec<Cue> = Vec::new();
            for block in blocks {
                let text = plain_text(&block.text, true);
                let start = block.start_ns / 1_000_000;
                let end = start
                    + block.duration_ns.map(|d| d / 1_000_000).filter(|d| *d > 0).unwrap_or(DEFAULT_CUE_MS);
                if text.is_empty() || end <= start_ms || end > MAX_TIME_MS {
                    continue;
                }
                bytes += text.len();
                if cues.len() >= MAX_CUES || bytes > MAX_FILE_BYTES {
                    break;
                }
                let (start_ms, end_ms) = (start.saturating_sub(start_ms), end - start_ms);
                cues.push(Cue { start_ms, end_ms, settings: String::new(), text });
            }
            cues.sort_by_key(|c| (c.start_ms, c.end_ms));
            // The probe listed the track with its tags (its language as ISO 639-1).
            (!cues.is_empty()).then(|| SourceText {
                stream_id: track.stream_id(),
                order: first_order + index,
                language: None,
                title: None,
                cues,
            })
        })
        .collect()
}

/// What a pad of parsebin carries, if it is text: whether it needs ssaparse.
fn text_kind(caps: &gst::CapsRef) -> Option<bool> {
    match caps.structure(0)?.name().as_str() {
        "text/x-raw" => Some(false),
        "application/x-ssa" | "application/x-ass" => Some(true),
        _ => None,
    }
}

/// Links `pad` to a text appsink, or to a fakesink when it is not text (or
/// past the track bound), so that every stream flows and the pass ends.
fn branch(pipeline: &gst::Pipeline, pad: &gst::Pad, found: &Arc<Found>) -> Result<(), TranscodeError> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let stream_id = pad.stream_id().map(|s| s.to_string()).unwrap_or_else(|| pad.name().to_string());
    if caps.structure(0).is_some_and(|s| s.name().starts_with("video/")) {
        watch_first_video(pad, found);
    }
    let text = text_kind(&caps).filter(|_| {
        let mut order = lock(&found.order);
        let room = order.len() < MAX_SOURCE_TRACKS;
        if room {
            order.push(stream_id.clone());
        }
        room
    });
    let mut chain: Vec<gst::Element> = Vec::new();
    match text {
        None => {
            let sink = make("fakesink")?;
            sink.set_property("sync", false);
            sink.set_property("async", false);
            chain.push(sink);
        }
        Some(needs_ssaparse) => {
            watch_tags(pad, found, &stream_id);
            chain.push(make("queue")?);
            if needs_ssaparse {
                chain.push(make("ssaparse")?);
            }
            let sink = gst_app::AppSink::builder().sync(false).async_(false).build();
            let (found, id) = (found.clone(), stream_id);
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let mut all = lock(&found.tracks);
                        let (cues, bytes) = all.entry(id.clone()).or_default();
                        // A sidecar's bounds: past them the rest of the stream is dropped.
                        if cues.len() < MAX_CUES && *bytes < MAX_FILE_BYTES {
                            if let Some(cue) = cue_of(&sample) {
                                *bytes += cue.text.len() + 32;
                                cues.push(cue);
                            }
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            chain.push(sink.upcast());
        }
    }
    pipeline.add_many(&chain).map_err(build_error)?;
    gst::Element::link_many(&chain).map_err(build_error)?;
    for element in &chain {
        element.sync_state_with_parent().map_err(build_error)?;
    }
    let first = chain[0].static_pad("sink").ok_or_else(|| TranscodeError::Build("no sink pad".into()))?;
    pad.link(&first).map_err(build_error)?;
    Ok(())
}

/// Keeps the language and title a text stream's tag events carry.
fn watch_tags(pad: &gst::Pad, found: &Arc<Found>, stream_id: &str) {
    let (found, id) = (found.clone(), stream_id.to_owned());
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::EventView::Tag(tag)) = info.event().map(|e| e.view()) {
            let list = tag.tag();
            let mut tags = lock(&found.tags);
            let entry = tags.entry(id.clone()).or_default();
            if let Some(language) = list.get::<gst::tags::LanguageCode>() {
                entry.0 = Some(language.get().to_owned());
            }
            if let Some(title) = list.get::<gst::tags::Title>() {
                entry.1 = Some(title.get().to_owned());
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Records the first timestamp of the first video pad: where the
/// transcode's media clock starts.
fn watch_first_video(pad: &gst::Pad, found: &Arc<Found>) {
    {
        let mut video = lock(&found.video);
        if video.0 {
            return;
        }
        video.0 = true;
    }
    let found = found.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else { return gst::PadProbeReturn::Ok };
        lock(&found.video).1.get_or_insert(pts);
        gst::PadProbeReturn::Remove
    });
}

/// One buffer of a text stream as a cue, at the file's timestamps; none
/// for an empty buffer (mov_text marks gaps with them) or one past 24 h.
fn cue_of(sample: &gst::Sample) -> Option<Cue> {
    let buffer = sample.buffer()?;
    let start = buffer.pts()?;
    let map = buffer.map_readable().ok()?;
    let markup = sample
        .caps()
        .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("format").ok()))
        .is_some_and(|f| f == "pango-markup");
    let raw = String::from_utf8_lossy(map.as_slice());
    let text = plain_text(&raw, markup);
    if text.is_empty() {
        return None;
    }
    let start_ms = start.mseconds();
    let end_ms =
        start_ms + buffer.duration().map(|d| d.mseconds()).filter(|d| *d > 0).unwrap_or(DEFAULT_CUE_MS);
    (end_ms <= MAX_TIME_MS).then(|| Cue { start_ms, end_ms, settings: String::new(), text })
}

/// A text sample as WebVTT cue text: markup and ASS override blocks
/// removed, `-->` and blank lines (which would end the cue) taken out,
/// `&`, `<` and `>` written as WebVTT's entities, at most [`MAX_CUE_BYTES`].
pub(crate) fn plain_text(raw: &str, markup: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' if markup => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            '{' if raw.contains("{\\") => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
            }
            '\\' if matches!(chars.peek(), Some('N' | 'n')) => {
                chars.next();
                out.push('\n');
            }
            _ => out.push(c),
        }
    }
    if markup {
        out = out
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
    }
    // WebVTT cue text: no blank line, no "-->", & < > as entities.
    let lines: Vec<&str> =
        out.lines().map(|l| l.trim_end_matches('\r').trim()).filter(|l| !l.is_empty()).collect();
    let mut text =
        lines.join("\n").replace("-->", "->").replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    if text.len() > MAX_CUE_BYTES {
        let mut end = MAX_CUE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn run(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), TranscodeError> {
    let decode_error = |detail: String| TranscodeError::Decode { detail };
    pipeline.set_state(gst::State::Playing).map_err(|e| decode_error(e.to_string()))?;
    let bus = pipeline.bus().ok_or_else(|| TranscodeError::Build("the pipeline has no bus".into()))?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(TranscodeError::Stalled(timeout));
        }
        let wait = gst::ClockTime::from_nseconds(left.as_nanos() as u64);
        let Some(message) = bus.timed_pop_filtered(wait, &[gst::MessageType::Eos, gst::MessageType::Error])
        else {
            return Err(TranscodeError::Stalled(timeout));
        };
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(error) => return Err(decode_error(error.error().to_string())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_ass_overrides_become_plain_lines() {
        assert_eq!(plain_text("<i>Hello</i> &amp; <b>bye</b>", true), "Hello &amp; bye");
        assert_eq!(plain_text("{\\an8}Top\\Nline", false), "Top\nline");
        assert_eq!(plain_text("a\n\n b --> c\r\n", false), "a\nb -&gt; c");
        assert_eq!(plain_text("2 < 3", false), "2 &lt; 3");
        assert!(plain_text(&"é".repeat(5000), false).len() <= MAX_CUE_BYTES);
    }
}
