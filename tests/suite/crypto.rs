//! Encryption on a real `cdlc serve`: an asset uploaded with
//! `encrypted=true` plays (ffmpeg) only with its key, which is served on the
//! asset's signed URLs alone and kept by no cache; HLS is AES-128, DASH is
//! CENC with a ClearKey licence; a plain asset is as before.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};

use crate::server::{clip, Server, StandaloneEdge, TOKEN};
use crate::support::{decode_all, decoded_video_frames};

/// A GET's status, headers (lower-case names) and body bytes.
struct Fetched {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn fetch(url: &str, args: &[&str]) -> Fetched {
    let dir = tempfile::tempdir().expect("tmp");
    let (headers, body) = (dir.path().join("headers"), dir.path().join("body"));
    let output = Command::new("curl")
        .args(["-s", "--max-time", "60", "-w", "%{http_code}", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    Fetched {
        status: String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

fn upload(server: &Server, file: &Path, fields: &[&str]) -> (u16, serde_json::Value) {
    let form = format!("file=@{}", file.display());
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut args = vec!["-X", "POST", "-H", &auth, "-F", &form];
    for field in fields {
        args.extend(["-F", field]);
    }
    let (status, body) = server.curl(&args, "/api/v1/assets");
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}

/// The ISO BMFF box type at the start of `data` (`styp`, `moof`…).
fn first_box(data: &[u8]) -> &[u8] {
    data.get(4..8).unwrap_or_default()
}

#[test]
fn an_encrypted_asset_plays_only_with_its_key_which_only_its_signed_urls_get() {
    let (dir, src) = clip(3);
    let server = Server::start(&dir.path().join("data"), &[]);
    let (status, asset) = upload(&server, &src, &["encrypted=true"]);
    assert_eq!(status, 201, "{asset}");
    assert_eq!(
        (asset["encrypted"].as_bool(), asset["private"].as_bool()),
        (Some(true), Some(true)),
        "{asset}"
    );
    let id = asset["id"].as_str().expect("id").to_owned();
    let (status, plain) = upload(&server, &src, &[]);
    assert_eq!(status, 201, "{plain}");
    let plain_id = plain["id"].as_str().expect("id").to_owned();
    let (status, refused) = upload(&server, &src, &["encrypted=yes"]);
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("encrypted must be true or false"));

    let auth = format!("Authorization: Bearer {TOKEN}");
    // By tus: `encrypted` in Upload-Metadata; a terminated upload takes its key with it.
    let tus = |metadata: &str| {
        let metadata = format!("Upload-Metadata: {metadata}");
        let args = ["-X", "POST", "-H", &auth, "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: 10", "-H"];
        fetch(&server.url("/api/v1/uploads"), &[&args[..], &[metadata.as_str()]].concat())
    };
    let refused = tus("encrypted eWVz");
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("encrypted must be base64"));
    let created = tus("filename eC5tcDQ=,encrypted dHJ1ZQ==");
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let tus_id = created.header("cdlc-asset-id").expect("asset id").to_owned();
    let tus_view = server.json(&format!("/api/v1/assets/{tus_id}"));
    assert_eq!((tus_view["encrypted"].as_bool(), tus_view["private"].as_bool()), (Some(true), Some(true)));
    let record = server.data.join(format!("objects/sources/{tus_id}/content-key.json"));
    let wrapped: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).expect("the key record")).expect("JSON");
    assert_eq!(wrapped["master_key"].as_str().map(str::len), Some(8), "names its master key: {wrapped}");
    let terminated = fetch(
        &server.url(&format!("/api/v1/uploads/{tus_id}")),
        &["-X", "DELETE", "-H", &auth, "-H", "Tus-Resumable: 1.0.0"],
    );
    assert_eq!(terminated.status, 204);
    assert!(!record.exists(), "the content key went with the upload");

    server.wait_for(&id, &["ready"], Duration::from_secs(120));
    server.wait_for(&plain_id, &["ready"], Duration::from_secs(120));
    let (_, view) = server.curl(&["-H", &auth], &format!("/api/v1/assets/{id}"));
    let view: serde_json::Value = serde_json::from_str(&view).expect("JSON");
    assert_eq!(view["encrypted"], true, "{view}");
    let master = view["playback"]["hls"].as_str().expect("signed hls").to_owned();
    let prefix = master.strip_suffix("/master.m3u8").expect("a master playlist URL").to_owned();
    assert!(prefix.starts_with(&format!("/streams/{id}/~")), "{prefix}");
    assert_eq!(view["playback"]["dash"].as_str(), Some(format!("{prefix}/manifest.mpd").as_str()), "{view}");

