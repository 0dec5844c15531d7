//! Text tracks: where their files sit under the stream, and the HLS
//! subtitle playlist and WebVTT segments of one track, cut on the video's
//! segment boundaries so a player fetches the cues with the video they go
//! with.

use std::fmt::Write;

use cdlc_captions::{segment, write_vtt, Cue};
use cdlc_transcoder::TranscodeOutput;

use crate::seconds;

/// The folder of every text track, under the stream.
pub const TEXT_DIR: &str = "subs";

/// The HLS subtitle playlist of track `id`.
pub fn playlist(id: &str) -> String {
    format!("{TEXT_DIR}/{id}/playlist.m3u8")
}

/// The WebVTT segment `number` of track `id`.
pub fn segment_file(id: &str, number: u32) -> String {
    format!("{TEXT_DIR}/{id}/{number:05}.vtt")
}

/// The whole WebVTT file of track `id` (DASH).
pub fn whole_file(id: &str) -> String {
    format!("{TEXT_DIR}/{id}.vtt")
}

/// Every file of track `id` with `cues` over the video of `output`: the
/// HLS playlist, one WebVTT segment per video segment (of the first rung:
/// every rung's boundaries are the same) and the whole file.
pub fn track_files(output: &TranscodeOutput, id: &str, cues: &[Cue]) -> Vec<(String, String)> {
    let Some(video) = output.video().next() else {
        return Vec::new();
    };
    let windows: Vec<(u64, u64)> = video
        .segments
        .iter()
        .map(|s| (s.start.as_millis() as u64, (s.start + s.duration).as_millis() as u64))
        .collect();
    let longest = video.segments.iter().map(|s| s.duration).max().unwrap_or_default();
    let first = video.segments.first().map(|s| s.number).unwrap_or(1);
    let mut list = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-PLAYLIST-TYPE:VOD\n",
        longest.as_secs_f64().round().max(1.0) as u64
    );
    let mut files = Vec::with_capacity(video.segments.len() + 2);
    for (s, body) in video.segments.iter().zip(segment(cues, &windows)) {
        let _ = writeln!(list, "#EXTINF:{},\n{:05}.vtt", seconds(s.duration), s.number);
        files.push((segment_file(id, s.number), body));
    }
    list.push_str("#EXT-X-ENDLIST\n");
    files.push((playlist(id), list));
    files.push((whole_file(id), write_vtt(cues)));
    files
}

#[cfg(test)]
mod tests {
    use cdlc_captions::{parse, Kind, TrackInfo};

    use super::*;
    use crate::hls::master_playlist;

    fn output() -> TranscodeOutput {
        crate::three_segments()
    }

    #[test]
    fn the_master_names_each_track_and_every_variant_the_group() {
        let tracks = [
            TrackInfo::new("en", "English", Kind::Subtitles, 1).unwrap(),
            TrackInfo::new("de", "Deutsch", Kind::Forced, 1).unwrap(),
        ];
        let master = master_playlist(&output(), &tracks);
        let Ok(m3u8_rs::Playlist::MasterPlaylist(parsed)) = m3u8_rs::parse_playlist_res(master.as_bytes())
        else {
            panic!("not a master playlist: {master}");
        };
        let subs: Vec<_> = parsed
            .alternatives
            .iter()
            .filter(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles)
            .collect();
        assert_eq!(subs.len(), 2, "{master}");
        assert_eq!(
            (subs[0].language.as_deref(), subs[0].uri.as_deref()),
            (Some("en"), Some("subs/en/playlist.m3u8"))
        );
        assert!(subs[1].forced, "{master}");
        assert!(parsed.variants.iter().all(|v| v.subtitles.as_deref() == Some("subs")), "{master}");
        assert!(!master_playlist(&output(), &[]).contains("SUBTITLES"));
    }

    #[test]
    fn a_track_is_cut_on_the_video_segments() {
        let (_, cues) =
            parse(b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\none\n\n00:00:03.900 --> 00:00:04.200\ntwo\n")
                .unwrap();
        let files = track_files(&output(), "en", &cues);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "subs/en/00001.vtt",
                "subs/en/00002.vtt",
                "subs/en/00003.vtt",
                "subs/en/playlist.m3u8",
                "subs/en.vtt"
            ]
        );
        let Ok(m3u8_rs::Playlist::MediaPlaylist(list)) = m3u8_rs::parse_playlist_res(files[3].1.as_bytes())
        else {
            panic!("not a media playlist: {}", files[3].1);
        };
        assert_eq!(list.segments.len(), 3);
        assert!(list.end_list);
        assert_eq!(list.segments[0].uri, "00001.vtt");
        assert!(files[0].1.contains("one") && !files[0].1.contains("two"));
        assert!(
            files[1].1.contains("two") && files[2].1.contains("two"),
            "a cue across a boundary is in both"
        );
        assert_eq!(parse(files[4].1.as_bytes()).unwrap().1, cues);
    }
}
