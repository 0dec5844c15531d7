//! Checks a packaged stream the way players do: parse every manifest,
//! read every segment's boxes, decode everything with ffmpeg.

use std::ops::RangeInclusive;
use std::path::Path;

use m3u8_rs::Playlist;

use crate::support::{decode_all, decoded_video_frames, init_timescale, read_segment};

/// What the test knows about the source it generated.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Displayed size of the source (after rotation).
    pub width: u32,
    pub height: u32,
    /// Video frames every rung must decode to.
    pub frames: RangeInclusive<u64>,
    pub audio: bool,
}

/// One video rung as read back from the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct RungSeen {
    pub uri: String,
    pub width: u32,
    pub height: u32,
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()))
}

/// Verifies everything under `out`; returns the video rungs, largest first.
pub fn verify_stream(out: &Path, expect: &Expect) -> Vec<RungSeen> {
    let master = match m3u8_rs::parse_playlist_res(&read(&out.join("master.m3u8"))) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("master.m3u8 is not a master playlist: {other:?}"),
    };
    assert!(!master.variants.is_empty(), "master playlist has no variants");
    // One audio rendition per audio track of the source, all in the group "audio".
    let audio_uris: Vec<String> =
        master.alternatives.iter().filter(|a| a.group_id == "audio").filter_map(|a| a.uri.clone()).collect();
    assert_eq!(!audio_uris.is_empty(), expect.audio, "audio renditions present iff the source has audio");

    let mut rungs = Vec::new();
    for variant in &master.variants {
        let resolution = variant.resolution.expect("RESOLUTION on every variant");
        let (w, h) = (resolution.width as u32, resolution.height as u32);
        assert!(
            w <= expect.width && h <= expect.height,
            "rung {w}x{h} is larger than the source {}x{}",
            expect.width,
            expect.height
        );
        assert!(w % 2 == 0 && h % 2 == 0, "rung {w}x{h} has an odd size");
        let codecs = variant.codecs.clone().expect("CODECS on every variant");
        assert!(codecs.starts_with("avc1.64"), "video codec is H.264 High: {codecs}");
        assert_eq!(
            codecs.contains("mp4a.40.2"),
            expect.audio,
            "CODECS lists AAC iff there is audio: {codecs}"
        );
        assert!(variant.frame_rate.is_some(), "FRAME-RATE on every variant");
        let average = variant.average_bandwidth.expect("AVERAGE-BANDWIDTH on every variant");
        assert!(
            average > 0 && average <= variant.bandwidth,
            "AVERAGE-BANDWIDTH {average} within BANDWIDTH {}",
            variant.bandwidth
        );
        if expect.audio {
            assert_eq!(variant.audio.as_deref(), Some("audio"));
        }
        rungs.push(RungSeen { uri: variant.uri.clone(), width: w, height: h });
    }

    // Every media playlist: VOD, ended, EXT-X-MAP, keyframe-first segments.
    let mut video_starts: Vec<(String, Vec<f64>)> = Vec::new();
    let playlists =
        rungs.iter().map(|r| (r.uri.clone(), true)).chain(audio_uris.iter().map(|u| (u.clone(), false)));
    let mut segment_counts = Vec::new();
    for (uri, is_video) in playlists {
        let path = out.join(&uri);
        let playlist = match m3u8_rs::parse_playlist_res(&read(&path)) {
            Ok(Playlist::MediaPlaylist(p)) => p,
            other => panic!("{uri} is not a media playlist: {other:?}"),
        };
        assert!(playlist.end_list, "{uri} has EXT-X-ENDLIST");
        assert_eq!(playlist.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod), "{uri} is VOD");
        assert!(!playlist.segments.is_empty(), "{uri} has segments");
        let dir = path.parent().expect("playlist folder");
        let map = playlist.segments[0].map.as_ref().expect("EXT-X-MAP before the first segment");
        let init = read(&dir.join(&map.uri));
        let timescale = init_timescale(&init);
        let mut starts = Vec::new();
        for segment in &playlist.segments {
            let rounded = segment.duration.round() as u64;
            assert!(
                rounded <= playlist.target_duration,
                "{uri}: EXTINF {} over the target duration",
                segment.duration
            );
            let boxes = read_segment(&read(&dir.join(&segment.uri)), timescale);
            assert!(boxes.samples > 0, "{uri}/{} has samples", segment.uri);
            if is_video {
                assert!(boxes.starts_with_keyframe, "{uri}/{} does not start with a keyframe", segment.uri);
            }
            starts.push(boxes.start);
        }
        segment_counts.push((uri.clone(), playlist.segments.len()));
        if is_video {
            let frames = decoded_video_frames(&path, 0);
            assert!(
                expect.frames.contains(&frames),
                "{uri} decodes to {frames} frames, expected {:?}",
                expect.frames
            );
            video_starts.push((uri, starts));
        }
    }
    let (first_uri, first_starts) = &video_starts[0];
    for (uri, starts) in &video_starts[1..] {
        assert_eq!(starts.len(), first_starts.len(), "{uri} and {first_uri} have different segment counts");
        for (a, b) in starts.iter().zip(first_starts) {
            assert!(
                (a - b).abs() < 1e-3,
                "segment boundaries differ: {uri} {starts:?} vs {first_uri} {first_starts:?}"
            );
        }
    }

    decode_all(&out.join("master.m3u8"));
    verify_mpd(out, expect, &rungs, &segment_counts);
    rungs
}