    // The media playlist: a key with an explicit IV before each segment,
    // the init section (EXT-X-MAP) above them all, so it stays clear.
    let media = fetch(&server.url(&format!("{prefix}/360p/playlist.m3u8")), &[]);
    assert_eq!(media.status, 200);
    let text = String::from_utf8_lossy(&media.body).into_owned();
    let Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) = m3u8_rs::parse_playlist_res(text.as_bytes()) else {
        panic!("not a media playlist: {text}");
    };
    assert!(!playlist.segments.is_empty());
    for (segment, number) in playlist.segments.iter().zip(1u32..) {
        let key = segment.key.as_ref().unwrap_or_else(|| panic!("{} has no key: {text}", segment.uri));
        assert_eq!(key.method, m3u8_rs::KeyMethod::AES128);
        assert_eq!(key.uri.as_deref(), Some("../content.key"));
        assert_eq!(key.iv, Some(format!("0x{number:032x}")), "{text}");
    }
    assert!(text.find("#EXT-X-MAP").expect("map") < text.find("#EXT-X-KEY").expect("key"), "{text}");

    // The key: 16 bytes, on the signed URL, stored by nobody.
    let key_url = server.url(&format!("{prefix}/content.key"));
    let key = fetch(&key_url, &[]);
    assert_eq!((key.status, key.body.len()), (200, 16));
    assert_eq!(key.header("cache-control"), Some("private, no-store"));
    assert_eq!(fetch(&key_url, &[]).header("cdlc-cache"), Some("miss"), "the edge never keeps the key");
    let at_rest = std::fs::read_to_string(server.data.join(format!("objects/sources/{id}/content-key.json")))
        .expect("the key record");
    assert!(!at_rest.contains(&hex::encode(&key.body)), "stored wrapped, never in the clear: {at_rest}");

