//! tus headers: `Upload-Metadata`, `Upload-Length`/`Upload-Offset`,
//! `Tus-Resumable` (cdlc_ingest::tus).
#![no_main]

use base64::Engine;
use cdlc_ingest::tus;
use libfuzzer_sys::fuzz_target;

/// RFC 4648 base64, with its padding or without any: the reference decoders.
const PADDED: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);
const UNPADDED: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

fn bounded(title: &str) -> String {
    title.chars().take(tus::MAX_TITLE_CHARS).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    // Any header text: an answer, and a title within the bound.
    if let Ok(metadata) = tus::parse_metadata(text) {
        if let Some(title) = &metadata.title {
            assert!(title.chars().count() <= tus::MAX_TITLE_CHARS);
        }
    }

    // The text as a title a client encodes comes back unchanged (cut to
    // the bound), whatever the other pairs say.
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let header = format!("filetype dmlkZW8vbXA0, title {encoded},private ZmFsc2U=");
    let parsed = tus::parse_metadata(&header).expect("well-formed metadata is accepted");
    assert_eq!(parsed.title, Some(bounded(text)));
    assert!(!parsed.private);

    // A value is read as the reference decoder reads it.
    let value = text.trim();
    if !value.contains([',', ' ']) {
        let ours = tus::parse_metadata(&format!("title {value}")).expect("no private key").title;
        let reference = PADDED
            .decode(value)
            .or_else(|_| UNPADDED.decode(value))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(|t| bounded(&t));
        assert_eq!(ours, reference, "value {value:?}");
    }

    // A byte count is plain digits, and it is the number they spell.
    if let Ok(n) = tus::parse_bytes("Upload-Length", text) {
        let digits = text.trim();
        assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
        assert_eq!(digits.parse::<u64>(), Ok(n));
    }
    assert_eq!(tus::check_version(Some(text)).is_ok(), text == tus::TUS_VERSION);
});
