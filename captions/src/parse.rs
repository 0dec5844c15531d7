//! Reading SRT and WebVTT.

use crate::{CaptionError, MAX_CUES, MAX_CUE_BYTES, MAX_FILE_BYTES, MAX_TIME_MS};

/// What an uploaded file was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    WebVtt,
    Srt,
}

/// One cue: shown from `start_ms` to `end_ms`, its text lines joined by
/// `\n`, and its WebVTT settings (`line:0 align:start`) kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub settings: String,
    pub text: String,
}

/// Reads a sidecar into cues, sorted by start time.
pub fn parse(bytes: &[u8]) -> Result<(Format, Vec<Cue>), CaptionError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(CaptionError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| CaptionError::NotUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let format = match first.map(|i| lines[i]) {
        Some(l) if l == "WEBVTT" || l.starts_with("WEBVTT ") || l.starts_with("WEBVTT\t") => Format::WebVtt,
        Some(_) if lines.iter().take(4).any(|l| l.contains("-->")) => Format::Srt,
        _ => return Err(CaptionError::UnknownFormat),
    };
    let mut cues = Vec::new();
    let blocks = blocks(&lines, first.unwrap_or(0));
    for (number, block) in blocks.iter().enumerate() {
        if format == Format::WebVtt && number == 0 {
            continue; // the header block
        }
        if let Some(cue) = read_block(format, block)? {
            if cues.len() == MAX_CUES {
                return Err(CaptionError::TooManyCues);
            }
            cues.push(cue);
        }
    }
    if cues.is_empty() {
        return Err(CaptionError::Empty);
    }
    cues.sort_by_key(|c| (c.start_ms, c.end_ms));
    Ok((format, cues))
}

