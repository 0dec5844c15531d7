//! What a text track is: its language, label and kind, as the API takes
//! them and the manifests announce them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most text tracks one asset may have.
pub const MAX_TRACKS: usize = 32;

/// Where a track came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = CaptionOrigin)]
pub enum Origin {
    /// A sidecar sent to the API.
    #[default]
    Upload,
    /// A text stream inside the uploaded file, extracted by the transcode.
    Source,
}

/// What a track is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = CaptionKind)]
pub enum Kind {
    /// The dialogue, translated or transcribed.
    Subtitles,
    /// For viewers who cannot hear: dialogue and sounds.
    Captions,
    /// Only what is not in the viewer's language (signs, foreign dialogue).
    Forced,
}

impl Kind {
    pub fn parse(text: &str) -> Result<Kind, String> {
        match text {
            "subtitles" => Ok(Kind::Subtitles),
            "captions" => Ok(Kind::Captions),
            "forced" => Ok(Kind::Forced),
            other => Err(format!("unknown caption kind {other:?}: use subtitles, captions or forced")),
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Kind::Subtitles => "",
            Kind::Captions => "-cc",
            Kind::Forced => "-forced",
        }
    }
}

/// One text track of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = TextTrack)]
pub struct TrackInfo {
    /// `{language}`, `{language}-cc` or `{language}-forced`: one track per
    /// language and kind, and its folder name under the stream.
    pub id: String,
    /// A BCP 47 tag, lower-case (`en`, `pt-br`).
    pub language: String,
    /// What a player's menu shows ("English", "Français (SDH)").
    pub label: String,
    pub kind: Kind,
    pub cues: usize,
    #[serde(default)]
    pub origin: Origin,
}

impl TrackInfo {
    /// Checks the fields a user gives; each error is a sentence.
    pub fn new(language: &str, label: &str, kind: Kind, cues: usize) -> Result<TrackInfo, String> {
        let language = language.trim().to_ascii_lowercase();
        let mut subtags = language.split('-');
        let primary_ok = subtags
            .next()
            .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
        let rest_ok =
            subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !primary_ok || !rest_ok || language.len() > 35 {
            return Err(format!(
                "the language {:?} is not a BCP 47 tag such as en, fr or pt-BR",
                language.chars().take(40).collect::<String>()
            ));
        }
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 {
            return Err("the label must be 1-64 characters, e.g. English".into());
        }
        if label.chars().any(|c| c.is_control() || c == '"' || c == '<' || c == '>' || c == '&') {
            return Err("the label must not hold quotes, <, >, & or control characters".into());
        }
        let id = format!("{language}{}", kind.suffix());
        Ok(TrackInfo { id, language, label: label.to_owned(), kind, cues, origin: Origin::Upload })
    }

    /// The `index`-th text stream of the source (from 0), with its language
    /// and title tags as the file has them: id `src{index}-{language}`
    /// (which no uploaded track's id can be), `und` for a missing or
    /// malformed language, the title (cleaned) or the language's name as label.
    pub fn from_source(index: usize, language: Option<&str>, title: Option<&str>, cues: usize) -> TrackInfo {
        let language = language
            .and_then(|l| TrackInfo::new(l, "x", Kind::Subtitles, 0).ok())
            .map_or_else(|| "und".to_owned(), |t| t.language);
        let cleaned: String = title
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '&'))
            .take(64)
            .collect();
        let label = match cleaned.trim() {
            "" => match language_name(&language) {
                Some(name) => name.to_owned(),
                None => format!("Track {}", index + 1),
            },
            title => title.to_owned(),
        };
        TrackInfo {
            id: format!("src{index}-{language}"),
            language,
            label,
            kind: Kind::Subtitles,
            cues,
            origin: Origin::Source,
        }
    }
}

/// The English name of a common ISO 639-1/639-2 code, for players that
/// show NAME as it is (Safari's own menu).
pub fn language_name(code: &str) -> Option<&'static str> {
    let primary = code.split('-').next().unwrap_or(code);
    let name = match primary {
        "en" | "eng" => "English",
        "fr" | "fre" | "fra" => "French",
        "de" | "ger" | "deu" => "German",
        "es" | "spa" => "Spanish",
        "it" | "ita" => "Italian",
        "pt" | "por" => "Portuguese",
        "nl" | "dut" | "nld" => "Dutch",
        "ru" | "rus" => "Russian",
        "ja" | "jpn" => "Japanese",
        "zh" | "chi" | "zho" => "Chinese",
        "ko" | "kor" => "Korean",
        "ar" | "ara" => "Arabic",
        "hi" | "hin" => "Hindi",
        "pl" | "pol" => "Polish",
        "sv" | "swe" => "Swedish",
        "tr" | "tur" => "Turkish",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_are_checked() {
        let t = TrackInfo::new("pt-BR", "Português", Kind::Captions, 3).unwrap();
        assert_eq!((t.id.as_str(), t.language.as_str()), ("pt-br-cc", "pt-br"));
        assert_eq!(TrackInfo::new("en", "English", Kind::Forced, 1).unwrap().id, "en-forced");
        for bad in ["", "e", "english", "en_US", "en-", "e1", "../x"] {
            assert!(TrackInfo::new(bad, "x", Kind::Subtitles, 1).unwrap_err().contains("BCP 47"), "{bad}");
        }
        assert!(TrackInfo::new("en", "", Kind::Subtitles, 1).is_err());
        assert!(TrackInfo::new("en", "a\"b", Kind::Subtitles, 1).unwrap_err().contains("quotes"));
        assert!(TrackInfo::new("en", &"x".repeat(65), Kind::Subtitles, 1).is_err());
        assert!(Kind::parse("sdh").unwrap_err().contains("subtitles, captions or forced"));
    }

    #[test]
    fn source_tracks_have_ids_no_upload_can_take() {
        let t = TrackInfo::from_source(0, Some("en"), None, 2);
        assert_eq!((t.id.as_str(), t.label.as_str(), t.origin), ("src0-en", "English", Origin::Source));
        let t = TrackInfo::from_source(3, Some("not a tag"), Some("  Signs \"&\" songs\n "), 1);
        assert_eq!((t.id.as_str(), t.label.as_str()), ("src3-und", "Signs  songs"));
        assert_eq!(TrackInfo::from_source(1, None, None, 1).label, "Track 2");
        assert!(TrackInfo::new("src0-en", "x", Kind::Subtitles, 1).is_err());
    }
}