    // A segment leaves encrypted and decrypts with the key and its IV to the stored one.
    let raw = fetch(&server.url(&format!("{prefix}/360p/00001.m4s")), &[]);
    assert_eq!(raw.status, 200);
    assert!(!matches!(first_box(&raw.body), b"styp" | b"moof"), "the segment is not in the clear");
    assert_eq!(raw.body.len() % 16, 0);
    let decrypted = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key.body, &1u128.to_be_bytes())
        .expect("16-byte key and IV")
        .decrypt_padded_vec_mut::<Pkcs7>(&raw.body)
        .expect("PKCS#7 padding");
    assert!(matches!(first_box(&decrypted), b"styp" | b"moof"), "decrypted: {:?}", first_box(&decrypted));
    let stored =
        std::fs::read(server.data.join(format!("objects/streams/{id}/360p/00001.m4s"))).expect("stored");
    assert_eq!(decrypted, stored, "one stored segment set, encrypted at delivery");
    assert_eq!(
        fetch(&server.url(&format!("{prefix}/360p/00001.m4s")), &[]).body,
        raw.body,
        "cached as ciphertext"
    );

    // Without the key the segment does not decode; with it, it does.
    let init = fetch(&server.url(&format!("{prefix}/360p/init.mp4")), &[]).body;
    assert_eq!(first_box(&init), b"ftyp", "the init section is clear");
    let (locked, opened) = (dir.path().join("locked.mp4"), dir.path().join("opened.mp4"));
    std::fs::write(&locked, [init.as_slice(), raw.body.as_slice()].concat()).expect("write");
    std::fs::write(&opened, [init.as_slice(), decrypted.as_slice()].concat()).expect("write");
    let probe = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(&locked)
        .args(["-map", "0:v:0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        !probe.status.success() || !probe.stderr.is_empty(),
        "ffmpeg decoded the encrypted segment without its key"
    );
    assert!(decoded_video_frames(&opened, 0) > 0);

    // ffmpeg plays the whole encrypted HLS through the signed URL, every stream.
    decode_all(Path::new(&server.url(&master)));
    let frames = decoded_video_frames(Path::new(&server.url(&master)), 0);
    assert!(frames >= 80, "3 s at 30 fps, got {frames} frames");

    // Refusals, as JSON.
    let unsigned = fetch(&server.url(&format!("/streams/{id}/content.key")), &[]);
    assert_eq!(unsigned.status, 403);
    assert_eq!(
        unsigned.json()["error"]["code"],
        "forbidden",
        "{:?}",
        String::from_utf8_lossy(&unsigned.body)
    );
    let token = prefix.rsplit('~').next().expect("token");
    let other = fetch(&server.url(&format!("/streams/{plain_id}/~{token}/content.key")), &[]);
    assert_eq!(other.status, 403, "a token is for its own asset only");
    assert!(other.json()["error"]["message"].as_str().unwrap_or_default().contains("does not match"));
    let tampered = token.replacen('.', ".1", 1);
    assert_eq!(fetch(&server.url(&format!("/streams/{id}/~{tampered}/content.key")), &[]).status, 403);
    let (licence_request, kid) = cenc_dash(&server, &id, &prefix, &key.body, dir.path());
    cenc_hls(&server, &view, &id, &prefix, (&key.body, &kid), dir.path());

    // A standalone edge in front keeps neither the key nor an unsigned path open.
    let signing = std::fs::read_to_string(server.data.join("signing-keys")).expect("signing keys");
    let edge = StandaloneEdge::start(
        &server.url(""),
        &[("CDLC_EDGE_ORIGIN_TOKEN", TOKEN), ("CDLC_SIGNING_KEYS", signing.trim())],
    );
    for _ in 0..2 {
        let through = fetch(&edge.url(&format!("{prefix}/content.key")), &[]);
        assert_eq!((through.status, through.body.as_slice()), (200, key.body.as_slice()));
        assert_eq!(through.header("cdlc-cache"), Some("miss"));
        assert_eq!(through.header("cache-control"), Some("private, no-store"));
    }
    assert_eq!(fetch(&edge.url(&format!("/streams/{id}/content.key")), &[]).status, 403);
    decode_all(Path::new(&edge.url(&master)));
    // The ClearKey licence through it: posted, answered from the origin's key set.
    let post = ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &licence_request];
    let through = fetch(&edge.url(&format!("{prefix}/clearkey.json")), &post);
    assert_eq!(through.status, 200, "{}", String::from_utf8_lossy(&through.body));
    assert_eq!(through.header("cache-control"), Some("private, no-store"));
    assert_eq!(fetch(&edge.url(&format!("/streams/{id}/clearkey.json")), &post).status, 403);
    let segment = format!("{prefix}/cenc/360p/00002.m4s");
    assert_eq!(fetch(&edge.url(&segment), &[]).body, fetch(&server.url(&segment), &[]).body);

    // The plain asset is as it was: clear segments, no key, DASH.
    let plain_view = server.json(&format!("/api/v1/assets/{plain_id}"));
    assert_eq!(plain_view["encrypted"], false, "{plain_view}");
    let plain_dash = plain_view["playback"]["dash"].as_str().expect("dash").to_owned();
    let plain_media = fetch(&server.url(&format!("/streams/{plain_id}/360p/playlist.m3u8")), &[]);
    assert!(!String::from_utf8_lossy(&plain_media.body).contains("EXT-X-KEY"));
    let plain_segment = fetch(&server.url(&format!("/streams/{plain_id}/360p/00001.m4s")), &[]);
    assert!(matches!(first_box(&plain_segment.body), b"styp" | b"moof"));
    assert_eq!(fetch(&server.url(&format!("/streams/{plain_id}/content.key")), &[]).status, 404);
    assert_eq!(fetch(&server.url(&format!("/streams/{plain_id}/clearkey.json")), &[]).status, 404);
    assert_eq!(fetch(&server.url(&format!("/streams/{plain_id}/cenc/360p/init.mp4")), &[]).status, 404);
    assert_eq!(fetch(&server.url(&format!("/streams/{plain_id}/cenc/master.m3u8")), &[]).status, 404);
    assert!(
        plain_view["playback"].get("hls_cenc").is_none() && plain_view["playback"].get("clearkey").is_none()
    );
    let plain_mpd = fetch(&server.url(&plain_dash), &[]);
    assert!(!String::from_utf8_lossy(&plain_mpd.body).contains("ContentProtection"));
    decode_all(Path::new(&server.url(&plain_dash)));
    drop(edge);

    // Rotation of the master key, as the README says: the new key current,
    // the old one previous; the asset's key is the same and is re-wrapped.
    let data = server.data.clone();
    drop(server);
    let old_master =
        std::fs::read_to_string(data.join("encryption-master-key")).expect("generated master key");
    let new_master = "5a".repeat(32);
    let record = data.join(format!("objects/sources/{id}/content-key.json"));
    let sealed_by = || -> String {
        let text = std::fs::read(&record).expect("the key record");
        serde_json::from_slice::<serde_json::Value>(&text).expect("JSON")["master_key"]
            .as_str()
            .expect("id")
            .into()
    };
    let before = sealed_by();
    let rotated = Server::start(
        &data,
        &[
            ("CDLC_ENCRYPTION_MASTER_KEY", &new_master),
            ("CDLC_ENCRYPTION_PREVIOUS_MASTER_KEYS", old_master.trim()),
        ],
    );
    let again = fetch(&rotated.url(&format!("{prefix}/content.key")), &[]);
    assert_eq!((again.status, &again.body), (200, &key.body), "the same key under the new master key");
    assert_ne!(sealed_by(), before, "re-wrapped under the new master key");
    drop(rotated);
    let new_only = Server::start(&data, &[("CDLC_ENCRYPTION_MASTER_KEY", &new_master)]);
    assert_eq!(
        fetch(&new_only.url(&format!("{prefix}/content.key")), &[]).body,
        key.body,
        "the old key can go"
    );
    drop(new_only);
    // The wrong master key: errors as JSON (the log names the key id to
    // add: key_wrap's tests), not a crash, and nothing in the clear.
    let wrong = Server::start(&data, &[("CDLC_ENCRYPTION_MASTER_KEY", &"a5".repeat(32))]);
    let refused = fetch(&wrong.url(&format!("{prefix}/content.key")), &[]);
    assert_eq!((refused.status, refused.json()["error"]["code"].as_str()), (502, Some("origin_unavailable")));
    let segment = fetch(&wrong.url(&format!("{prefix}/360p/00001.m4s")), &[]);
    assert_eq!(segment.status, 502, "no clear segment for want of the key");
    let (status, view) = wrong.curl(&["-H", &auth], &format!("/api/v1/assets/{id}"));
    assert_eq!(status, 500, "{view}");
    assert_eq!(wrong.get("/healthz").0, 200);
}

