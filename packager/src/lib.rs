//! Packager: HLS and DASH manifests over one set of CMAF segments.
//!
//! Both formats point at the same init and media segments that the
//! transcoder wrote (see [`cdlc_transcoder::layout`]); nothing is copied.
//! Each function is pure text generation, so a caller can rewrite the
//! manifests after every new segment while a transcode runs (fast publish)
//! and once more when it ends.

pub mod cenc;
pub mod dash;
pub mod hls;
pub mod text;

use std::io;

use cdlc_captions::TrackInfo;
use cdlc_transcoder::{layout, TranscodeOutput};

/// Whether the presentation is still growing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    /// Transcoding still runs: HLS `EVENT` playlists without an end, a
    /// dynamic MPD.
    Growing,
    /// Every segment is there: HLS `VOD` with `EXT-X-ENDLIST`, a static MPD.
    Complete,
}

/// Writes the HLS master playlist, every media playlist and the DASH MPD
/// of `output`, announcing the text tracks `texts`, through
/// `write(relative_path, bytes)`.
pub fn write_manifests(
    output: &TranscodeOutput,
    texts: &[TrackInfo],
    mut write: impl FnMut(&str, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    for rendition in &output.renditions {
        let playlist = hls::media_playlist(rendition, Completeness::Complete, None);
        write(&layout::media_playlist(&rendition.name), playlist.as_bytes())?;
    }
    write(layout::HLS_MASTER, hls::master_playlist(output, texts).as_bytes())?;
    write(layout::DASH_MANIFEST, dash::manifest(output, &dash::Timing::Static, texts).as_bytes())?;
    Ok(())
}

/// Seconds with millisecond precision, the way both formats want them.
fn seconds(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Three 2 s segments of one 360p rung: the presentation the manifest tests share.
#[cfg(test)]
pub(crate) fn three_segments() -> TranscodeOutput {
    use cdlc_transcoder::{RenditionKind, RenditionOutput, Segment};
    use std::time::Duration;
    let segments = (1..=3)
        .map(|n| Segment {
            number: n,
            start: Duration::from_secs(2 * (n as u64 - 1)),
            duration: Duration::from_secs(2),
            size: 1000,
        })
        .collect();
    let kind = RenditionKind::Video { width: 640, height: 360, frame_rate: (30, 1), bitrate_kbps: 800 };
    TranscodeOutput {
        renditions: vec![RenditionOutput {
            name: "360p".into(),
            kind,
            codec: "avc1.64001e".into(),
            init_size: 800,
            segments,
        }],
    }
}
