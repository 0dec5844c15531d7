//! HLS (RFC 8216) playlists for CMAF segments: version 7, `EXT-X-MAP`.

use std::fmt::Write;
use std::time::Duration;

use cdlc_captions::{Kind, TrackInfo};
use cdlc_transcoder::{layout, RenditionKind, RenditionOutput, Segment, TranscodeOutput};

use crate::{seconds, text, Completeness};

/// The HLS group id of the audio rendition.
pub const AUDIO_GROUP: &str = "audio";
/// The HLS group id of the text tracks.
pub const SUBTITLES_GROUP: &str = "subs";

/// The master playlist: one `EXT-X-STREAM-INF` per video rung, largest
/// first, each tied to the audio group when there is audio and to the
/// subtitles group when there are text tracks.
pub fn master_playlist(output: &TranscodeOutput, texts: &[TrackInfo]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for track in texts {
        // No track is DEFAULT: the player picks one from the viewer's preference.
        let forced = if track.kind == Kind::Forced { "YES" } else { "NO" };
        let _ = write!(
            out,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLES_GROUP}\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT=NO,AUTOSELECT=YES,FORCED={forced}",
            track.label, track.language
        );
        if track.kind == Kind::Captions {
            out.push_str(",CHARACTERISTICS=\"public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound\"");
        }
        let _ = writeln!(out, ",URI=\"{}\"", text::playlist(&track.id));
    }
    let audios: Vec<&RenditionOutput> = output.audio().collect();
    let mut names = Vec::with_capacity(audios.len());
    for (index, audio) in audios.iter().enumerate() {
        let RenditionKind::Audio { channels, language, title, .. } = &audio.kind else {
            continue;
        };
        let language = if language.is_empty() { "und" } else { language.as_str() };
        let name = unique_name(&mut names, audio_name(title.as_deref(), language, index));
        // The source's first track is the default; players switch by NAME and LANGUAGE.
        let default = if index == 0 { "YES" } else { "NO" };
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{name}\",LANGUAGE=\"{language}\",DEFAULT={default},AUTOSELECT=YES,CHANNELS=\"{channels}\",URI=\"{}\"",
            layout::media_playlist(&audio.name)
        );
    }
    // The variants carry the largest audio rendition in their bandwidth.
    let audio = audios.iter().copied().max_by_key(|a| a.peak_bitrate());
    for video in output.video() {
        let RenditionKind::Video { width, height, frame_rate, bitrate_kbps } = video.kind else {
            continue;
        };
        let nominal = bitrate_kbps as u64 * 1000;
        let (mut peak, mut average) = measured_or(video, nominal);
        let mut codecs = video.codec.clone();
        if let Some(audio) = audio {
            let nominal_audio = match audio.kind {
                RenditionKind::Audio { bitrate, .. } => bitrate as u64,
                RenditionKind::Video { .. } => 0,
            };
            let (audio_peak, audio_average) = measured_or(audio, nominal_audio);
            peak += audio_peak;
            average += audio_average;
            codecs = format!("{codecs},{}", audio.codec);
        }
        let fps = frame_rate.0 as f64 / frame_rate.1 as f64;
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{codecs}\",RESOLUTION={width}x{height},FRAME-RATE={fps:.3}"
        );
        if audio.is_some() {
            let _ = write!(out, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        if !texts.is_empty() {
            let _ = write!(out, ",SUBTITLES=\"{SUBTITLES_GROUP}\"");
        }
        let _ = writeln!(out, "\n{}", layout::media_playlist(&video.name));
    }
    out
}

/// The NAME of an audio rendition: its title, else its language, else its
/// place; quoted-string safe.
fn audio_name(title: Option<&str>, language: &str, index: usize) -> String {
    let name = match (title, language) {
        (Some(title), _) => title.to_owned(),
        (None, "und") if index == 0 => "Main".to_owned(),
        (None, "und") => format!("Audio {}", index + 1),
        (None, language) => cdlc_captions::language_name(language).unwrap_or(language).to_owned(),
    };
    name.replace(['"', '\n', '\r'], "'")
}

/// NAME must be unique within a group: a repeated one gets its place added.
fn unique_name(taken: &mut Vec<String>, name: String) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name} ({n})");
        n += 1;
    }
    taken.push(candidate.clone());
    candidate
}

