//! WebVTT tracks inside Matroska/WebM files, which GStreamer 1.22's
//! matroskademux does not expose (it knows `S_TEXT/UTF8`, SSA/ASS and USF):
//! a small EBML reader that finds the tracks (`D_WEBVTT/SUBTITLES`,
//! `D_WEBVTT/CAPTIONS`, `D_WEBVTT/DESCRIPTIONS` as ffmpeg and WebM write
//! them, `S_TEXT/WEBVTT` as Matroska v4 does) and reads their blocks.
//!
//! Every other element is skipped by its size without being read, so a pass
//! over a film reads its headers, not its media. Every length is checked
//! against the file and a bound; a damaged file is an error, never a panic.

use std::io::{self, BufReader, Read};
use std::path::Path;

/// The EBML magic at the start of a Matroska or WebM file.
const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
/// The most WebVTT tracks taken from one file.
const MAX_TRACKS: usize = 16;
/// The largest string (codec id, language, name) read.
const MAX_STRING: u64 = 4096;
/// The largest text block read; larger ones are skipped.
const MAX_BLOCK: u64 = 64 * 1024;
/// The most cues kept per track.
const MAX_CUES_PER_TRACK: usize = 100_000;
/// How far into the file the track list is looked for.
const MAX_HEADER_BYTES: u64 = 64 * 1024 * 1024;

const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const LANGUAGE: u32 = 0x22_B59C;
const LANGUAGE_BCP47: u32 = 0x22_B59D;
const NAME: u32 = 0x536E;
const CLUSTER: u32 = 0x1F43_B675;
const CLUSTER_TIMECODE: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const BLOCK_DURATION: u32 = 0x9B;

/// The Matroska track type of video.
const VIDEO_TRACK: u64 = 1;

/// A WebVTT track of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebVttTrack {
    /// Its Matroska track number.
    pub number: u64,
    /// Its language (`Language`, or `LanguageBCP47` when set), `und` left out.
    pub language: Option<String>,
    /// Its `Name`, when it has one.
    pub title: Option<String>,
}

impl WebVttTrack {
    /// The id the probe and the text pass give this track, in place of
    /// GStreamer's stream id (GStreamer does not see it).
    pub fn stream_id(&self) -> String {
        format!("matroska-webvtt-{}", self.number)
    }
}

/// One cue of a WebVTT track: its times in nanoseconds of the file's
/// timeline, and the block's payload (the cue text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebVttCue {
    pub start_ns: u64,
    pub duration_ns: Option<u64>,
    pub text: String,
}

/// The WebVTT tracks' cues, and the first video frame's time (the
/// transcode's media clock starts there).
#[derive(Debug, Default)]
pub struct WebVttCues {
    pub tracks: Vec<(WebVttTrack, Vec<WebVttCue>)>,
    pub first_video_ns: Option<u64>,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("not a valid Matroska file: {what}"))
}

/// Whether `path` starts like a Matroska or WebM file.
pub fn is_matroska(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == EBML_MAGIC
}

/// The WebVTT tracks of Matroska file `path` (none for any other file).
pub fn webvtt_tracks(path: &Path) -> io::Result<Vec<WebVttTrack>> {
    if !is_matroska(path) {
        return Ok(Vec::new());
    }
    let mut reader = Reader::open(path)?;
    reader.stop_at_cluster = true;
    reader.run()?;
    Ok(reader.webvtt_tracks())
}

/// Every cue of every WebVTT track of Matroska file `path`. The headers are
/// read first, so a file without WebVTT tracks costs no pass over its blocks.
pub fn webvtt_cues(path: &Path) -> io::Result<WebVttCues> {
    if webvtt_tracks(path)?.is_empty() {
        return Ok(WebVttCues::default());
    }
    let mut reader = Reader::open(path)?;
    reader.run()?;
    let tracks = reader.webvtt_tracks();
    let mut cues = std::mem::take(&mut reader.cues);
    Ok(WebVttCues {
        tracks: tracks
            .into_iter()
            .map(|t| {
                let list = cues.remove(&t.number).unwrap_or_default();
                (t, list)
            })
            .collect(),
        first_video_ns: reader.first_video_ns,
    })
}

#[derive(Debug, Default, Clone)]
struct Track {
    number: Option<u64>,
    kind: Option<u64>,
    codec: Option<String>,
    language: Option<String>,
    bcp47: Option<String>,
    name: Option<String>,
}

fn is_webvtt(codec: &str) -> bool {
    codec == "S_TEXT/WEBVTT" || codec.starts_with("D_WEBVTT/")
}

