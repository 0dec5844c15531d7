//! A DASH MPD (ISO/IEC 23009-1, live profile with `SegmentTimeline`) over
//! the same CMAF segments as the HLS playlists.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cdlc_captions::{Kind, TrackInfo};
use cdlc_transcoder::{layout, RenditionKind, RenditionOutput, TranscodeOutput};

use crate::{seconds, text};

/// Ticks per second of video `SegmentTimeline`s.
pub const VIDEO_TIMESCALE: u64 = 90_000;

/// How the presentation is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// Every segment is known: `type="static"` with its total duration.
    Static,
    /// Transcoding still runs: `type="dynamic"`, every listed segment
    /// available, reloaded every `update_period` until it turns static.
    Dynamic {
        /// When the presentation's time 0 became available; fixed for the
        /// life of the presentation.
        availability_start: SystemTime,
        /// When this version of the MPD was written.
        publish_time: SystemTime,
        update_period: Duration,
    },
}

/// `xs:dateTime` in UTC with millisecond precision.
pub fn xs_datetime(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The MPD of `output`: one video adaptation set with a representation per
/// rung, one audio adaptation set when there is audio, and a text
/// adaptation set per text track (its whole WebVTT file).
pub fn manifest(output: &TranscodeOutput, timing: &Timing, texts: &[TrackInfo]) -> String {
    let duration = output.video().map(|r| r.duration()).max().unwrap_or_default();
    let max_segment = output
        .renditions
        .iter()
        .flat_map(|r| r.segments.iter().map(|s| s.duration))
        .max()
        .unwrap_or(Duration::from_secs(2));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019\" minBufferTime=\"PT{}S\"",
        seconds(max_segment * 2)
    );
    match timing {
        Timing::Static => {
            let _ = writeln!(out, " type=\"static\" mediaPresentationDuration=\"PT{}S\">", seconds(duration));
        }
        Timing::Dynamic { availability_start, publish_time, update_period } => {
            let _ = writeln!(
                out,
                " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"PT{}S\" suggestedPresentationDelay=\"PT{}S\">",
                xs_datetime(*availability_start),
                xs_datetime(*publish_time),
                seconds(*update_period),
                seconds(max_segment * 2)
            );
        }
    }
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

    // One adaptation set per audio track (a language, a commentary): a
    // player offers them as its audio tracks.
    let audios: Vec<&RenditionOutput> = output.audio().collect();
    let first_text_id = 1 + audios.len();
    for (index, audio) in audios.into_iter().enumerate() {
        if let RenditionKind::Audio { channels, sample_rate, bitrate, language, title } = &audio.kind {
            let (channels, sample_rate) = (*channels, *sample_rate);
            let bandwidth = if audio.segments.is_empty() { *bitrate as u64 } else { audio.peak_bitrate() };
            let language = if language.is_empty() { "und" } else { language.as_str() };
            let _ = writeln!(
                out,
                "    <AdaptationSet id=\"{}\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"{language}\" segmentAlignment=\"true\" startWithSAP=\"1\">",
                index + 1
            );
            let role = if index == 0 { "main" } else { "alternate" };
            let _ = writeln!(out, "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>");
            if let Some(title) = title {
                let _ = writeln!(out, "      <Label>{}</Label>", xml_escape(title));
            }
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
            out.push_str("    </AdaptationSet>\n");
        }
    }
    for (i, track) in texts.iter().enumerate() {
        let role = match track.kind {
            Kind::Subtitles => "subtitle",
            Kind::Captions => "caption",
            Kind::Forced => "forced-subtitle",
        };
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"{}\" contentType=\"text\" mimeType=\"text/vtt\" lang=\"{}\">\n      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>\n      <Label>{}</Label>\n      <Representation id=\"text-{}\" bandwidth=\"256\">\n        <BaseURL>{}</BaseURL>\n      </Representation>\n    </AdaptationSet>",
            first_text_id + i,
            track.language,
            track.label,
            track.id,
            text::whole_file(&track.id)
        );
    }
    out.push_str("  </Period>\n");
    if let Timing::Dynamic { publish_time, .. } = timing {
        // dash.js needs a clock for dynamic presentations.
        let _ = writeln!(
            out,
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
            xs_datetime(*publish_time)
        );
    }
    out.push_str("</MPD>\n");
    out
}

/// Where an encrypted asset's CENC segments are served, before the stored
/// names (`cenc/240p/00001.m4s`): HLS AES-128 playlists keep naming the
/// stored paths, which leave CBC-encrypted, so each encryption has its own
/// URLs (and its own cached copies at the edge).
pub const CENC_DIR: &str = "cenc/";
/// The DASH-IF system id of ClearKey in `ContentProtection`.
pub const CLEARKEY_SCHEME: &str = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";

