//! Writing WebVTT, whole and in segments.

use std::fmt::Write;

use crate::Cue;

/// The header line that places a segment on the media timeline: cdlc's
/// CMAF media starts at presentation time 0, so cue time 0 is media time 0.
pub const TIMESTAMP_MAP: &str = "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000";

/// `hh:mm:ss.mmm`.
pub fn timestamp(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

fn write_cue(out: &mut String, cue: &Cue) {
    let _ = write!(out, "{} --> {}", timestamp(cue.start_ms), timestamp(cue.end_ms));
    if !cue.settings.is_empty() {
        let _ = write!(out, " {}", cue.settings);
    }
    let _ = write!(out, "\n{}\n\n", cue.text);
}

/// One WebVTT file of every cue.
pub fn write_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues {
        write_cue(&mut out, cue);
    }
    out
}

/// One WebVTT segment per window `[start_ms, end_ms)` (the video's
/// segments), each holding the cues that show during it; a cue across a
/// boundary is in both segments, with its full times, as HLS allows.
pub fn segment(cues: &[Cue], windows: &[(u64, u64)]) -> Vec<String> {
    windows
        .iter()
        .map(|&(start, end)| {
            let mut out = format!("WEBVTT\n{TIMESTAMP_MAP}\n\n");
            for cue in cues.iter().filter(|c| c.start_ms < end && c.end_ms > start) {
                write_cue(&mut out, cue);
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn cue(start_ms: u64, end_ms: u64, text: &str) -> Cue {
        Cue { start_ms, end_ms, settings: String::new(), text: text.into() }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "00:00:00.000");
        assert_eq!(timestamp(3_723_045), "01:02:03.045");
    }

    #[test]
    fn a_written_file_reads_back() {
        let cues = vec![
            cue(1000, 2000, "one"),
            Cue { settings: "align:start".into(), ..cue(2500, 4000, "two\nlines") },
        ];
        let (_, again) = parse(write_vtt(&cues).as_bytes()).unwrap();
        assert_eq!(again, cues);
    }

    #[test]
    fn segments_hold_the_cues_that_show_in_them() {
        let cues = vec![cue(500, 1500, "a"), cue(1900, 2100, "across"), cue(4500, 5000, "late")];
        let segments = segment(&cues, &[(0, 2000), (2000, 4000), (4000, 6000)]);
        assert_eq!(segments.len(), 3);
        for s in &segments {
            assert!(s.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n"), "{s}");
        }
        let texts =
            |s: &str| parse(s.as_bytes()).map(|(_, c)| c.into_iter().map(|c| c.text).collect::<Vec<_>>());
        assert_eq!(texts(&segments[0]).unwrap(), ["a", "across"]);
        assert_eq!(texts(&segments[1]).unwrap(), ["across"]);
        assert_eq!(texts(&segments[2]).unwrap(), ["late"]);
        // An empty window is still a valid segment (header only).
        assert!(segment(&cues, &[(10_000, 12_000)])[0].ends_with("\n\n"));
    }
}
