use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use gst_pbutils::prelude::*;
use gst_pbutils::{Discoverer, DiscovererResult};
use serde::{Deserialize, Serialize};

use crate::{IngestError, Limits};

/// How long the Discoverer may take on one file.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// What cdlc knows about a source after probing it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Container format, as GStreamer describes it ("ISO MP4/M4A", "Matroska", …).
    pub container: Option<String>,
    /// Duration of the longest stream.
    pub duration: Duration,
    /// The first video stream: the one that is transcoded.
    pub video: VideoInfo,
    /// Every audio stream, in the order of the file; the first one is kept.
    pub audio: Vec<AudioInfo>,
    /// How many more video streams the file has; they are not transcoded.
    pub ignored_video_streams: usize,
    /// Every text stream (SRT, ASS, mov_text…), in the order of the file;
    /// the transcode child extracts them as WebVTT.
    #[serde(default)]
    pub subtitles: Vec<SubtitleInfo>,
}

/// The picture as it should be shown: stored size, rotation and timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoInfo {
    pub codec: String,
    /// Size of the decoded pictures as stored in the file.
    pub stored_width: u32,
    pub stored_height: u32,
    /// Size as displayed: square pixels, after rotation.
    pub display_width: u32,
    pub display_height: u32,
    pub rotation: Rotation,
    /// Frames per second (numerator, denominator); `None` when the file does
    /// not say (variable frame rate).
    pub frame_rate: Option<(i32, i32)>,
    pub interlaced: bool,
    /// Bits per sample of the luma plane when the codec says (8, 10, 12).
    pub bit_depth: Option<u32>,
    /// Chroma subsampling when the codec says ("4:2:0", "4:2:2", "4:4:4").
    pub chroma_format: Option<String>,
    pub stream_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AudioInfo {
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
    pub language: Option<String>,
    /// The track's title tag ("Director's commentary"), when it has one.
    #[serde(default)]
    pub title: Option<String>,
    pub stream_id: Option<String>,
}

/// A text stream of the source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubtitleInfo {
    /// As GStreamer names it ("SubRip subtitle format", "Timed Text").
    pub codec: String,
    pub language: Option<String>,
    /// The track's title tag ("English (SDH)"), when it has one.
    pub title: Option<String>,
    pub stream_id: Option<String>,
}

/// Rotation a player must apply to show the stored pictures upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rotation {
    None,
    Clockwise90,
    Rotate180,
    Clockwise270,
}

impl Rotation {
    /// Whether the displayed picture swaps width and height.
    pub fn swaps_axes(self) -> bool {
        matches!(self, Rotation::Clockwise90 | Rotation::Clockwise270)
    }

    fn from_orientation_tag(tag: &str) -> Rotation {
        match tag {
            "rotate-90" | "flip-rotate-90" => Rotation::Clockwise90,
            "rotate-180" | "flip-rotate-180" => Rotation::Rotate180,
            "rotate-270" | "flip-rotate-270" => Rotation::Clockwise270,
            _ => Rotation::None,
        }
    }
}

impl MediaInfo {
    /// Frames per second as a float, or `None` for variable frame rate.
    pub fn frame_rate(&self) -> Option<f64> {
        self.video.frame_rate.filter(|(n, d)| *n > 0 && *d > 0).map(|(n, d)| n as f64 / d as f64)
    }
}

/// Containers only libav's demuxers read, which in GStreamer 1.22 never
/// reach the end of the stream (avdemux loops on the last packet's error):
/// refused at once rather than stalling a transcode for minutes.
/// Each is known by its first bytes.
const UNREADABLE_CONTAINERS: [(&[u8], &str); 3] = [
    (b"GIF87a", "an animated GIF"),
    (b"GIF89a", "an animated GIF"),
    (b"nut/multimedia container\0", "a NUT file"),
];

/// Sample entry codes GStreamer 1.22's qtdemux does not map to a decoder
/// although gst-libav has one (DNxHR: qtdemux knows only `AVdn`; the
/// `AVdh` mapping came in a later GStreamer).
const UNMAPPED_CODES: [([u8; 4], &str); 1] =
    [(*b"AVdh", "DNxHR video (QuickTime code AVdh, which GStreamer 1.22 cannot hand to its DNxHD decoder)")];

