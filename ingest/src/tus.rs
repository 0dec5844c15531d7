//! The headers of tus 1.0 resumable uploads (core and creation), read
//! from their text so any HTTP layer can use them: `Tus-Resumable`,
//! `Upload-Length` and `Upload-Offset`, `Upload-Metadata`.

use std::collections::HashMap;

/// The one protocol version served.
pub const TUS_VERSION: &str = "1.0.0";
/// Longest title kept from `Upload-Metadata`, in characters.
pub const MAX_TITLE_CHARS: usize = 500;

/// Why a tus header was refused; each message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TusError {
    #[error("send the header Tus-Resumable: 1.0.0")]
    Version,
    #[error("{0} must be a whole number of bytes")]
    NotANumber(&'static str),
    #[error("Upload-Metadata {0} must be base64 of true or false")]
    NotABoolean(&'static str),
}

/// Checks `Tus-Resumable` (absent: `None`).
pub fn check_version(value: Option<&str>) -> Result<(), TusError> {
    match value {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(TusError::Version),
    }
}

/// A byte count header (`Upload-Length`, `Upload-Offset`, named `name` in
/// the error): decimal digits only (no sign), surrounding blanks allowed.
pub fn parse_bytes(name: &'static str, value: &str) -> Result<u64, TusError> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TusError::NotANumber(name));
    }
    digits.parse().map_err(|_| TusError::NotANumber(name))
}

/// What a tus client says of its file in `Upload-Metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadMetadata {
    /// `title`, else `filename`; at most [`MAX_TITLE_CHARS`] characters.
    pub title: Option<String>,
    /// `private`: `true` or `false` (absent: false).
    pub private: bool,
    /// `encrypted`: `true` or `false` (absent: false).
    pub encrypted: bool,
}

/// Reads `Upload-Metadata` (`key base64,key base64,…`; a key may come
/// without a value). The first of a repeated key counts; a value that is
/// not base64 of UTF-8 counts as absent, except for `private` and
/// `encrypted`, which must be `true` or `false`.
pub fn parse_metadata(value: &str) -> Result<UploadMetadata, TusError> {
    let mut pairs = HashMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        pairs.entry(key).or_insert_with(|| decode_base64(value.trim()));
    }
    let title = ["title", "filename"]
        .iter()
        .find_map(|key| pairs.get(key).cloned().flatten())
        .map(|title| title.chars().take(MAX_TITLE_CHARS).collect());
    let flag = |key: &'static str| match pairs.get(key) {
        None => Ok(false),
        Some(value) => match value.as_deref() {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(TusError::NotABoolean(key)),
        },
    };
    Ok(UploadMetadata { title, private: flag("private")?, encrypted: flag("encrypted")? })
}

/// Standard base64 (RFC 4648 §4) of UTF-8 text, padding optional.
fn decode_base64(text: &str) -> Option<String> {
    let data = text.trim_end_matches('=');
    let padding = text.len() - data.len();
    // Without padding any length but 4n+1; with it, the one or two '=' that
    // fill the last quantum.
    let padding_fits = padding == 0 || (padding <= 2 && (data.len() + padding).is_multiple_of(4));
    if data.len() % 4 == 1 || !padding_fits {
        return None;
    }
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for c in data.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_gives_the_title_and_privacy() {
        let film = parse_metadata("filetype dmlkZW8vbXA0,filename bXkgZmlsbS5tcDQ=").expect("valid");
        assert_eq!((film.title.as_deref(), film.private), (Some("my film.mp4"), false));
        let titled =
            parse_metadata("filename bXkgZmlsbS5tcDQ=,title RmlsbQ==,private dHJ1ZQ==").expect("valid");
        assert_eq!(
            (titled.title.as_deref(), titled.private),
            (Some("Film"), true),
            "title wins over filename"
        );
        assert_eq!(
            parse_metadata("private eWVz"),
            Err(TusError::NotABoolean("private")),
            "private yes is refused"
        );
        assert_eq!(parse_metadata("encrypted eWVz"), Err(TusError::NotABoolean("encrypted")));
        assert!(parse_metadata("encrypted dHJ1ZQ==").expect("valid").encrypted);
        assert_eq!(
            parse_metadata("is_confidential,title RmlsbQ").expect("valid").title.as_deref(),
            Some("Film")
        );
        assert_eq!(parse_metadata("title R=m=l=s=b=Q").expect("valid").title, None, "= only at the end");
        assert_eq!(parse_metadata("title RmlsbQ").expect("valid").title.as_deref(), Some("Film"), "unpadded");
    }

    /// Found by fuzz_tus_metadata: padding that does not fill the last
    /// quantum ("RRbblQm==", 7 characters and 2 '=') was decoded.
    #[test]
    fn padding_must_fill_the_last_quantum() {
        assert_eq!(parse_metadata("title RRbblQm==").expect("valid").title, None);
        assert_eq!(parse_metadata("title RmlsbQ=").expect("valid").title, None, "one = short");
        assert_eq!(parse_metadata("title RmlsbQ===").expect("valid").title, None, "one = too many");
        // Found next: padding alone ("====", 60 of them) decoded as "".
        assert_eq!(parse_metadata("title ====").expect("valid").title, None);
        assert_eq!(parse_metadata("title ").expect("valid").title.as_deref(), Some(""), "empty is empty");
    }

    #[test]
    fn byte_counts_are_plain_digits() {
        assert_eq!(parse_bytes("Upload-Length", " 1024 "), Ok(1024));
        for bad in ["", "+5", "-1", "1e3", "0x10", "18446744073709551616"] {
            assert_eq!(
                parse_bytes("Upload-Length", bad),
                Err(TusError::NotANumber("Upload-Length")),
                "{bad:?}"
            );
        }
        assert!(TusError::NotANumber("Upload-Offset").to_string().contains("Upload-Offset"));
        assert_eq!(check_version(Some("1.0.0")), Ok(()));
        assert_eq!(check_version(Some("0.2.2")), Err(TusError::Version));
    }
}
