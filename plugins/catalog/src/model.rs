//! The catalog's vocabulary: kinds of title, link roles, credit categories,
//! and the mapping from IMDb's title types.

use serde::{Deserialize, Serialize};

use cdlc_plugin_api::utoipa::{self, ToSchema};

/// What a title is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Movie,
    Series,
    Season,
    Episode,
    Short,
    Documentary,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Movie, Kind::Series, Kind::Season, Kind::Episode, Kind::Short, Kind::Documentary];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Movie => "movie",
            Kind::Series => "series",
            Kind::Season => "season",
            Kind::Episode => "episode",
            Kind::Short => "short",
            Kind::Documentary => "documentary",
        }
    }

    /// Parses a kind name; the error is a sentence naming the known ones.
    pub fn parse(name: &str) -> Result<Kind, String> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name).ok_or_else(|| {
            format!(
                "unknown kind {:?}: use one of movie, series, season, episode, short, documentary",
                clip(name, 40)
            )
        })
    }
}

/// IMDb's `titleType` values and the kind each becomes; `None` for the ones
/// the catalog does not keep (a video game cannot be played here).
pub const IMDB_TYPES: &[(&str, Option<Kind>)] = &[
    ("movie", Some(Kind::Movie)),
    ("tvMovie", Some(Kind::Movie)),
    ("video", Some(Kind::Movie)),
    ("tvSpecial", Some(Kind::Movie)),
    ("short", Some(Kind::Short)),
    ("tvShort", Some(Kind::Short)),
    ("tvSeries", Some(Kind::Series)),
    ("tvMiniSeries", Some(Kind::Series)),
    ("tvEpisode", Some(Kind::Episode)),
    ("tvPilot", Some(Kind::Episode)),
    ("videoGame", None),
];

/// The kind of an IMDb title: a feature-length type whose genres name
/// Documentary is a documentary. `Err` is the reason the row is rejected.
pub fn kind_of_imdb(title_type: &str, genres: &[&str]) -> Result<Kind, String> {
    match IMDB_TYPES.iter().find(|(name, _)| *name == title_type) {
        Some((_, Some(Kind::Movie))) if genres.contains(&"Documentary") => Ok(Kind::Documentary),
        Some((_, Some(kind))) => Ok(*kind),
        Some((name, None)) => Err(format!("the title type {name} is not kept by the catalog")),
        None => Err(format!("unknown title type {:?}", clip(title_type, 40))),
    }
}

/// What a linked asset is to its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkRole {
    /// The title itself: what "play" plays.
    Feature,
    Trailer,
    Extra,
}

impl LinkRole {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkRole::Feature => "feature",
            LinkRole::Trailer => "trailer",
            LinkRole::Extra => "extra",
        }
    }

    pub fn parse(name: &str) -> Option<LinkRole> {
        [LinkRole::Feature, LinkRole::Trailer, LinkRole::Extra].into_iter().find(|r| r.as_str() == name)
    }
}

/// IMDb's credit categories (title.principals), plus the crew's.
pub const CATEGORIES: &[&str] = &[
    "actor",
    "actress",
    "self",
    "director",
    "writer",
    "producer",
    "executive",
    "composer",
    "cinematographer",
    "editor",
    "production_designer",
    "casting_director",
    "archive_footage",
    "archive_sound",
    "stunts",
    "other",
];

/// The first `chars` characters of `text`.
pub fn clip(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The key titles and people sort by: lower case, without leading
/// punctuation (`"Carmencita"` sorts under C), cut to 200 characters;
/// leading articles are kept (a person looks for "The Godfather" under T).
pub fn sort_key(name: &str) -> String {
    let name = name.trim_start_matches(|c: char| !c.is_alphanumeric());
    name.trim().to_lowercase().chars().take(200).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imdb_types_map_to_kinds_or_are_refused_by_name() {
        assert_eq!(kind_of_imdb("tvMiniSeries", &[]), Ok(Kind::Series));
        assert_eq!(kind_of_imdb("movie", &["Documentary", "Music"]), Ok(Kind::Documentary));
        assert_eq!(kind_of_imdb("short", &["Documentary"]), Ok(Kind::Short));
        assert!(kind_of_imdb("videoGame", &[]).unwrap_err().contains("videoGame is not kept"));
        assert!(kind_of_imdb("hologram", &[]).unwrap_err().contains("unknown title type \"hologram\""));
        assert!(Kind::parse("film").unwrap_err().contains("use one of movie"));
    }
}
