//! Every audio language of a source becomes its own rendition: HLS
//! `EXT-X-MEDIA TYPE=AUDIO` entries of one group, DASH one audio adaptation
//! set per language, surround mixed down to stereo (and kept as 5.1 too with
//! --keep-surround). Languages come out as
//! GStreamer reads the tags: ISO 639-1 where one exists (BCP 47, as HLS wants).

use std::path::Path;
use std::process::Command;

use crate::support::{cdlc_transcode, decode_all, ffprobe, stderr, Clip};

/// Mean volume in dB of the first audio stream of `input`, from ffmpeg's volumedetect.
fn mean_volume(input: &Path) -> f64 {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(input)
        .args(["-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let log = String::from_utf8_lossy(&output.stderr);
    log.lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no mean_volume in {log}"))
}

/// A 3 s MKV: English stereo (a loud sine), then a French 5.1 track with a
/// title (a quiet sine), then an untagged stereo track.
fn three_languages() -> (tempfile::TempDir, std::path::PathBuf) {
    Clip::video("testsrc2=s=320x240:r=30:d=3")
        .input("sine=f=440:d=3")
        .input("sine=f=660:d=3,volume=0.05")
        .input("sine=f=880:d=3")
        .args(&["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-ac:a:1", "6"])
        .args(&["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre"])
        .args(&["-metadata:s:a:1", "title=Français 5.1", "-metadata:s:a:2", "language=und"])
        .h264()
        .aac()
        .write("languages.mkv")
}

#[test]
fn every_audio_language_is_a_rendition_in_the_master_playlist_and_the_mpd() {
    let (dir, src) = three_languages();
    let src_path = src.to_str().expect("path");
    let surround =
        ffprobe(&["-select_streams", "a:1", "-show_entries", "stream=channels", "-of", "csv=p=0", src_path]);
    assert_eq!(surround.trim(), "6", "the source's French track is 5.1");
    let out = dir.path().join("out");
    let output = cdlc_transcode(&src, &out, &["--ladder", "240:300"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let master = std::fs::read_to_string(out.join("master.m3u8")).expect("master");
    let audio: Vec<&str> = master.lines().filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO")).collect();
    assert_eq!(audio.len(), 3, "three audio renditions: {master}");
    assert!(
        audio[0].contains("LANGUAGE=\"en\"")
            && audio[0].contains("DEFAULT=YES")
            && audio[0].contains("NAME=\"English\""),
        "{}",
        audio[0]
    );
    assert!(
        audio[1].contains("LANGUAGE=\"fr\"")
            && audio[1].contains("NAME=\"Français 5.1\"")
            && audio[1].contains("DEFAULT=NO")
            && audio[1].contains("CHANNELS=\"2\""),
        "the 5.1 track is a stereo rendition: {}",
        audio[1]
    );
    assert!(audio[2].contains("LANGUAGE=\"und\""), "an untagged track is und: {}", audio[2]);
    for line in &audio {
        assert!(line.contains("GROUP-ID=\"audio\"") && line.contains("AUTOSELECT=YES"), "{line}");
    }
    let variant = master.lines().find(|l| l.starts_with("#EXT-X-STREAM-INF")).expect("variant");
    assert!(variant.contains("AUDIO=\"audio\""), "{variant}");

    let mpd_text = std::fs::read_to_string(out.join("manifest.mpd")).expect("mpd");
    let mpd = dash_mpd_core::parse(&mpd_text).expect("MPD parses");
    let sets: Vec<_> =
        mpd.periods[0].adaptations.iter().filter(|a| a.contentType.as_deref() == Some("audio")).collect();
    let langs: Vec<_> = sets.iter().map(|a| a.lang.clone().unwrap_or_default()).collect();
    assert_eq!(langs, ["en", "fr", "und"], "{mpd_text}");
    let ids: std::collections::HashSet<_> = mpd.periods[0].adaptations.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids.len(), mpd.periods[0].adaptations.len(), "adaptation set ids are unique: {mpd_text}");

    // Every rendition decodes; each carries its own track, not a copy of the first.
    decode_all(&out.join("master.m3u8"));
    for name in ["audio", "audio-2", "audio-3", "240p"] {
        decode_all(&out.join(format!("{name}/playlist.m3u8")));
    }
    let stereo = ffprobe(&[
        "-show_entries",
        "stream=channels",
        "-of",
        "csv=p=0",
        out.join("audio-2/playlist.m3u8").to_str().expect("path"),
    ]);
    assert_eq!(stereo.lines().next().map(str::trim), Some("2"), "5.1 mixed down to stereo: {stereo}");
    let (loud, quiet) =
        (mean_volume(&out.join("audio/playlist.m3u8")), mean_volume(&out.join("audio-2/playlist.m3u8")));
    assert!(loud > quiet + 10.0, "the French rendition is the quiet track: {loud} dB vs {quiet} dB");
}

#[test]
fn keep_surround_adds_a_5_1_rendition_beside_the_stereo_one() {
    let (dir, src) = three_languages();
    let out = dir.path().join("out");
    let output = cdlc_transcode(&src, &out, &["--ladder", "240:300", "--keep-surround"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let master = std::fs::read_to_string(out.join("master.m3u8")).expect("master");
    let audio: Vec<&str> = master.lines().filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO")).collect();
    assert_eq!(audio.len(), 4, "the French track twice, stereo and 5.1: {master}");
    assert!(audio[1].contains("LANGUAGE=\"fr\"") && audio[1].contains("CHANNELS=\"2\""), "{}", audio[1]);
    assert!(
        audio[2].contains("LANGUAGE=\"fr\"")
            && audio[2].contains("CHANNELS=\"6\"")
            && audio[2].contains("NAME=\"Français 5.1 (2)\"")
            && audio[2].contains("DEFAULT=NO"),
        "{}",
        audio[2]
    );
    let mpd = std::fs::read_to_string(out.join("manifest.mpd")).expect("mpd");
    assert!(mpd.contains("audio_channel_configuration:2011\" value=\"6\""), "{mpd}");

    // The 5.1 rendition has six channels of the French (quiet) track, and plays.
    let surround = out.join("audio-3/playlist.m3u8");
    decode_all(&surround);
    let channels =
        ffprobe(&["-show_entries", "stream=channels", "-of", "csv=p=0", surround.to_str().expect("path")]);
    assert_eq!(channels.lines().next().map(str::trim), Some("6"), "{channels}");
    let (stereo, five_one) = (mean_volume(&out.join("audio-2/playlist.m3u8")), mean_volume(&surround));
    assert!((stereo - five_one).abs() < 10.0, "both are the quiet track: {stereo} dB and {five_one} dB");
    let loud = mean_volume(&out.join("audio/playlist.m3u8"));
    assert!(loud > five_one + 10.0, "{loud} dB vs {five_one} dB");
    assert!(
        std::fs::read_to_string(out.join("audio-4/playlist.m3u8")).is_ok(),
        "the untagged track follows as audio-4"
    );
}