/// The blocks of lines between blank lines, each with its 1-based line numbers.
fn blocks<'a>(lines: &[&'a str], from: usize) -> Vec<Vec<(usize, &'a str)>> {
    let mut blocks = Vec::new();
    let mut current = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(from) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
        } else {
            current.push((i + 1, *line));
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

fn bad(line: usize, reason: impl Into<String>) -> CaptionError {
    CaptionError::BadCue { line, reason: reason.into() }
}

fn read_block(format: Format, block: &[(usize, &str)]) -> Result<Option<Cue>, CaptionError> {
    let (first_line, first) = block[0];
    if format == Format::WebVtt
        && (first.starts_with("NOTE") || first.starts_with("STYLE") || first.starts_with("REGION"))
    {
        return Ok(None);
    }
    // A cue identifier (SRT's number, WebVTT's optional id) precedes the times.
    let timing_at = block
        .iter()
        .position(|(_, l)| l.contains("-->"))
        .ok_or_else(|| bad(first_line, "this cue has no timing line (00:00:01.000 --> 00:00:02.000)"))?;
    if timing_at > 1 {
        return Err(bad(block[timing_at].0, "a cue's timing line must be its first or second line"));
    }
    let (line, timing) = block[timing_at];
    let (start, rest) = timing.split_once("-->").expect("found above");
    let rest = rest.trim_start();
    let (end, settings) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let start_ms = time_ms(start.trim(), format).map_err(|r| bad(line, r))?;
    let end_ms = time_ms(end.trim(), format).map_err(|r| bad(line, r))?;
    if end_ms <= start_ms {
        return Err(bad(line, "the cue ends before it starts"));
    }
    if end_ms > MAX_TIME_MS {
        return Err(bad(line, "the cue ends after 24 hours"));
    }
    let text: Vec<&str> = block[timing_at + 1..].iter().map(|(_, l)| *l).collect();
    let text = text.join("\n");
    if text.len() > MAX_CUE_BYTES {
        return Err(bad(line, format!("the cue's text is {} bytes; at most {MAX_CUE_BYTES}", text.len())));
    }
    // SRT settings (X1:…) have no WebVTT meaning and are dropped.
    let settings = if format == Format::WebVtt { settings.trim().to_owned() } else { String::new() };
    Ok(Some(Cue { start_ms, end_ms, settings, text: text.replace("-->", "->") }))
}

/// `hh:mm:ss.mmm` or `mm:ss.mmm` (WebVTT), `hh:mm:ss,mmm` (SRT; a `.` is
/// tolerated, as many tools write it).
fn time_ms(text: &str, format: Format) -> Result<u64, String> {
    let wrong = || match format {
        Format::WebVtt => format!("{text:?} is not a WebVTT time such as 00:01:02.500"),
        Format::Srt => format!("{text:?} is not an SRT time such as 00:01:02,500"),
    };
    let (clock, millis) = text.rsplit_once(['.', ',']).ok_or_else(wrong)?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong());
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let number = |p: &str, max: u64| -> Result<u64, String> {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(wrong());
        }
        let n: u64 = p.parse().map_err(|_| wrong())?;
        if n > max {
            return Err(wrong());
        }
        Ok(n)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m, s] => (number(h, 999)?, number(m, 59)?, number(s, 59)?),
        [m, s] if format == Format::WebVtt => (0, number(m, 59)?, number(s, 59)?),
        _ => return Err(wrong()),
    };
    Ok(((h * 60 + m) * 60 + s) * 1000 + millis.parse::<u64>().map_err(|_| wrong())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_with_bom_crlf_and_numbers() {
        let srt = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\nworld\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n<i>Bye</i>\r\n";
        let (format, cues) = parse(srt.as_bytes()).unwrap();
        assert_eq!(format, Format::Srt);
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start_ms, cues[0].end_ms, cues[0].text.as_str()), (1000, 2500, "Hello\nworld"));
        assert_eq!(cues[1].text, "<i>Bye</i>");
    }

    #[test]
    fn webvtt_with_ids_settings_notes_and_short_times() {
        let vtt = "WEBVTT - a film\n\nNOTE made by hand\n\nSTYLE\n::cue { color: yellow }\n\nintro\n00:01.000 --> 00:02.000 line:0 align:start\nHi\n\n00:00:05.000 --> 00:00:06.000\nThere\n";
        let (format, cues) = parse(vtt.as_bytes()).unwrap();
        assert_eq!(format, Format::WebVtt);
        assert_eq!(cues.len(), 2);
        assert_eq!((cues[0].start_ms, cues[0].settings.as_str()), (1000, "line:0 align:start"));
        assert_eq!(cues[1].start_ms, 5000);
    }

    #[test]
    fn bad_files_get_sentences() {
        let refused = |bytes: &[u8]| parse(bytes).unwrap_err().to_string();
        assert!(refused(b"\xff\xfeH\x00i\x00").contains("not UTF-8"));
        assert!(refused(b"hello there\nno cues").contains("neither WebVTT"));
        assert!(refused(b"WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nback\n")
            .contains("line 3: the cue ends before it starts"));
        assert!(refused(b"WEBVTT\n\n00:00:61.000 --> 00:01:02.000\nx\n").contains("not a WebVTT time"));
        assert!(refused(b"1\n00:00:01,000 --> 00:00:0x,000\nx\n").contains("not an SRT time"));
        assert!(refused(b"WEBVTT\n\nNOTE only a note\n").contains("no cue"));
        assert!(refused(b"WEBVTT\n\nno timing here\n").contains("no timing line"));
        assert!(refused(&vec![b'a'; MAX_FILE_BYTES + 1]).contains("at most 4 MiB"));
        let long = format!("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n{}\n", "x".repeat(MAX_CUE_BYTES + 1));
        assert!(refused(long.as_bytes()).contains("at most 4096"));
        assert!(refused(b"WEBVTT\n\n25:00:00.000 --> 25:00:01.000\nlate\n").contains("after 24 hours"));
    }

    #[test]
    fn cues_are_sorted_and_arrows_in_text_are_defused() {
        let srt =
            "2\n00:00:05,000 --> 00:00:06,000\nlater --> on\n\n1\n00:00:01,000 --> 00:00:02,000\nfirst\n";
        let (_, cues) = parse(srt.as_bytes()).unwrap();
        assert_eq!(cues[0].text, "first");
        assert_eq!(cues[1].text, "later -> on");
    }
}