fn verify_mpd(out: &Path, expect: &Expect, rungs: &[RungSeen], segment_counts: &[(String, usize)]) {
    let mpd_path = std::path::absolute(out.join("manifest.mpd")).expect("absolute path");
    let text = String::from_utf8(read(&mpd_path)).expect("MPD is UTF-8");
    let mpd = dash_mpd_core::parse(&text).unwrap_or_else(|e| panic!("manifest.mpd does not parse: {e:?}"));
    assert_eq!(mpd.mpdtype.as_deref(), Some("static"));
    assert!(mpd.mediaPresentationDuration.is_some());
    let period = &mpd.periods[0];
    let video_sets: Vec<_> =
        period.adaptations.iter().filter(|a| a.contentType.as_deref() == Some("video")).collect();
    let audio_sets: Vec<_> =
        period.adaptations.iter().filter(|a| a.contentType.as_deref() == Some("audio")).collect();
    assert_eq!(video_sets.len(), 1);
    let audio_playlists = segment_counts.iter().filter(|(uri, _)| uri.starts_with("audio")).count();
    assert_eq!(audio_sets.len(), audio_playlists, "one audio adaptation set per audio rendition");
    let reps = &video_sets[0].representations;
    assert_eq!(reps.len(), rungs.len(), "one representation per rung");
    for (rep, rung) in reps.iter().zip(rungs) {
        assert_eq!((rep.width, rep.height), (Some(rung.width as u64), Some(rung.height as u64)));
    }
    for rep in reps.iter().chain(audio_sets.iter().flat_map(|a| a.representations.iter())) {
        let template = rep.SegmentTemplate.as_ref().expect("SegmentTemplate per representation");
        let init = template.initialization.as_ref().expect("initialization");
        assert!(out.join(init).exists(), "MPD initialization {init} exists");
        let timeline = template.SegmentTimeline.as_ref().expect("SegmentTimeline");
        let count: i64 = timeline.segments.iter().map(|s| 1 + s.r.unwrap_or(0)).sum();
        let start = template.startNumber.unwrap_or(1) as i64;
        let media = template.media.as_ref().expect("media template");
        for number in start..start + count {
            let name = media.replace("$Number%05d$", &format!("{number:05}"));
            assert!(out.join(&name).exists(), "MPD segment {name} exists");
        }
        // The MPD and the HLS playlist describe the same segment files.
        let id = rep.id.clone().unwrap_or_default();
        let hls = segment_counts
            .iter()
            .find(|(uri, _)| uri.starts_with(&format!("{id}/")))
            .expect("same rendition in HLS");
        assert_eq!(count as usize, hls.1, "{id}: MPD and HLS list the same segments");
    }
    let mpd_path = crate::support::mpd_for_ffmpeg(&mpd_path, &text);
    decode_all(&mpd_path);
    for index in 0..rungs.len() {
        let frames = decoded_video_frames(&mpd_path, index);
        assert!(
            expect.frames.contains(&frames),
            "MPD video {index} decodes to {frames} frames, expected {:?}",
            expect.frames
        );
    }
}
