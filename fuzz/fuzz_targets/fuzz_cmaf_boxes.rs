//! The ISO-BMFF box reader (cdlc_transcoder::cmaf).
#![no_main]

use cdlc_transcoder::cmaf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Boxes lie end to end inside the data, each payload after its header.
    let range = data.as_ptr_range();
    let mut next = data.as_ptr() as usize;
    for b in cmaf::boxes(data) {
        let start = b.payload.as_ptr() as usize;
        assert!(b.payload.as_ptr_range().end <= range.end, "a payload past the data");
        let header = start - next;
        assert!(header == 8 || header == 16, "a header of {header} bytes");
        next = start + b.payload.len();
    }

    let _ = cmaf::find(data, &[b"moov", b"trak", b"mdia", b"hdlr"]);
    if let Some(avcc) = cmaf::find_deep(data, b"avcC") {
        assert!(avcc.as_ptr_range().end <= range.end);
    }
    if let Some(codec) = cmaf::codec_string(data) {
        let ok = match codec.strip_prefix("avc1.") {
            Some(hex) => hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            None => codec.starts_with("mp4a."),
        };
        assert!(ok, "codec string {codec:?}");
    }
});