/// The boxes directly inside `data`: (type, body).
fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        assert!(size >= 8 && at + size <= data.len(), "a box overruns at {at}");
        out.push((data[at + 4..at + 8].try_into().expect("4 bytes"), &data[at + 8..at + size]));
        at += size;
    }
    assert_eq!(at, data.len(), "boxes fill their parent");
    out
}

/// The body of the box at `path` (each step a child of the previous; a
/// number skips that many leading bytes of the box's body first).
fn box_at<'a>(data: &'a [u8], path: &[(&[u8; 4], usize)]) -> &'a [u8] {
    let mut body = data;
    for (kind, skip) in path {
        body = boxes(body)
            .into_iter()
            .find(|(k, _)| k == *kind)
            .unwrap_or_else(|| panic!("no '{}'", String::from_utf8_lossy(*kind)))
            .1;
        body = &body[*skip..];
    }
    body
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// The frames of fragmented MP4 `file` (framemd5 of its first stream),
/// decrypted with `key` if given; None if ffmpeg reports any error. The
/// file is read as a stream, in order, the way a player reads segments:
/// given a seekable file, ffmpeg 5.1 indexes all its fragments up front and
/// then pairs samples with another fragment's `senc` entries.
fn frame_digests(file: &Path, key: Option<&str>) -> Option<Vec<String>> {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-nostdin", "-v", "error"]);
    if let Some(key) = key {
        command.args(["-decryption_key", key]);
    }
    let output = command
        .args(["-f", "mp4", "-i", "pipe:0", "-map", "0:0", "-f", "framemd5", "-"])
        .stdin(std::fs::File::open(file).expect("open"))
        .output()
        .expect("ffmpeg");
    if !output.status.success() || !output.stderr.is_empty() {
        eprintln!("ffmpeg on {}: {}", file.display(), String::from_utf8_lossy(&output.stderr));
    }
    (output.status.success() && output.stderr.is_empty()).then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit(',').next().unwrap_or_default().trim().to_owned())
            .collect()
    })
}