/// Probes the file at `path` and checks it against `limits`.
///
/// The checks that need no decoding (empty, too large) run first, so a
/// zero-byte or oversized file is refused without starting GStreamer.
pub fn probe(path: &Path, limits: &Limits) -> Result<MediaInfo, IngestError> {
    let metadata = std::fs::metadata(path)
        .map_err(|source| IngestError::Unreadable { path: path.to_owned(), source })?;
    limits.check_file_size(metadata.len())?;
    let unreadable = |source| IngestError::Unreadable { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    if let Some((kind, need)) = crate::boxes::box_past_end(&mut file, metadata.len()).map_err(unreadable)? {
        return Err(IngestError::Truncated { kind, have: metadata.len(), need });
    }
    // Before the Discoverer, which can hang on these as the pipeline does.
    let mut head = [0u8; 32];
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let head_len = file.read(&mut head).map_err(unreadable)?;
    if let Some((_, what)) =
        UNREADABLE_CONTAINERS.iter().find(|(magic, _)| head[..head_len].starts_with(magic))
    {
        return Err(IngestError::UnreadableContainer { what: (*what).to_owned() });
    }
    gst::init().map_err(|e| IngestError::Init(e.to_string()))?;

    let absolute = std::path::absolute(path)
        .map_err(|source| IngestError::Unreadable { path: path.to_owned(), source })?;
    let uri = gst::glib::filename_to_uri(&absolute, None)
        .map_err(|e| IngestError::NotMedia { detail: e.to_string() })?;
    let timeout = DEFAULT_PROBE_TIMEOUT;
    let discoverer = Discoverer::new(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
        .map_err(|e| IngestError::Init(e.to_string()))?;
    let info = match discoverer.discover_uri(&uri) {
        Ok(info) => info,
        Err(e) => {
            // The Discoverer names no codec when a demuxer exposes one it
            // cannot map; the index of an MP4 or MOV file does.
            let codes = crate::boxes::sample_entry_codes(&mut file, metadata.len()).unwrap_or_default();
            if let Some((_, what)) = UNMAPPED_CODES.iter().find(|(code, _)| codes.contains(code)) {
                return Err(IngestError::MissingDecoder { detail: (*what).to_owned() });
            }
            return Err(classify_discoverer_error(&e.to_string()));
        }
    };

    let container_caps = info.stream_info().and_then(|s| s.caps());

    // MissingPlugins covers the whole file: a subtitle or data stream
    // without a decoder must not refuse a video that decodes.
    let missing_plugins = match info.result() {
        DiscovererResult::Ok => Vec::new(),
        DiscovererResult::Timeout => return Err(IngestError::ProbeTimeout(timeout)),
        DiscovererResult::MissingPlugins => {
            info.missing_elements_installer_details().iter().map(|d| d.to_string()).collect()
        }
        other => return Err(IngestError::NotMedia { detail: format!("{other:?}") }),
    };

    let videos = info.video_streams();
    let audios = info.audio_streams();
    let Some(first_video) = choose_video(&videos) else {
        if videos.iter().any(|v| v.is_image()) {
            return Err(IngestError::StillImage);
        }
        let found = if audios.is_empty() {
            "no audio or video".to_owned()
        } else {
            format!("{} audio stream(s) only", audios.len())
        };
        return Err(IngestError::NoVideo { found });
    };
    let chosen_caps = [first_video.caps(), audios.first().and_then(|a| a.caps())];
    for caps in chosen_caps.iter().flatten() {
        if lacks_decoder(caps, &missing_plugins) {
            return Err(IngestError::MissingDecoder { detail: describe_caps(caps) });
        }
    }

    let video = describe_video(first_video);
    limits.check_picture(&video)?;
    let audio = audios.iter().map(describe_audio).collect();
    let duration = info
        .duration()
        .map(|d| Duration::from_nanos(d.nseconds()))
        .filter(|d| !d.is_zero())
        .ok_or(IngestError::UnknownDuration)?;
    let container = container_caps.map(|caps| describe_caps(&caps));

    let media = MediaInfo {
        file_size: metadata.len(),
        container,
        duration,
        video,
        audio,
        ignored_video_streams: videos.len() - 1,
        subtitles: info
            .subtitle_streams()
            .iter()
            .filter(|s| !unknown_subtitle(s))
            .map(describe_subtitle)
            .chain(matroska_webvtt(path))
            .collect(),
    };
    limits.check(&media)?;
    Ok(media)
}

/// The video stream to transcode: the first that moves and is not a
/// picture codec (a cover image stored as a one-frame JPEG or PNG track
/// before the film), else the first that moves (Motion JPEG, an animated
/// GIF), else none.
fn choose_video(videos: &[gst_pbutils::DiscovererVideoInfo]) -> Option<&gst_pbutils::DiscovererVideoInfo> {
    let moving = || videos.iter().filter(|v| !v.is_image());
    let picture_codec = |v: &gst_pbutils::DiscovererVideoInfo| {
        v.caps().and_then(|c| c.structure(0).map(|s| matches!(s.name().as_str(), "image/jpeg" | "image/png")))
            == Some(true)
    };
    moving().find(|v| !picture_codec(v)).or_else(|| moving().next())
}

/// Whether one of the Discoverer's missing-plugin details (the installer's
/// "gstreamer|1.0|app|description|decoder-CAPS") names a decoder for `caps`.
fn lacks_decoder(caps: &gst::CapsRef, missing: &[String]) -> bool {
    let Some(name) = caps.structure(0).map(|s| s.name().to_string()) else {
        return false;
    };
    missing.iter().any(|detail| {
        let wanted = detail.rsplit('|').next().unwrap_or_default();
        let wanted = wanted.strip_prefix("decoder-").unwrap_or(wanted);
        wanted.split(',').next().map(str::trim) == Some(name.as_str())
    })
}

fn classify_discoverer_error(message: &str) -> IngestError {
    let lower = message.to_lowercase();
    if lower.contains("incomplete") || lower.contains("truncated") || lower.contains("moov") {
        IngestError::Damaged { detail: message.to_owned() }
    } else {
        IngestError::NotMedia { detail: message.to_owned() }
    }
}

fn describe_caps(caps: &gst::CapsRef) -> String {
    gst_pbutils::pb_utils_get_codec_description(caps).to_string()
}

fn describe_video(stream: &gst_pbutils::DiscovererVideoInfo) -> VideoInfo {
    let orientation =
        stream.tags().and_then(|t| t.get::<gst::tags::ImageOrientation>().map(|v| v.get().to_owned()));
    let rotation = orientation.as_deref().map(Rotation::from_orientation_tag).unwrap_or(Rotation::None);

    let (stored_width, stored_height) = (stream.width(), stream.height());
    let par = stream.par();
    let (par_n, par_d) = (par.numer().max(1) as u64, par.denom().max(1) as u64);
    // Square the pixels by stretching the width, as players do.
    let square_width = (stored_width as u64 * par_n / par_d) as u32;
    let (display_width, display_height) =
        if rotation.swaps_axes() { (stored_height, square_width) } else { (square_width, stored_height) };
    let rate = stream.framerate();
    let frame_rate = (rate.numer() > 0 && rate.denom() > 0).then(|| (rate.numer(), rate.denom()));
    let caps = stream.caps();
    let structure_field = |name: &str| -> Option<gst::glib::SendValue> {
        caps.as_ref().and_then(|c| c.structure(0)).and_then(|s| s.value(name).ok().cloned())
    };
    let bit_depth = structure_field("bit-depth-luma").and_then(|v| v.get::<u32>().ok());
    let chroma_format = structure_field("chroma-format").and_then(|v| v.get::<String>().ok());

    VideoInfo {
        codec: caps.as_ref().map(|c| describe_caps(c)).unwrap_or_else(|| "unknown".into()),
        stored_width,
        stored_height,
        display_width,
        display_height,
        rotation,
        frame_rate,
        interlaced: stream.is_interlaced(),
        bit_depth,
        chroma_format,
        stream_id: stream.stream_id().map(|s| s.to_string()),
    }
}

/// A text stream whose codec matroskademux does not know (WebVTT among
/// them, listed by [`matroska_webvtt`] instead): nothing can read it.
fn unknown_subtitle(stream: &gst_pbutils::DiscovererSubtitleInfo) -> bool {
    stream.caps().and_then(|c| c.structure(0).map(|s| s.name() == "application/x-subtitle-unknown"))
        == Some(true)
}

/// The WebVTT tracks of a Matroska source, which the Discoverer does not
/// list (GStreamer 1.22's matroskademux has no WebVTT); a file whose headers
/// cannot be read for them has none.
fn matroska_webvtt(path: &Path) -> Vec<SubtitleInfo> {
    crate::matroska::webvtt_tracks(path)
        .unwrap_or_default()
        .into_iter()
        .map(|track| SubtitleInfo {
            codec: "WebVTT".into(),
            stream_id: Some(track.stream_id()),
            // As matroskademux gives other tracks' languages: ISO 639-1 where one exists.
            language: track.language.map(|code| {
                gst_tag::language_codes::language_code_iso_639_1(&code)
                    .map_or(code, |short| short.to_string())
            }),
            title: track.title,
        })
        .collect()
}

fn describe_subtitle(stream: &gst_pbutils::DiscovererSubtitleInfo) -> SubtitleInfo {
    SubtitleInfo {
        codec: stream.caps().map(|c| describe_caps(&c)).unwrap_or_else(|| "unknown".into()),
        language: stream.language().map(|s| s.to_string()),
        title: stream.tags().and_then(|t| t.get::<gst::tags::Title>().map(|v| v.get().to_owned())),
        stream_id: stream.stream_id().map(|s| s.to_string()),
    }
}

fn describe_audio(stream: &gst_pbutils::DiscovererAudioInfo) -> AudioInfo {
    AudioInfo {
        codec: stream.caps().map(|c| describe_caps(&c)).unwrap_or_else(|| "unknown".into()),
        channels: stream.channels(),
        sample_rate: stream.sample_rate(),
        language: stream.language().map(|s| s.to_string()),
        title: stream.tags().and_then(|t| t.get::<gst::tags::Title>().map(|v| v.get().to_owned())),
        stream_id: stream.stream_id().map(|s| s.to_string()),
    }
}
