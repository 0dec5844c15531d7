//! Subtitles and captions on a real `cdlc serve`: a sidecar added while the
//! asset transcodes is in its manifests once it is ready; one added, replaced
//! or removed on a ready asset changes the manifests at once (no new
//! transcode); bad files get sentences. Text tracks inside MKV and MP4
//! sources (SRT, ASS, mov_text) are extracted beside the uploaded ones.

use std::path::Path;
use std::time::Duration;

use crate::server::{clip, Server, TOKEN};
use crate::support::{cdlc_transcode, decode_all, stderr, Clip};

const SRT: &str = "1\r\n00:00:00,500 --> 00:00:01,500\r\nHello, \"world\"\r\n\r\n2\r\n00:00:02,900 --> 00:00:03,200\r\nAcross a boundary\r\n";
const VTT_FR: &str = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBonjour [musique]\n";

fn add(server: &Server, id: &str, file: &Path, fields: &[&str]) -> (u16, serde_json::Value) {
    let auth = format!("Authorization: Bearer {TOKEN}");
    let form = format!("file=@{}", file.display());
    let mut args = vec!["-X", "POST", "-H", &auth, "-F", &form];
    for field in fields {
        args.extend(["-F", field]);
    }
    let (status, body) = server.curl(&args, &format!("/api/v1/assets/{id}/captions"));
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write sidecar");
    path
}

