//! Reading IMDb's `.tsv.gz` files: gunzip as a stream, lines of bounded
//! length, tab-separated fields, `\N` for null and no quoting at all
//! (titles contain bare `"`, so a CSV reader would swallow lines).

use std::io::{BufRead, BufReader, Read};
use std::ops::Range;

/// A line longer than this is a rejected row, never a bigger allocation.
pub const MAX_LINE: usize = 1 << 20;

/// Lines handed to the parser at once.
pub const BATCH_LINES: usize = 20_000;
/// … or fewer, when they hold this many bytes.
pub const BATCH_BYTES: usize = 8 << 20;

/// Counts the bytes read from the compressed file, for progress.
pub struct Counting<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Counting<R> {
    pub fn new(inner: R, count: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Counting<R> {
        Counting { inner, count }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// What a line was.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    Text(&'a [u8]),
    /// Longer than `MAX_LINE`; its bytes were skipped, not kept.
    TooLong,
}

/// Lines of at most `MAX_LINE` bytes from any reader.
pub struct Lines<R> {
    inner: R,
    line: Vec<u8>,
    /// The number of the line last returned, from 1.
    pub number: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines { inner, line: Vec::new(), number: 0 }
    }

    /// The next line without its `\n` (or `\r\n`); `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], at + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if self.line.len() + chunk.len() > MAX_LINE {
                    too_long = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if done {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some(Line::TooLong));
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(Some(Line::Text(&self.line)))
    }
}

/// Lines read together: one buffer, each line a range in it.
#[derive(Debug, Default)]
pub struct Batch {
    pub data: Vec<u8>,
    /// Line number and range of each line that fit.
    pub lines: Vec<(u64, Range<usize>)>,
    /// Lines rejected while reading (too long).
    pub too_long: Vec<u64>,
}

impl Batch {
    pub fn line(&self, range: &Range<usize>) -> &[u8] {
        &self.data[range.clone()]
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.too_long.is_empty()
    }
}

impl<R: BufRead> Lines<R> {
    /// Up to `BATCH_LINES` lines (or `BATCH_BYTES`); an empty batch at the end.
    pub fn next_batch(&mut self) -> std::io::Result<Batch> {
        let mut batch = Batch::default();
        while batch.lines.len() + batch.too_long.len() < BATCH_LINES && batch.data.len() < BATCH_BYTES {
            let number = self.number + 1;
            match self.next_line()? {
                None => break,
                Some(Line::TooLong) => batch.too_long.push(number),
                Some(Line::Text(text)) => {
                    let start = batch.data.len();
                    batch.data.extend_from_slice(text);
                    // `text` borrows self; copy done, now record the range.
                    batch.lines.push((number, start..start + text.len()));
                }
            }
        }
        Ok(batch)
    }
}

/// The lines of a gzip file, its compressed bytes counted.
pub type GzLines = Lines<BufReader<flate2::read::MultiGzDecoder<BufReader<Counting<std::fs::File>>>>>;

/// Opens a gzip file for reading lines, refusing anything that does not
/// start like gzip (the magic bytes 1f 8b).
pub fn open_gzip(
    path: &std::path::Path,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<GzLines, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut file, &mut magic).map_err(|e| format!("cannot read it: {e}"))?;
    if got < 2 || magic != [0x1f, 0x8b] {
        return Err("it is not gzip-compressed: send the .tsv.gz file as IMDb publishes it".into());
    }
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(|e| format!("cannot read it: {e}"))?;
    let counted = BufReader::with_capacity(256 << 10, Counting::new(file, count));
    Ok(Lines::new(BufReader::with_capacity(256 << 10, flate2::read::MultiGzDecoder::new(counted))))
}

fn read_up_to(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The fields of a line: split on tabs, `\N` as `None`, nothing unquoted.
pub fn fields(line: &str) -> impl Iterator<Item = Option<&str>> {
    line.split('\t').map(|f| if f == "\\N" { None } else { Some(f) })
}

/// Splits a line into exactly `N` fields; the error names the count found.
pub fn split<const N: usize>(line: &str) -> Result<[Option<&str>; N], String> {
    let mut out = [None; N];
    let mut count = 0;
    for field in fields(line) {
        if count < N {
            out[count] = field;
        }
        count += 1;
    }
    if count != N {
        return Err(format!("has {count} fields, not {N}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_skipped_without_being_kept() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE * 3));
        input.extend_from_slice(b"\nafter\r\nlast");
        let mut lines = Lines::new(BufReader::with_capacity(4096, &input[..]));
        assert_eq!(lines.next_line().unwrap(), Some(Line::Text(b"short")));
        assert_eq!(lines.next_line().unwrap(), Some(Line::TooLong));
        assert!(lines.line.capacity() <= MAX_LINE + 4096, "the long line was not kept");
        assert_eq!(lines.next_line().unwrap(), Some(Line::Text(b"after")));
        assert_eq!(lines.next_line().unwrap(), Some(Line::Text(b"last")));
        assert_eq!(lines.number, 4);
        assert_eq!(lines.next_line().unwrap(), None);
    }

    #[test]
    fn fields_split_on_tabs_only() {
        let [a, b, c] = split::<3>("tt1\t\"Quoted\" Title\t\\N").unwrap();
        assert_eq!((a, b, c), (Some("tt1"), Some("\"Quoted\" Title"), None));
        assert_eq!(split::<3>("a\tb").unwrap_err(), "has 2 fields, not 3");
    }
}
