//! A DASH MPD (ISO/IEC 23009-1, live profile with `SegmentTimeline`) over
//! the same CMAF segments as the HLS playlists.

use std::fmt::Write;
use std::time::Duration;

use cdlc_transcoder::{layout, RenditionKind, RenditionOutput, TranscodeOutput};

use crate::seconds;

/// Ticks per second of video `SegmentTimeline`s.
pub const VIDEO_TIMESCALE: u64 = 90_000;

/// How the presentation is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// Every segment is known: `type="static"` with its total duration.
    Static,
}

/// The MPD of `output`: one video adaptation set with a representation per
/// rung, and one audio adaptation set when there is audio.
pub fn manifest(output: &TranscodeOutput, timing: &Timing) -> String {
    let duration = output.video().map(|r| r.duration()).max().unwrap_or_default();
    let max_segment = output
        .renditions
        .iter()
        .flat_map(|r| r.segments.iter().map(|s| s.duration))
        .max()
        .unwrap_or(Duration::from_secs(2));
    let Timing::Static = timing;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019\" type=\"static\" mediaPresentationDuration=\"PT{}S\" minBufferTime=\"PT{}S\">",
        seconds(duration),
        seconds(max_segment * 2)
    );
    out.push_str("  <Period id=\"0\" start=\"PT0S\">\n");

    let videos: Vec<&RenditionOutput> = output.video().collect();
    if !videos.is_empty() {
        let (max_width, max_height) = videos
            .iter()
            .filter_map(|r| match r.kind {
                RenditionKind::Video { width, height, .. } => Some((width, height)),
                RenditionKind::Audio { .. } => None,
            })
            .fold((0, 0), |(w, h), (rw, rh)| (w.max(rw), h.max(rh)));
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"{max_width}\" maxHeight=\"{max_height}\">"
        );
        for video in videos {
            let RenditionKind::Video { width, height, frame_rate, bitrate_kbps } = video.kind else {
                continue;
            };
            let bandwidth =
                if video.segments.is_empty() { bitrate_kbps as u64 * 1000 } else { video.peak_bitrate() };
            let _ = writeln!(
                out,
                "      <Representation id=\"{}\" bandwidth=\"{bandwidth}\" codecs=\"{}\" width=\"{width}\" height=\"{height}\" frameRate=\"{}/{}\" sar=\"1:1\">",
                video.name, video.codec, frame_rate.0, frame_rate.1
            );
            segment_template(&mut out, video, VIDEO_TIMESCALE);
            out.push_str("      </Representation>\n");
        }
        out.push_str("    </AdaptationSet>\n");
    }

    if let Some(audio) = output.audio() {
        if let RenditionKind::Audio { channels, sample_rate, bitrate } = audio.kind {
            let bandwidth = if audio.segments.is_empty() { bitrate as u64 } else { audio.peak_bitrate() };
            out.push_str("    <AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">\n");
            let _ = writeln!(
                out,
                "      <Representation id=\"{}\" bandwidth=\"{bandwidth}\" codecs=\"{}\" audioSamplingRate=\"{sample_rate}\">",
                audio.name, audio.codec
            );
            let _ = writeln!(
                out,
                "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{channels}\"/>"
            );
            segment_template(&mut out, audio, sample_rate as u64);
            out.push_str("      </Representation>\n");
        }
        out.push_str("    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n</MPD>\n");
    out
}

/// `SegmentTemplate` with a `SegmentTimeline`, runs of equal durations
/// folded into `r`. Tick positions are rounded from the exact times so
/// rounding never accumulates.
fn segment_template(out: &mut String, rendition: &RenditionOutput, timescale: u64) {
    let ticks = |d: Duration| (d.as_nanos() * timescale as u128 / 1_000_000_000) as u64;
    let first_number = rendition.segments.first().map(|s| s.number).unwrap_or(1);
    let _ = writeln!(
        out,
        "        <SegmentTemplate timescale=\"{timescale}\" initialization=\"{}\" media=\"{}/$Number%05d$.m4s\" startNumber=\"{first_number}\">",
        layout::init_segment(&rendition.name),
        rendition.name
    );
    out.push_str("          <SegmentTimeline>\n");
    let mut runs: Vec<(u64, u64, u32)> = Vec::new(); // (t, d, repeats)
    for segment in &rendition.segments {
        let start = ticks(segment.start);
        let d = ticks(segment.start + segment.duration) - start;
        match runs.last_mut() {
            Some((t, last_d, r)) if *last_d == d && *t + *last_d * (*r as u64 + 1) == start => *r += 1,
            _ => runs.push((start, d, 0)),
        }
    }
    let mut expected_next = None;
    for (t, d, r) in runs {
        let _ = write!(out, "            <S");
        if expected_next != Some(t) {
            let _ = write!(out, " t=\"{t}\"");
        }
        let _ = write!(out, " d=\"{d}\"");
        if r > 0 {
            let _ = write!(out, " r=\"{r}\"");
        }
        out.push_str("/>\n");
        expected_next = Some(t + d * (r as u64 + 1));
    }
    out.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
}
