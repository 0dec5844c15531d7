//! `Range` and the conditional headers (`If-None-Match`,
//! `If-Modified-Since`) as the edge reads them.
#![no_main]

use std::time::{Duration, SystemTime};

use cdlc_edge::{is_not_modified, parse_range_value, EdgeError};
use libfuzzer_sys::fuzz_target;

const ETAG: &[u8] = b"\"abc123\"";
const GZIP_ETAG: &[u8] = b"\"abc123-gz\"";

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (size, text) = data.split_at(8);
    // Objects up to 4 GiB, often tiny, so ranges at the edges are reached.
    let size = u64::from_le_bytes(size.try_into().unwrap()) % (1 << 32);
    let Ok(text) = std::str::from_utf8(text) else { return };

    match parse_range_value(text, size) {
        Ok(Some((start, end))) => {
            // End exclusive: a non-empty slice inside the object.
            assert!(start < end && end <= size, "{text:?} of {size}: {start}..{end}");
            let unit = text.split_once('=').map(|(unit, _)| unit.trim()).unwrap_or("");
            assert!(unit.eq_ignore_ascii_case("bytes"), "only bytes ranges are honoured: {text:?}");
        }
        Ok(None) => {}
        Err(EdgeError::RangeNotSatisfiable(n)) => assert_eq!(n, size),
        Err(other) => panic!("a range answers 206, 200 or 416, not {other:?}"),
    }

    // Conditional headers: If-None-Match decides alone; our own tag or `*`
    // always matches; a date after the last change means not modified.
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let with_tag = format!("{text}, \"abc123\"");
    assert!(is_not_modified(Some(&with_tag), None, [ETAG, GZIP_ETAG], modified));
    assert!(is_not_modified(Some("*"), Some(text), [ETAG, GZIP_ETAG], modified));
    let by_tag = is_not_modified(Some(text), None, [ETAG, GZIP_ETAG], modified);
    assert_eq!(
        by_tag,
        is_not_modified(Some(text), Some("Sun, 06 Nov 2050 08:49:37 GMT"), [ETAG, GZIP_ETAG], modified)
    );
    if let Ok(since) = httpdate_parse(text) {
        assert_eq!(is_not_modified(None, Some(text), [ETAG, GZIP_ETAG], modified), since >= 1_700_000_000);
    } else {
        assert!(!is_not_modified(None, Some(text), [ETAG, GZIP_ETAG], modified));
    }
});

/// Seconds of an HTTP date, through the same parser the edge uses.
fn httpdate_parse(text: &str) -> Result<u64, ()> {
    let time = httpdate::parse_http_date(text).map_err(|_| ())?;
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).map_err(|_| ())
}