/// DASH of the encrypted asset: a protected MPD, CENC segments that only
/// the key opens (to the very frames of the clear ones), a ClearKey
/// licence on the signed URL only, and the same bytes on every fetch.
/// Returns a licence request for the asset's key id, and the key id.
fn cenc_dash(server: &Server, id: &str, prefix: &str, key: &[u8], dir: &Path) -> (String, Vec<u8>) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mpd = fetch(&server.url(&format!("{prefix}/manifest.mpd")), &[]);
    assert_eq!(mpd.status, 200);
    let text = String::from_utf8_lossy(&mpd.body).into_owned();
    let parsed = dash_mpd_core::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut kid = None;
    for set in &parsed.periods[0].adaptations {
        if !matches!(set.contentType.as_deref(), Some("video" | "audio")) {
            continue;
        }
        let schemes: Vec<_> = set.ContentProtection.iter().map(|c| c.schemeIdUri.as_str()).collect();
        assert!(schemes.contains(&"urn:mpeg:dash:mp4protection:2011"), "{text}");
        assert!(schemes.contains(&"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"), "ClearKey: {text}");
        let template = set.representations[0].SegmentTemplate.as_ref().expect("template");
        assert!(template.media.as_deref().unwrap_or_default().starts_with("cenc/"), "{text}");
        kid = text.split("cenc:default_KID=\"").nth(1).and_then(|rest| rest.split('"').next());
    }
    let kid_hex = kid.expect("a default_KID").replace('-', "");
    let kid = hex::decode(&kid_hex).expect("a hex key id");
    assert_eq!(kid.len(), 16);
    assert!(text.contains("<dashif:Laurl>clearkey.json</dashif:Laurl>"), "{text}");

    // The licence: 403 unsigned, the asset's key on the signed URL, GET or POST.
    let license_url = server.url(&format!("{prefix}/clearkey.json"));
    let unsigned = server.url(&format!("/streams/{id}/clearkey.json"));
    let kid_b64 = URL_SAFE_NO_PAD.encode(&kid);
    let request = format!("{{\"kids\":[\"{kid_b64}\"],\"type\":\"temporary\"}}");
    let post = |url: &str, body: &str| {
        fetch(url, &["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body])
    };
    for refused in [fetch(&unsigned, &[]), post(&unsigned, &request)] {
        assert_eq!((refused.status, refused.json()["error"]["code"].as_str()), (403, Some("forbidden")));
    }
    let licence = post(&license_url, &request);
    assert_eq!(licence.status, 200, "{}", String::from_utf8_lossy(&licence.body));
    assert_eq!(licence.header("cache-control"), Some("private, no-store"));
    let keys = licence.json();
    assert_eq!(keys["keys"][0]["kid"].as_str(), Some(kid_b64.as_str()), "{keys}");
    assert_eq!(keys["keys"][0]["kty"], "oct");
    let k = URL_SAFE_NO_PAD.decode(keys["keys"][0]["k"].as_str().expect("k")).expect("base64url");
    assert_eq!(k, key, "the licence carries the asset's content key");
    assert_eq!(fetch(&license_url, &[]).json(), keys, "a GET answers the same key set");
    let with_token = fetch(&unsigned, &["-X", "POST", "-H", &auth, "--data-binary", &request]);
    assert_eq!(with_token.status, 200, "the admin token opens it too");
    let unknown = post(&license_url, "{\"kids\":[\"AAAAAAAAAAAAAAAAAAAAAA\"]}");
    assert_eq!(unknown.status, 404);
    let bad = post(&license_url, "kids please");
    assert_eq!((bad.status, bad.json()["error"]["code"].as_str()), (400, Some("bad_request")));
    assert_eq!(post(&server.url(&format!("{prefix}/manifest.mpd")), &request).status, 405);

    // Segments: the CENC ones, not the clear ones, decodable only with the key.
    let key_hex = hex::encode(key);
    for rendition in ["360p", "audio"] {
        let cenc = |file: &str| fetch(&server.url(&format!("{prefix}/cenc/{rendition}/{file}")), &[]);
        let stored = |file: &str| {
            std::fs::read(server.data.join(format!("objects/streams/{id}/{rendition}/{file}")))
                .expect("stored")
        };
        // The second segment: a whole 2 s (the first is short, for a fast start).
        let (init, segment) = (cenc("init.mp4"), cenc("00002.m4s"));
        assert_eq!((init.status, segment.status), (200, 200), "{rendition}");
        let entry = if rendition == "audio" { b"enca" } else { b"encv" };
        let stsd = box_at(
            &init.body,
            &[(b"moov", 0), (b"trak", 0), (b"mdia", 0), (b"minf", 0), (b"stbl", 0), (b"stsd", 8)],
        );
        let fixed = if rendition == "audio" { 28 } else { 78 };
        let tenc = box_at(stsd, &[(entry, fixed), (b"sinf", 0), (b"schi", 0), (b"tenc", 0)]);
        assert_eq!(
            (&tenc[6..8], &tenc[8..24]),
            (&[1u8, 16][..], kid.as_slice()),
            "protected, 16-byte IVs, the KID"
        );
        let pssh = box_at(&init.body, &[(b"moov", 0), (b"pssh", 0)]);
        assert_eq!(
            hex::encode(&pssh[4..20]),
            "1077efecc0b24d02ace33c1e52e2fb4b",
            "the W3C ClearKey system id"
        );

        let clear = stored("00002.m4s");
        let mdat = |data: &[u8]| box_at(data, &[(b"mdat", 0)]).to_vec();
        assert_eq!(mdat(&segment.body).len(), mdat(&clear).len(), "CTR keeps the sizes");
        assert_ne!(mdat(&segment.body), mdat(&clear), "the media data is not the clear one");
        let traf = box_at(&segment.body, &[(b"moof", 0), (b"traf", 0)]);
        let samples = be32(box_at(traf, &[(b"trun", 0)]), 4) as usize;
        let senc = box_at(traf, &[(b"senc", 0)]);
        let subsamples = be32(senc, 0) & 0x2 != 0;
        assert_eq!(subsamples, rendition != "audio", "video has subsample maps, audio none");
        assert_eq!(be32(senc, 4) as usize, samples, "one senc entry per sample");
        let (mut ivs, mut at) = (Vec::new(), 8);
        for _ in 0..samples {
            ivs.push(senc[at..at + 16].to_vec());
            at += 16;
            if subsamples {
                at += 2 + 6 * u16::from_be_bytes([senc[at], senc[at + 1]]) as usize;
            }
        }
        assert_eq!(at, senc.len(), "senc holds exactly the samples' entries");
        ivs.sort();
        ivs.dedup();
        assert_eq!(ivs.len(), samples, "every IV is different");
        assert!(box_at(traf, &[(b"saiz", 0)]).len() >= 9 && box_at(traf, &[(b"saio", 0)]).len() == 12);

        let (locked, opened) =
            (dir.join(format!("cenc-{rendition}.mp4")), dir.join(format!("clear-{rendition}.mp4")));
        std::fs::write(&locked, [init.body.as_slice(), &segment.body].concat()).expect("write");
        std::fs::write(&opened, [stored("init.mp4"), clear].concat()).expect("write");
        let expected = frame_digests(&opened, None).expect("the clear segment decodes");
        assert!(expected.len() >= 40, "{rendition}: 2 s of frames, got {}", expected.len());
        let decrypted = frame_digests(&locked, Some(&key_hex)).expect("the key opens the CENC segment");
        assert_eq!(decrypted, expected, "{rendition}: decrypted, the very frames of the clear segment");
        if rendition != "audio" {
            assert_ne!(
                frame_digests(&locked, None),
                Some(expected),
                "without the key: errors or other pictures"
            );
        }
        let wrong = hex::encode([0x5a; 16]);
        assert_ne!(frame_digests(&locked, Some(&wrong)), Some(decrypted), "another key gives other frames");

        // Cached at the edge; purged and encrypted again, the same bytes.
        let cached = cenc("00002.m4s");
        assert!(
            cached.header("cdlc-cache").unwrap_or_default().starts_with("hit"),
            "{:?}",
            cached.header("cdlc-cache")
        );
        let purge = fetch(
            &server.url("/api/v1/edge/purge"),
            &["-X", "POST", "-H", &auth, "--data", &format!("{{\"asset\":\"{id}\"}}")],
        );
        assert_eq!(purge.status, 200);
        let again = cenc("00002.m4s");
        assert_eq!(again.header("cdlc-cache"), Some("miss"), "purged: encrypted again");
        assert_eq!(again.body, segment.body, "the same segment, the same bytes (IVs are derived, not drawn)");
    }
    (request, kid)
}

/// HLS over the DASH CENC set: `playback.hls_cenc` is the stored master
/// under `cenc/`, whose media playlists carry one SAMPLE-AES-CTR ClearKey
/// key with the MPD's key id and name the very CENC segments of the MPD;
/// the whole rendition, as a player assembles it from the playlist, opens
/// with the key to the frames of the clear one.
fn cenc_hls(
    server: &Server,
    view: &serde_json::Value,
    id: &str,
    prefix: &str,
    (key, kid): (&[u8], &[u8]),
    dir: &Path,
) {
    let master_url = format!("{prefix}/cenc/master.m3u8");
    assert_eq!(view["playback"]["hls_cenc"].as_str(), Some(master_url.as_str()), "{view}");
    assert_eq!(
        view["playback"]["clearkey"].as_str(),
        Some(format!("{prefix}/clearkey.json").as_str()),
        "{view}"
    );
    let stored =
        |name: &str| std::fs::read(server.data.join(format!("objects/streams/{id}/{name}"))).expect("stored");
    let master = fetch(&server.url(&master_url), &[]);
    assert_eq!(master.status, 200);
    assert_eq!(master.body, stored("master.m3u8"), "the master as stored: its URIs resolve under cenc/");
    let key_line = format!(
        "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"../../content.key\",KEYID=0x{},KEYFORMAT=\"org.w3.clearkey\",KEYFORMATVERSIONS=\"1\"",
        hex::encode(kid)
    );
    for rendition in ["360p", "audio"] {
        let media = fetch(&server.url(&format!("{prefix}/cenc/{rendition}/playlist.m3u8")), &[]);
        assert_eq!(media.status, 200, "{rendition}");
        let text = String::from_utf8_lossy(&media.body).into_owned();
        assert_eq!(text.matches("#EXT-X-KEY").count(), 1, "{text}");
        let at = text.find(&key_line).unwrap_or_else(|| panic!("{key_line} in {text}"));
        assert!(at < text.find("#EXT-X-MAP").expect("a map"), "the key covers the init section: {text}");
        let Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) = m3u8_rs::parse_playlist_res(text.as_bytes())
        else {
            panic!("not a media playlist: {text}");
        };
        // What a player fetches for it: the init section, then every segment.
        let map = playlist.segments[0].map.as_ref().expect("EXT-X-MAP").uri.clone();
        let get = |uri: &str| {
            let got = fetch(&server.url(&format!("{prefix}/cenc/{rendition}/{uri}")), &[]);
            assert_eq!(got.status, 200, "{rendition}/{uri}");
            got.body
        };
        let mut locked = get(&map);
        let mut clear = stored(&format!("{rendition}/init.mp4"));
        assert_ne!(locked, clear, "the init section is the protected one (encv/enca, tenc, pssh)");
        for segment in &playlist.segments {
            let body = get(&segment.uri);
            let plain = stored(&format!("{rendition}/{}", segment.uri));
            assert_ne!(body, plain, "{}: not the clear segment", segment.uri);
            locked.extend(body);
            clear.extend(plain);
        }
        let (locked_file, clear_file) =
            (dir.join(format!("hls-cenc-{rendition}.mp4")), dir.join(format!("hls-clear-{rendition}.mp4")));
        std::fs::write(&locked_file, &locked).expect("write");
        std::fs::write(&clear_file, &clear).expect("write");
        let expected = frame_digests(&clear_file, None).expect("the clear rendition decodes");
        assert!(expected.len() >= 80, "{rendition}: 3 s of frames, got {}", expected.len());
        let opened = frame_digests(&locked_file, Some(&hex::encode(key))).expect("the key opens it");
        assert_eq!(opened, expected, "{rendition}: the very frames of the clear rendition");
    }
}