#[test]
fn text_tracks_reach_the_manifests_before_and_after_ready_and_bad_files_are_refused() {
    let (dir, src) = clip(4);
    let server = Server::start(&dir.path().join("data"), &[]);
    let (status, asset) = server.upload(&src, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    let id = asset["id"].as_str().expect("id").to_owned();

    // Added while the asset is still processing (or just ready): published at ready.
    let srt = write(dir.path(), "en.srt", SRT.as_bytes());
    let (status, track) = add(&server, &id, &srt, &["language=en", "label=English"]);
    assert_eq!(status, 201, "{track}");
    assert_eq!(
        (track["id"].as_str(), track["kind"].as_str(), track["cues"].as_u64()),
        (Some("en"), Some("subtitles"), Some(2))
    );
    server.wait_for(&id, &["ready"], Duration::from_secs(120));

    let master = |server: &Server| server.get(&format!("/streams/{id}/master.m3u8")).1;
    let text = master(&server);
    assert!(
        text.contains(r#"#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en""#),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
            .all(|l| l.contains(r#"SUBTITLES="subs""#)),
        "{text}"
    );
    let (status, playlist) = server.get(&format!("/streams/{id}/subs/en/playlist.m3u8"));
    assert_eq!(status, 200, "{playlist}");
    let video = server.get(&format!("/streams/{id}/360p/playlist.m3u8")).1;
    let count = |p: &str| p.lines().filter(|l| l.starts_with("#EXTINF")).count();
    assert_eq!(count(&playlist), count(&video), "one WebVTT segment per video segment:\n{playlist}\n{video}");
    let (status, first) = server.get(&format!("/streams/{id}/subs/en/00001.vtt"));
    assert_eq!(status, 200);
    assert!(first.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"), "{first}");
    // The first video segment ends at 0.5 s: the cue from 0.5 s is in the second.
    let (status, second) = server.get(&format!("/streams/{id}/subs/en/00002.vtt"));
    assert_eq!(status, 200);
    assert!(
        second.contains("00:00:00.500 --> 00:00:01.500\nHello, \"world\""),
        "SRT became WebVTT: {second}"
    );
    let mpd = server.get(&format!("/streams/{id}/manifest.mpd")).1;
    assert!(mpd.contains(r#"contentType="text" mimeType="text/vtt" lang="en""#), "{mpd}");
    let (status, whole) = server.get(&format!("/streams/{id}/subs/en.vtt"));
    assert_eq!(status, 200);
    assert!(whole.contains("Across a boundary"), "{whole}");

    // On the ready asset: a second track appears at once, a replacement
    // changes the cues, a removal takes the track out.
    let fr = write(dir.path(), "fr.vtt", VTT_FR.as_bytes());
    let (status, track) = add(&server, &id, &fr, &["language=fr", "label=Français (SDH)", "kind=captions"]);
    assert_eq!(status, 201, "{track}");
    assert_eq!(track["id"], "fr-cc");
    let text = master(&server);
    assert!(
        text.contains(r#"NAME="Français (SDH)",LANGUAGE="fr""#) && text.contains("public.accessibility"),
        "{text}"
    );
    let again = write(dir.path(), "en2.vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nReplaced\n");
    let (status, track) = add(&server, &id, &again, &["language=en", "label=English"]);
    assert_eq!((status, track["cues"].as_u64()), (200, Some(1)), "{track}");
    assert!(server.get(&format!("/streams/{id}/subs/en.vtt")).1.contains("Replaced"));
    let list = server.json(&format!("/api/v1/assets/{id}/captions"));
    assert_eq!(list.as_array().map(|l| l.len()), Some(2), "{list}");

    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) =
        server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/assets/{id}/captions/fr-cc"));
    assert_eq!(status, 204, "{body}");
    assert!(!master(&server).contains("LANGUAGE=\"fr\""));
    assert_eq!(server.get(&format!("/streams/{id}/subs/fr-cc.vtt")).0, 404);
    let (status, body) =
        server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/assets/{id}/captions/fr-cc"));
    assert_eq!(status, 404, "{body}");

    // Bad input: a sentence each, never a crash.
    let cases: [(&str, &[u8], &[&str], &str); 7] = [
        ("utf16.srt", b"\xff\xfe1\x00\n\x00", &["language=en"], "not UTF-8"),
        (
            "backwards.vtt",
            b"WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n",
            &["language=en"],
            "ends before it starts",
        ),
        ("notes.txt", b"just some text", &["language=en"], "neither WebVTT"),
        ("ok.vtt", VTT_FR.as_bytes(), &["language=english"], "BCP 47"),
        ("ok.vtt", VTT_FR.as_bytes(), &["language=en", "kind=sdh"], "subtitles, captions or forced"),
        ("ok.vtt", VTT_FR.as_bytes(), &["language=en", "label=a\"b"], "quotes"),
        ("ok.vtt", VTT_FR.as_bytes(), &[], "send the field language"),
    ];
    for (name, bytes, fields, expected) in cases {
        let file = write(dir.path(), name, bytes);
        let (status, body) = add(&server, &id, &file, fields);
        assert_eq!(status, 400, "{name} {fields:?}: {body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains(expected), "{name}: {body}");
    }
    let huge = write(dir.path(), "huge.vtt", &vec![b'a'; 5 * 1024 * 1024]);
    let (status, body) = add(&server, &id, &huge, &["language=en"]);
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("larger than 4 MiB"), "{body}");
    let (status, _) = server.curl(
        &["-X", "POST", "-F", &format!("file=@{}", fr.display()), "-F", "language=en"],
        &format!("/api/v1/assets/{id}/captions"),
    );
    assert_eq!(status, 401, "a write needs a credential");
    let (status, _) = add(&server, "00000000-0000-0000-0000-000000000000", &fr, &["language=en"]);
    assert_eq!(status, 404);
    assert_eq!(server.get("/healthz").0, 200, "the server is still up");
}

/// An MKV of 4 s: English and French audio, an English SRT track.
fn film_with_text(dir: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let srt = write(dir, "embedded.srt", SRT.as_bytes());
    Clip::video("testsrc2=s=320x240:r=30:d=4")
        .input("sine=f=440:d=4")
        .input("sine=f=660:d=4")
        .args(&["-i", srt.to_str().expect("path")])
        .args(&["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"])
        .args(&["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre"])
        .args(&["-metadata:s:s:0", "language=eng", "-c:s", "srt"])
        .h264()
        .aac()
        .write("film.mkv")
}

#[test]
fn text_tracks_inside_the_source_are_extracted_beside_uploaded_ones() {
    let sidecars = tempfile::tempdir().expect("tmp");
    let (dir, src) = film_with_text(sidecars.path());
    let server = Server::start(&dir.path().join("data"), &[]);
    let (status, asset) = server.upload(&src, Some(TOKEN));
    assert_eq!(status, 201, "{asset}");
    let id = asset["id"].as_str().expect("id").to_owned();
    server.wait_for(&id, &["ready"], Duration::from_secs(120));
    let fr = write(sidecars.path(), "fr.vtt", VTT_FR.as_bytes());
    let (status, track) = add(&server, &id, &fr, &["language=fr", "label=Français"]);
    assert_eq!(status, 201, "{track}");

    let list = server.json(&format!("/api/v1/assets/{id}/captions"));
    let described: Vec<_> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| (t["id"].as_str(), t["label"].as_str(), t["origin"].as_str(), t["cues"].as_u64()))
        .collect();
    assert_eq!(
        described,
        [
            (Some("src0-en"), Some("English"), Some("source"), Some(2)),
            (Some("fr"), Some("Français"), Some("upload"), Some(1))
        ],
        "{list}"
    );

    let master = server.get(&format!("/streams/{id}/master.m3u8")).1;
    let media = |kind: &str| master.lines().filter(|l| l.starts_with(kind)).count();
    assert_eq!(media("#EXT-X-MEDIA:TYPE=AUDIO"), 2, "both audio languages: {master}");
    assert_eq!(media("#EXT-X-MEDIA:TYPE=SUBTITLES"), 2, "the source's track and the sidecar: {master}");
    assert!(master.contains(r#"NAME="English",LANGUAGE="en""#) && master.contains(r#"LANGUAGE="fr""#));
    let mpd = server.get(&format!("/streams/{id}/manifest.mpd")).1;
    assert_eq!(mpd.matches(r#"contentType="text""#).count(), 2, "{mpd}");
    assert_eq!(mpd.matches(r#"contentType="audio""#).count(), 2, "{mpd}");
    decode_all(Path::new(&server.url(&format!("/streams/{id}/master.m3u8"))));

    // The cues are at the source's times, a cue across a boundary in both segments.
    let playlist = server.get(&format!("/streams/{id}/subs/src0-en/playlist.m3u8")).1;
    let segments: Vec<String> = playlist
        .lines()
        .filter(|l| l.ends_with(".vtt"))
        .map(|name| server.get(&format!("/streams/{id}/subs/src0-en/{name}")).1)
        .collect();
    let holding = |cue: &str| segments.iter().filter(|s| s.contains(cue)).count();
    assert_eq!(holding("00:00:00.500 --> 00:00:01.500\nHello, \"world\""), 1, "{segments:?}");
    assert!(holding("00:00:02.900 --> 00:00:03.200\nAcross a boundary") >= 1, "{segments:?}");

    // A source track can be removed like an uploaded one.
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (status, body) =
        server.curl(&["-X", "DELETE", "-H", &auth], &format!("/api/v1/assets/{id}/captions/src0-en"));
    assert_eq!(status, 204, "{body}");
    let master = server.get(&format!("/streams/{id}/master.m3u8")).1;
    assert!(!master.contains(r#"TYPE=SUBTITLES,GROUP-ID="subs",NAME="English""#), "{master}");
    assert_eq!(server.json(&format!("/api/v1/assets/{id}/captions")).as_array().map(|l| l.len()), Some(1));
}

#[test]
fn mov_text_in_mp4_and_ass_and_webvtt_in_mkv_become_webvtt_tracks_of_the_package() {
    let sidecars = tempfile::tempdir().expect("tmp");
    let srt = write(sidecars.path(), "embedded.srt", SRT.as_bytes());
    let (ass, vtt) = (sidecars.path().join("embedded.ass"), sidecars.path().join("embedded.vtt"));
    crate::support::ffmpeg(&["-i", srt.to_str().expect("path"), ass.to_str().expect("path")]);
    crate::support::ffmpeg(&["-i", srt.to_str().expect("path"), vtt.to_str().expect("path")]);
    // WebVTT in Matroska (ffmpeg writes D_WEBVTT/SUBTITLES) is read by
    // cdlc_ingest::matroska: GStreamer 1.22's matroskademux does not expose it.
    for (name, text, codec) in
        [("film.mp4", &srt, "mov_text"), ("film.mkv", &ass, "ass"), ("film-webvtt.mkv", &vtt, "webvtt")]
    {
        let (dir, src) = Clip::video("testsrc2=s=320x240:r=30:d=4")
            .args(&["-i", text.to_str().expect("path")])
            .args(&["-map", "0:v", "-map", "1:s", "-c:s", codec, "-metadata:s:s:0", "language=ger"])
            .h264()
            .write(name);
        let out = dir.path().join("out");
        let output = cdlc_transcode(&src, &out, &[]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let master = std::fs::read_to_string(out.join("master.m3u8")).expect("master");
        assert!(
            master.contains(r#"TYPE=SUBTITLES,GROUP-ID="subs",NAME="German",LANGUAGE="de""#),
            "{name}: {master}"
        );
        let whole = std::fs::read_to_string(out.join("subs/src0-de.vtt")).expect("the whole track");
        assert!(
            whole.contains("00:00:00.500 --> 00:00:01.500\nHello, \"world\"")
                && whole.contains("00:00:02.900 --> 00:00:03.200\nAcross a boundary"),
            "{name} ({codec}): {whole}"
        );
    }
}