/// Peak and average bitrate as measured, or the nominal bitrate (with room
/// for the peak) before any segment exists.
fn measured_or(rendition: &RenditionOutput, nominal: u64) -> (u64, u64) {
    if rendition.segments.is_empty() {
        (nominal + nominal / 5, nominal)
    } else {
        (rendition.peak_bitrate(), rendition.average_bitrate())
    }
}

/// A media playlist. Segment URIs are relative to the playlist, which sits in
/// the rendition's folder. `target_duration` is the announced upper bound
/// for a growing playlist; a complete one computes its own.
pub fn media_playlist(
    rendition: &RenditionOutput,
    completeness: Completeness,
    target_duration: Option<Duration>,
) -> String {
    let mut playlist = GrowingPlaylist::new(target_duration.unwrap_or_default());
    for segment in &rendition.segments {
        playlist.push(segment);
    }
    playlist.render(completeness)
}

/// `playlist` (a media playlist as [`media_playlist`] writes it) with every
/// media segment encrypted by METHOD=AES-128 (RFC 8216 §4.3.2.4): an
/// `EXT-X-KEY` before each segment, the key at `key_uri`, the segment's
/// number as its explicit IV. The `EXT-X-MAP` stays above the first key, so
/// the initialization section is not encrypted (§4.3.2.5). Entries that are
/// not media segments (WebVTT) and the master playlist are left as they are.
pub fn with_aes128_keys(playlist: &str, key_uri: &str) -> String {
    let mut out = String::with_capacity(playlist.len() + playlist.len() / 2);
    // The tags of the next entry (EXTINF…), held until its URI is known.
    let mut held = String::new();
    for line in playlist.lines() {
        if line.starts_with("#EXTINF") {
            held.push_str(line);
            held.push('\n');
            continue;
        }
        if !held.is_empty() && !line.starts_with('#') && !line.trim().is_empty() {
            if let Some(number) = layout::media_segment_number(line.trim()) {
                let _ = writeln!(out, "#EXT-X-KEY:METHOD=AES-128,URI=\"{key_uri}\",IV=0x{number:032x}");
            }
            out.push_str(&held);
            held.clear();
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&held);
    out
}

/// The key system format of W3C ClearKey in `EXT-X-KEY` (as hls.js and
/// Shaka read it).
pub const CLEARKEY_KEYFORMAT: &str = "org.w3.clearkey";

/// A media playlist of CMAF segments protected with CENC (`cenc`, AES-128-CTR
/// by sample, ISO/IEC 23001-7), the same bytes as the DASH ones: one
/// `EXT-X-KEY` with METHOD=SAMPLE-AES-CTR, KEYFORMAT ClearKey and the key id
/// `kid` before the `EXT-X-MAP`, so it covers the initialization section
/// (whose `tenc` and `pssh` name the same key id) and every segment. The
/// key's URI is `key_uri` (the raw content key: Shaka fetches it, hls.js
/// takes it as the key's name and asks its configured licence server).
/// A playlist without an initialization section (WebVTT, the master) is
/// left as it is.
pub fn with_cenc_key(playlist: &str, kid: &[u8; 16], key_uri: &str) -> String {
    let Some(map) = playlist.find("#EXT-X-MAP") else {
        return playlist.to_owned();
    };
    let kid: String = kid.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = String::with_capacity(playlist.len() + 160);
    out.push_str(&playlist[..map]);
    let _ = writeln!(
        out,
        "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"{key_uri}\",KEYID=0x{kid},KEYFORMAT=\"{CLEARKEY_KEYFORMAT}\",KEYFORMATVERSIONS=\"1\""
    );
    out.push_str(&playlist[map..]);
    out
}

/// A media playlist kept as text while its rendition grows: each segment
/// appends its own entry, so publishing after every segment formats only
/// the new one instead of the whole list again.
#[derive(Debug, Clone, Default)]
pub struct GrowingPlaylist {
    /// The longest segment so far, or the announced bound if longer.
    longest: Duration,
    first_number: Option<u32>,
    entries: String,
}

impl GrowingPlaylist {
    /// An empty playlist announcing segments of up to `target_duration`.
    pub fn new(target_duration: Duration) -> Self {
        GrowingPlaylist { longest: target_duration, ..GrowingPlaylist::default() }
    }

    pub fn push(&mut self, segment: &Segment) {
        self.longest = self.longest.max(segment.duration);
        self.first_number.get_or_insert(segment.number);
        let _ = writeln!(
            self.entries,
            "#EXTINF:{},\n{}",
            seconds(segment.duration),
            layout::media_segment_file(segment.number)
        );
    }

    pub fn render(&self, completeness: Completeness) -> String {
        // RFC 8216 4.3.3.1: each EXTINF, rounded to the nearest integer, is at
        // most the target duration.
        let longest = if self.longest.is_zero() { Duration::from_secs(2) } else { self.longest };
        let target = longest.as_secs_f64().round().max(1.0) as u64;
        let playlist_type = match completeness {
            Completeness::Growing => "EVENT",
            Completeness::Complete => "VOD",
        };
        let first_number = self.first_number.unwrap_or(1);
        let mut out = format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first_number}\n#EXT-X-PLAYLIST-TYPE:{playlist_type}\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"{}\"\n",
            layout::INIT_SEGMENT
        );
        out.reserve(self.entries.len() + 16);
        out.push_str(&self.entries);
        if completeness == Completeness::Complete {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gives_every_media_segment_its_key_and_iv_and_leaves_the_map_clear() {
        let output = crate::three_segments();
        let plain = media_playlist(&output.renditions[0], Completeness::Complete, None);
        let text = with_aes128_keys(&plain, "../content.key");
        let Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) = m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("not a media playlist: {text}");
        };
        assert_eq!(playlist.segments.len(), 3, "{text}");
        for (segment, number) in playlist.segments.iter().zip(1u32..) {
            assert_eq!(segment.uri, layout::media_segment_file(number));
            let key = segment.key.as_ref().unwrap_or_else(|| panic!("segment {number} has no key: {text}"));
            assert_eq!(key.method, m3u8_rs::KeyMethod::AES128);
            assert_eq!(key.uri.as_deref(), Some("../content.key"));
            assert_eq!(key.iv.as_deref(), Some(format!("0x{number:032x}").as_str()));
        }
        let map = text.find("#EXT-X-MAP").expect("a map");
        assert!(map < text.find("#EXT-X-KEY").expect("a key"), "the init section is not encrypted: {text}");
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        // Each key comes before its segment's EXTINF, never between it and the URI.
        assert!(
            text.contains("IV=0x00000000000000000000000000000002\n#EXTINF:2.000,\n00002.m4s\n"),
            "{text}"
        );

        let subtitles = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n00001.vtt\n#EXT-X-ENDLIST\n";
        assert_eq!(with_aes128_keys(subtitles, "../content.key"), subtitles, "WebVTT stays clear");
        let master = master_playlist(&output, &[]);
        assert_eq!(with_aes128_keys(&master, "k"), master);
    }

    #[test]
    fn cenc_puts_one_clearkey_key_above_the_map_of_a_media_playlist() {
        let output = crate::three_segments();
        let plain = media_playlist(&output.renditions[0], Completeness::Complete, None);
        let kid = [0xab; 16];
        let text = with_cenc_key(&plain, &kid, "../../content.key");
        assert_eq!(text.matches("#EXT-X-KEY").count(), 1, "{text}");
        let key = text.find("#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"../../content.key\",KEYID=0xabababababababababababababababab,KEYFORMAT=\"org.w3.clearkey\",KEYFORMATVERSIONS=\"1\"\n").expect(&text);
        assert!(key < text.find("#EXT-X-MAP").expect("a map"), "the key covers the init section: {text}");
        assert_eq!(
            text.replace(&text[key..text.find("#EXT-X-MAP").unwrap_or(key)], ""),
            plain,
            "nothing else changes"
        );
        let Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) = m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("not a media playlist: {text}");
        };
        assert_eq!(playlist.segments.len(), 3, "{text}");
        let subtitles = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n00001.vtt\n#EXT-X-ENDLIST\n";
        assert_eq!(with_cenc_key(subtitles, &kid, "k"), subtitles, "WebVTT stays clear");
        let master = master_playlist(&output, &[]);
        assert_eq!(with_cenc_key(&master, &kid, "k"), master);
    }
}
