//! Where segments go, and what is known about them once written.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One media segment of one rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// 1-based, in presentation order.
    pub number: u32,
    /// Presentation time of its first sample, from the start of the stream.
    pub start: Duration,
    pub duration: Duration,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RenditionKind {
    Video {
        width: u32,
        height: u32,
        frame_rate: (i32, i32),
        bitrate_kbps: u32,
    },
    Audio {
        channels: u32,
        sample_rate: u32,
        bitrate: u32,
        /// ISO 639 code of the track's language, `und` when unknown (empty
        /// in packages written before languages were kept).
        #[serde(default)]
        language: String,
        /// The track's title from the source, for a player's audio menu.
        #[serde(default)]
        title: Option<String>,
    },
}

/// One rendition as it was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenditionOutput {
    pub name: String,
    pub kind: RenditionKind,
    /// RFC 6381 codec string read from the init segment ("avc1.64001f").
    pub codec: String,
    pub init_size: u64,
    pub segments: Vec<Segment>,
}

impl RenditionOutput {
    pub fn duration(&self) -> Duration {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// Bytes of media segments, without the init segment.
    pub fn media_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Average bitrate over the whole rendition, in bit/s.
    pub fn average_bitrate(&self) -> u64 {
        let secs = self.duration().as_secs_f64();
        if secs <= 0.0 {
            return 0;
        }
        (self.media_bytes() as f64 * 8.0 / secs).round() as u64
    }

    /// Highest bitrate of any one segment, in bit/s.
    pub fn peak_bitrate(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| !s.duration.is_zero())
            .map(|s| (s.size as f64 * 8.0 / s.duration.as_secs_f64()).round() as u64)
            .max()
            .unwrap_or(0)
    }
}

/// The result of a transcode: video renditions (largest first), then audio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscodeOutput {
    pub renditions: Vec<RenditionOutput>,
}

impl TranscodeOutput {
    pub fn video(&self) -> impl Iterator<Item = &RenditionOutput> {
        self.renditions.iter().filter(|r| matches!(r.kind, RenditionKind::Video { .. }))
    }

    /// Every audio rendition, one per track of the source, the default first.
    pub fn audio(&self) -> impl Iterator<Item = &RenditionOutput> {
        self.renditions.iter().filter(|r| matches!(r.kind, RenditionKind::Audio { .. }))
    }
}

/// The object names of a packaged asset, relative to its root. Playlists
/// and the MPD refer to segments by these names.
pub mod layout {
    pub const HLS_MASTER: &str = "master.m3u8";
    pub const DASH_MANIFEST: &str = "manifest.mpd";
    pub const INIT_SEGMENT: &str = "init.mp4";
    pub const MEDIA_PLAYLIST: &str = "playlist.m3u8";
    /// One JPEG frame that stands for the video in a library.
    pub const POSTER: &str = "poster.jpg";
    /// A sprite of small JPEG thumbnails, one every storyboard interval.
    pub const STORYBOARD_IMAGE: &str = "storyboard.jpg";
    /// WebVTT: one cue per thumbnail, `storyboard.jpg#xywh=X,Y,W,H`, for
    /// previews on a player's seek bar.
    pub const STORYBOARD_INDEX: &str = "storyboard.vtt";

    pub fn init_segment(rendition: &str) -> String {
        format!("{rendition}/{INIT_SEGMENT}")
    }

    pub fn media_segment_file(number: u32) -> String {
        format!("{number:05}.m4s")
    }

    /// The number of a media segment from its file name (`00012.m4s` → 12).
    pub fn media_segment_number(file: &str) -> Option<u32> {
        let digits = file.strip_suffix(".m4s")?;
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
    }

    pub fn media_segment(rendition: &str, number: u32) -> String {
        format!("{rendition}/{}", media_segment_file(number))
    }

    pub fn media_playlist(rendition: &str) -> String {
        format!("{rendition}/{MEDIA_PLAYLIST}")
    }
}

/// Receives segments the moment they are produced. Called from GStreamer
/// streaming threads, one per rendition, so it must be cheap or buffer.
pub trait SegmentSink: Send + Sync {
    /// Stores the init segment of `rendition`.
    fn init_segment(&self, rendition: &str, data: &[u8]) -> io::Result<()>;
    /// Stores one media segment of `rendition`.
    fn media_segment(&self, rendition: &str, segment: &Segment, data: &[u8]) -> io::Result<()>;
    /// Stores a still: [`layout::POSTER`] as soon as its frame is encoded
    /// (early in the job), then [`layout::STORYBOARD_IMAGE`] and
    /// [`layout::STORYBOARD_INDEX`], in that order, after the last frame.
    /// A sink that has no use for stills keeps this default and drops them.
    fn still(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let _ = (name, data);
        Ok(())
    }
}

/// Writes segments under a directory, following [`layout`], and remembers
/// every file it created so a failed job can remove them all.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
    written: Mutex<Vec<PathBuf>>,
}

impl DirectorySink {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirectorySink { root: root.into(), written: Mutex::new(Vec::new()) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes any file under the root (playlists, manifests) atomically:
    /// readers see the old or the new file, never half of one.
    pub fn write_file(&self, relative: &str, data: &[u8]) -> io::Result<()> {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let partial = path.with_extension("partial");
        std::fs::write(&partial, data)?;
        std::fs::rename(&partial, &path)?;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if !written.contains(&path) {
            written.push(path);
        }
        Ok(())
    }

    /// Removes every file this sink wrote and the folders it left empty.
    pub fn remove_written(&self) {
        let written = std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()));
        for path in &written {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(path.with_extension("partial"));
        }
        for path in &written {
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == self.root || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
}

impl SegmentSink for DirectorySink {
    fn init_segment(&self, rendition: &str, data: &[u8]) -> io::Result<()> {
        self.write_file(&layout::init_segment(rendition), data)
    }

    fn media_segment(&self, rendition: &str, segment: &Segment, data: &[u8]) -> io::Result<()> {
        self.write_file(&layout::media_segment(rendition, segment.number), data)
    }

    fn still(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.write_file(name, data)
    }
}