struct Reader {
    file: BufReader<std::fs::File>,
    len: u64,
    at: u64,
    stop_at_cluster: bool,
    timecode_scale: u64,
    tracks: Vec<Track>,
    cluster_timecode: u64,
    /// A BlockGroup's block, waiting for its duration: (track, start, text).
    pending: Option<(u64, u64, String)>,
    cues: std::collections::HashMap<u64, Vec<WebVttCue>>,
    first_video_ns: Option<u64>,
}

impl Reader {
    fn open(path: &Path) -> io::Result<Reader> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Reader {
            file: BufReader::with_capacity(64 * 1024, file),
            len,
            at: 0,
            stop_at_cluster: false,
            timecode_scale: 1_000_000,
            tracks: Vec::new(),
            cluster_timecode: 0,
            pending: None,
            cues: Default::default(),
            first_video_ns: None,
        })
    }

    fn webvtt_tracks(&self) -> Vec<WebVttTrack> {
        self.tracks
            .iter()
            .filter(|t| t.codec.as_deref().is_some_and(is_webvtt))
            .filter_map(|t| {
                let language = t.bcp47.clone().or_else(|| t.language.clone()).filter(|l| l != "und");
                Some(WebVttTrack { number: t.number?, language, title: t.name.clone() })
            })
            .take(MAX_TRACKS)
            .collect()
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.file.read_exact(&mut b)?;
        self.at += 1;
        Ok(b[0])
    }

    /// An EBML variable-size integer; `keep_marker` for element ids.
    /// `None` for the reserved all-ones value (an unknown size).
    fn vint(&mut self, keep_marker: bool) -> io::Result<Option<u64>> {
        let first = self.byte()?;
        let length = first.leading_zeros() as usize + 1;
        if length > 8 {
            return Err(invalid("a length of more than 8 bytes"));
        }
        let mut value = if keep_marker { u64::from(first) } else { u64::from(first) & (0xFF >> length) };
        let mut all_ones = value == (0xFF >> length);
        for _ in 1..length {
            let b = self.byte()?;
            all_ones &= b == 0xFF;
            value = (value << 8) | u64::from(b);
        }
        Ok(if !keep_marker && all_ones { None } else { Some(value) })
    }

    fn read(&mut self, size: u64, bound: u64) -> io::Result<Option<Vec<u8>>> {
        if size > bound {
            self.skip(size)?;
            return Ok(None);
        }
        let mut data = vec![0u8; size as usize];
        self.file.read_exact(&mut data)?;
        self.at += size;
        Ok(Some(data))
    }

    fn skip(&mut self, size: u64) -> io::Result<()> {
        let to = self
            .at
            .checked_add(size)
            .filter(|to| *to <= self.len)
            .ok_or_else(|| invalid("an element runs past the end"))?;
        let step = i64::try_from(size).map_err(|_| invalid("an element too large"))?;
        self.file.seek_relative(step)?;
        self.at = to;
        Ok(())
    }

    fn uint(&mut self, size: u64) -> io::Result<u64> {
        if size > 8 {
            return Err(invalid("an integer of more than 8 bytes"));
        }
        let data = self.read(size, 8)?.unwrap_or_default();
        Ok(data.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    fn string(&mut self, size: u64) -> io::Result<Option<String>> {
        Ok(self
            .read(size, MAX_STRING)?
            .map(|d| String::from_utf8_lossy(&d).trim_end_matches('\0').to_owned())
            .filter(|s| !s.is_empty()))
    }

    fn track(&mut self) -> io::Result<&mut Track> {
        self.tracks.last_mut().ok_or_else(|| invalid("a track field outside a TrackEntry"))
    }

    fn block_header_fits(size: u64) -> io::Result<()> {
        // A track number of at least one byte, a 16-bit time and the flags.
        if size < 4 {
            return Err(invalid("a block shorter than its header"));
        }
        Ok(())
    }

    /// Reads elements one after the other: the master elements that matter
    /// are entered (whatever their size says, so unknown sizes work), every
    /// other element is read if it is a wanted field, else skipped.
    fn run(&mut self) -> io::Result<()> {
        while self.at < self.len {
            if self.stop_at_cluster && self.at > MAX_HEADER_BYTES {
                break;
            }
            let id = match self.vint(true) {
                Ok(Some(id)) => id as u32,
                Ok(None) => return Err(invalid("a reserved element id")),
                // A file cut in the middle of an element: what was read stands.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            };
            let size = match self.vint(false) {
                Ok(size) => size,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            };
            match id {
                SEGMENT | INFO | TRACKS | BLOCK_GROUP => {}
                CLUSTER => {
                    self.flush_pending(None);
                    if self.stop_at_cluster {
                        break;
                    }
                }
                TRACK_ENTRY => {
                    if self.tracks.len() >= 128 {
                        return Err(invalid("more than 128 tracks"));
                    }
                    self.tracks.push(Track::default());
                }
                _ => {
                    let Some(size) = size else {
                        return Err(invalid("an element of unknown size that cannot have one"));
                    };
                    self.leaf(id, size)?;
                }
            }
        }
        self.flush_pending(None);
        Ok(())
    }

    fn leaf(&mut self, id: u32, size: u64) -> io::Result<()> {
        match id {
            TIMECODE_SCALE => self.timecode_scale = self.uint(size)?.max(1),
            TRACK_NUMBER => {
                let number = self.uint(size)?;
                self.track()?.number = Some(number);
            }
            TRACK_TYPE => {
                let kind = self.uint(size)?;
                self.track()?.kind = Some(kind);
            }
            CODEC_ID => {
                let codec = self.string(size)?;
                self.track()?.codec = codec;
            }
            LANGUAGE => {
                let language = self.string(size)?;
                self.track()?.language = language;
            }
            LANGUAGE_BCP47 => {
                let language = self.string(size)?;
                self.track()?.bcp47 = language;
            }
            NAME => {
                let name = self.string(size)?;
                self.track()?.name = name;
            }
            CLUSTER_TIMECODE => {
                self.flush_pending(None);
                self.cluster_timecode = self.uint(size)?;
            }
            SIMPLE_BLOCK | BLOCK => {
                self.flush_pending(None);
                self.block(size, id == BLOCK)?;
            }
            BLOCK_DURATION => {
                let duration = self.uint(size)?;
                self.flush_pending(Some(duration));
            }
            _ => self.skip(size)?,
        }
        Ok(())
    }

    fn kind_of(&self, number: u64) -> Option<(bool, bool)> {
        let track = self.tracks.iter().find(|t| t.number == Some(number))?;
        let text = track.codec.as_deref().is_some_and(is_webvtt);
        Some((text, track.kind == Some(VIDEO_TRACK)))
    }

    /// A block: its track number, its time relative to the cluster, flags,
    /// then the frame. Only WebVTT blocks and the first video block are read.
    fn block(&mut self, size: u64, in_group: bool) -> io::Result<()> {
        Self::block_header_fits(size)?;
        let start = self.at;
        let number = self.vint(false)?.ok_or_else(|| invalid("a block without a track number"))?;
        let mut head = [0u8; 3];
        self.file.read_exact(&mut head)?;
        self.at += 3;
        let used = self.at - start;
        let rest = size.checked_sub(used).ok_or_else(|| invalid("a block shorter than its header"))?;
        let relative = i64::from(i16::from_be_bytes([head[0], head[1]]));
        let laced = head[2] & 0x06 != 0;
        let cluster = i64::try_from(self.cluster_timecode).unwrap_or(i64::MAX);
        let ticks = u64::try_from(cluster.saturating_add(relative)).unwrap_or(0);
        let time_ns = ticks.saturating_mul(self.timecode_scale);
        let (text, video) = self.kind_of(number).unwrap_or((false, false));
        if video && self.first_video_ns.is_none() {
            self.first_video_ns = Some(time_ns);
        }
        let full = self.cues.get(&number).is_some_and(|c| c.len() >= MAX_CUES_PER_TRACK);
        if !text || laced || full {
            return self.skip(rest);
        }
        let Some(payload) = self.read(rest, MAX_BLOCK)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&payload).into_owned();
        if in_group {
            self.pending = Some((number, time_ns, text));
        } else {
            self.push(number, time_ns, None, text);
        }
        Ok(())
    }

    /// Ends the pending BlockGroup's cue with `duration` (in timecode units).
    fn flush_pending(&mut self, duration: Option<u64>) {
        if let Some((number, start, text)) = self.pending.take() {
            let duration = duration.map(|d| d.saturating_mul(self.timecode_scale));
            self.push(number, start, duration, text);
        }
    }

    fn push(&mut self, number: u64, start_ns: u64, duration_ns: Option<u64>, text: String) {
        let cues = self.cues.entry(number).or_default();
        if cues.len() < MAX_CUES_PER_TRACK {
            cues.push(WebVttCue { start_ns, duration_ns, text });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(id: u32, body: &[u8]) -> Vec<u8> {
        let id_bytes: Vec<u8> = id.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        let mut out = id_bytes;
        // An 8-byte size, as some muxers write them.
        out.push(0x01);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
        out.extend_from_slice(body);
        out
    }

    fn uint(id: u32, value: u64) -> Vec<u8> {
        element(id, &value.to_be_bytes())
    }

    fn block(id: u32, track: u8, relative: i16, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![0x80 | track];
        body.extend_from_slice(&relative.to_be_bytes());
        body.push(0x80);
        body.extend_from_slice(payload);
        element(id, &body)
    }

    fn file(dir: &Path, clusters: &[Vec<u8>]) -> std::path::PathBuf {
        let tracks = [
            element(
                TRACK_ENTRY,
                &[uint(TRACK_NUMBER, 1), uint(TRACK_TYPE, 1), element(CODEC_ID, b"V_MPEG4/ISO/AVC")].concat(),
            ),
            element(
                TRACK_ENTRY,
                &[
                    uint(TRACK_NUMBER, 2),
                    uint(TRACK_TYPE, 17),
                    element(CODEC_ID, b"D_WEBVTT/SUBTITLES"),
                    element(LANGUAGE, b"fre"),
                    element(NAME, b"Fran\xc3\xa7ais"),
                ]
                .concat(),
            ),
            element(
                TRACK_ENTRY,
                &[uint(TRACK_NUMBER, 3), uint(TRACK_TYPE, 17), element(CODEC_ID, b"S_TEXT/UTF8")].concat(),
            ),
        ]
        .concat();
        let segment =
            [element(INFO, &uint(TIMECODE_SCALE, 1_000_000)), element(TRACKS, &tracks), clusters.concat()]
                .concat();
        let bytes =
            [element(0x1A45_DFA3, &element(0x4282, b"matroska")), element(SEGMENT, &segment)].concat();
        let path = dir.join("subs.mkv");
        std::fs::write(&path, bytes).expect("write");
        path
    }

    #[test]
    fn webvtt_tracks_and_their_cues_are_read_and_everything_else_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let cluster = |timecode: u64, blocks: Vec<Vec<u8>>| {
            element(CLUSTER, &[vec![uint(CLUSTER_TIMECODE, timecode)], blocks].concat().concat())
        };
        let path = file(
            dir.path(),
            &[
                cluster(
                    0,
                    vec![
                        block(SIMPLE_BLOCK, 1, 23, &[0u8; 5000]),
                        element(
                            BLOCK_GROUP,
                            &[block(BLOCK, 2, 500, b"Bonjour"), uint(BLOCK_DURATION, 1000)].concat(),
                        ),
                        block(SIMPLE_BLOCK, 3, 600, b"not WebVTT"),
                    ],
                ),
                cluster(
                    2000,
                    vec![element(
                        BLOCK_GROUP,
                        &[block(BLOCK, 2, 900, b"<i>Encore</i>"), uint(BLOCK_DURATION, 800)].concat(),
                    )],
                ),
            ],
        );
        let tracks = webvtt_tracks(&path).expect("tracks");
        assert_eq!(
            tracks,
            vec![WebVttTrack { number: 2, language: Some("fre".into()), title: Some("Français".into()) }]
        );
        assert_eq!(tracks[0].stream_id(), "matroska-webvtt-2");
        let read = webvtt_cues(&path).expect("cues");
        assert_eq!(read.first_video_ns, Some(23_000_000));
        let (_, cues) = &read.tracks[0];
        assert_eq!(
            cues,
            &vec![
                WebVttCue { start_ns: 500_000_000, duration_ns: Some(1_000_000_000), text: "Bonjour".into() },
                WebVttCue {
                    start_ns: 2_900_000_000,
                    duration_ns: Some(800_000_000),
                    text: "<i>Encore</i>".into()
                },
            ]
        );
    }

    #[test]
    fn damaged_files_are_errors_or_what_was_read_never_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        let cluster = element(
            CLUSTER,
            &[uint(CLUSTER_TIMECODE, 0), element(BLOCK_GROUP, &block(BLOCK, 2, 1, b"Hi"))].concat(),
        );
        let path = file(dir.path(), &[cluster]);
        let whole = std::fs::read(&path).expect("read");
        for cut in (0..whole.len()).step_by(7) {
            std::fs::write(&path, &whole[..cut]).expect("write");
            let _ = webvtt_tracks(&path);
            let _ = webvtt_cues(&path);
        }
        let mut corrupt = whole.clone();
        for at in (40..corrupt.len()).step_by(11) {
            corrupt[at] ^= 0xFF;
            std::fs::write(&path, &corrupt).expect("write");
            let _ = webvtt_tracks(&path);
            let _ = webvtt_cues(&path);
        }
        let other = dir.path().join("other.mp4");
        std::fs::write(&other, b"\0\0\0\x18ftypisom").expect("write");
        assert!(webvtt_tracks(&other).expect("not Matroska").is_empty());
    }
}