/// The MPD `mpd` (as [`manifest`] wrote it) for CENC delivery: each video
/// and audio adaptation set gains `ContentProtection` (`cenc` with
/// `cenc:default_KID`, and ClearKey with its licence URL `license`, which a
/// player resolves against the MPD's URL as every other URL in it) and its
/// `SegmentTemplate` points under [`CENC_DIR`]. Text tracks stay as they
/// are. A pass over the stored text, so the growing MPDs of fast publish
/// are covered too.
pub fn with_cenc(mpd: &str, kid: &[u8; 16], license: &str) -> String {
    let hex: String = kid.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
    let license = xml_escape(license);
    let mut out = String::with_capacity(mpd.len() + 1024);
    let mut protected = false;
    for line in mpd.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(rest) = trimmed.strip_prefix("<MPD ") {
            let _ = writeln!(
                out,
                "{indent}<MPD xmlns:cenc=\"urn:mpeg:cenc:2013\" xmlns:dashif=\"https://dashif.org/CPS\" {rest}"
            );
            continue;
        }
        if trimmed.starts_with("<AdaptationSet") {
            protected =
                ["contentType=\"video\"", "contentType=\"audio\""].iter().any(|t| trimmed.contains(t));
            out.push_str(line);
            out.push('\n');
            if protected {
                let _ = writeln!(
                    out,
                    "{indent}  <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cenc\" cenc:default_KID=\"{uuid}\"/>\n{indent}  <ContentProtection schemeIdUri=\"{CLEARKEY_SCHEME}\" value=\"ClearKey1.0\">\n{indent}    <dashif:Laurl>{license}</dashif:Laurl>\n{indent}  </ContentProtection>"
                );
            }
            continue;
        }
        if protected && trimmed.starts_with("<SegmentTemplate") {
            let moved = line
                .replacen(" initialization=\"", &format!(" initialization=\"{CENC_DIR}"), 1)
                .replacen(" media=\"", &format!(" media=\"{CENC_DIR}"), 1);
            out.push_str(&moved);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// `text` safe inside an XML element or attribute.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
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

#[cfg(test)]
mod tests {
    use super::*;

    use cdlc_transcoder::TranscodeOutput;

    fn output() -> TranscodeOutput {
        crate::three_segments()
    }

    #[test]
    fn static_and_dynamic_manifests_parse() {
        let mpd = dash_mpd_core::parse(&manifest(&output(), &Timing::Static, &[])).expect("static MPD");
        assert_eq!(mpd.mpdtype.as_deref(), Some("static"));
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let timing = Timing::Dynamic {
            availability_start: start,
            publish_time: start + Duration::from_secs(6),
            update_period: Duration::from_secs(2),
        };
        let text = manifest(&output(), &timing, &[]);
        let mpd = dash_mpd_core::parse(&text).expect("dynamic MPD");
        assert_eq!(mpd.mpdtype.as_deref(), Some("dynamic"));
        assert!(mpd.mediaPresentationDuration.is_none(), "a growing presentation has no duration yet");
        assert!(text.contains("availabilityStartTime=\"2023-11-14T22:13:20.000Z\""), "{text}");
        assert!(text.contains("<UTCTiming"), "{text}");
        assert!(text.contains("<S t=\"0\" d=\"180000\" r=\"2\"/>"), "three 2 s segments in one run: {text}");
    }

    #[test]
    fn text_tracks_are_adaptation_sets_of_their_whole_file() {
        let tracks = [
            TrackInfo::new("en", "English", Kind::Subtitles, 3).unwrap(),
            TrackInfo::new("fr", "Français (SDH)", Kind::Captions, 3).unwrap(),
        ];
        let text = manifest(&output(), &Timing::Static, &tracks);
        let mpd = dash_mpd_core::parse(&text).expect("MPD with text");
        let sets = &mpd.periods[0].adaptations;
        let texts: Vec<_> = sets.iter().filter(|a| a.contentType.as_deref() == Some("text")).collect();
        assert_eq!(texts.len(), 2, "{text}");
        assert_eq!(texts[0].lang.as_deref(), Some("en"));
        assert_eq!(texts[0].mimeType.as_deref(), Some("text/vtt"));
        assert_eq!(texts[1].Role[0].value.as_deref(), Some("caption"));
        assert_eq!(texts[1].representations[0].BaseURL[0].base, "subs/fr-cc.vtt");
    }

    #[test]
    fn cenc_protects_video_and_audio_and_moves_their_segments() {
        let tracks = [TrackInfo::new("en", "English", Kind::Subtitles, 3).unwrap()];
        let mut output = output();
        output.renditions.push(cdlc_transcoder::RenditionOutput {
            name: "audio".into(),
            kind: RenditionKind::Audio {
                channels: 2,
                sample_rate: 48_000,
                bitrate: 128_000,
                language: "en".into(),
                title: None,
            },
            codec: "mp4a.40.2".into(),
            init_size: 600,
            segments: output.renditions[0].segments.clone(),
        });
        let kid: [u8; 16] = std::array::from_fn(|i| i as u8 * 17);
        let text = with_cenc(&manifest(&output, &Timing::Static, &tracks), &kid, "clearkey.json");
        let mpd = dash_mpd_core::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let sets = &mpd.periods[0].adaptations;
        assert_eq!(sets.len(), 3, "{text}");
        for set in sets {
            let kind = set.contentType.as_deref().unwrap_or_default();
            let template = set.representations.first().and_then(|r| r.SegmentTemplate.as_ref());
            if kind == "text" {
                assert!(set.ContentProtection.is_empty(), "subtitles stay clear: {text}");
                continue;
            }
            let schemes: Vec<_> = set.ContentProtection.iter().map(|c| c.schemeIdUri.as_str()).collect();
            assert_eq!(schemes, ["urn:mpeg:dash:mp4protection:2011", CLEARKEY_SCHEME], "{kind}: {text}");
            assert_eq!(set.ContentProtection[0].value.as_deref(), Some("cenc"));
            let template = template.expect("a segment template");
            assert!(template.media.as_deref().unwrap_or_default().starts_with("cenc/"), "{text}");
            assert!(template.initialization.as_deref().unwrap_or_default().starts_with("cenc/"), "{text}");
        }
        assert!(text.contains("cenc:default_KID=\"00112233-4455-6677-8899-aabbccddeeff\""), "{text}");
        assert!(text.contains("<dashif:Laurl>clearkey.json</dashif:Laurl>"), "{text}");
        assert_eq!(text.matches("cenc/").count(), 4, "two templates, each init and media: {text}");
    }

    #[test]
    fn dates_are_xs_datetime_in_utc() {
        assert_eq!(xs_datetime(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(xs_datetime(leap_day), "2024-02-29T12:34:56.789Z");
    }
}
