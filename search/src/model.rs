//! What the catalog hands the index and what a search returns.

use serde::{Deserialize, Serialize};

use crate::error::SearchError;

/// The kinds of title the catalog has.
pub const TITLE_KINDS: &[&str] = &["movie", "series", "season", "episode", "short", "documentary"];

/// A query's text is cut to this many characters …
pub const MAX_QUERY_CHARS: usize = 200;
/// … and to this many words.
pub const MAX_QUERY_WORDS: usize = 10;
/// At most this many hits per page.
pub const MAX_LIMIT: usize = 100;
/// Pages end at this offset: deeper paging is a crawl, not a search.
pub const MAX_OFFSET: usize = 1000;
/// At most this many kinds or genres in one filter.
pub const MAX_FILTER_VALUES: usize = 20;

/// A document keeps at most this many distinct names (The Godfather has
/// about eighty akas, most of them the same words).
pub const MAX_NAMES: usize = 128;
/// Longer names are cut to this many characters.
pub const MAX_NAME_CHARS: usize = 300;
/// A document keeps at most this many genres or professions.
pub const MAX_TAGS: usize = 16;
/// An id is at most this many bytes.
pub const MAX_ID_BYTES: usize = 64;

/// A movie, series, season, episode, short or documentary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TitleDoc {
    /// Unique across titles and people (e.g. "tt0068646").
    pub id: String,
    /// One of [`TITLE_KINDS`].
    pub kind: String,
    /// The primary name first, then the original name and every aka.
    pub names: Vec<String>,
    pub year: Option<i32>,
    pub genres: Vec<String>,
    /// 0–10.
    pub rating: Option<f32>,
    /// Popularity: the more votes, the higher among equally good matches.
    pub votes: u64,
}

/// An actor, director, writer …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonDoc {
    /// Unique across titles and people (e.g. "nm0000008").
    pub id: String,
    pub name: String,
    pub professions: Vec<String>,
    /// Popularity: the votes of the titles the person is known for.
    pub known_for_votes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Titles,
    People,
    #[default]
    All,
}

/// The order of a page (see [`crate::SearchIndex::search_sorted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first, popularity among equally good matches; by votes
    /// when there is no text.
    #[default]
    Relevance,
    /// Most votes first.
    Popularity,
    /// Highest rating first; unrated last.
    Rating,
    /// Newest first; titles without a year last.
    Year,
    /// By primary name, A to Z (accents and case folded).
    Title,
}

/// What a user asks. Text is plain words, never query syntax: `"`, `:`, `*`
/// and the like only separate words. Empty text with filters is browsing.
/// The kind, genre, year and rating filters match titles only, so a query
/// that sets one of them returns no people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    /// Cut to [`MAX_QUERY_CHARS`] characters and [`MAX_QUERY_WORDS`] words;
    /// the last word also matches as a prefix (as you type).
    pub text: String,
    pub target: Target,
    /// Any of these kinds (empty: every kind).
    pub kinds: Vec<String>,
    /// Any of these genres (empty: every genre); case does not matter.
    pub genres: Vec<String>,
    pub year_min: Option<i32>,
    pub year_max: Option<i32>,
    /// 0–10.
    pub rating_min: Option<f32>,
    /// Capped at [`MAX_LIMIT`]; 0 returns only the total.
    pub limit: usize,
    /// Capped at [`MAX_OFFSET`].
    pub offset: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            text: String::new(),
            target: Target::All,
            kinds: Vec::new(),
            genres: Vec::new(),
            year_min: None,
            year_max: None,
            rating_min: None,
            limit: 20,
            offset: 0,
        }
    }
}

impl SearchQuery {
    /// A query for `text` over titles and people, first page of 20.
    pub fn text(text: impl Into<String>) -> Self {
        SearchQuery { text: text.into(), ..SearchQuery::default() }
    }

    /// Checks what cannot be silently bounded.
    pub(crate) fn validate(&self) -> Result<(), SearchError> {
        let bad = |message: String| Err(SearchError::InvalidQuery(message));
        if self.kinds.len() > MAX_FILTER_VALUES || self.genres.len() > MAX_FILTER_VALUES {
            return bad(format!(
                "a query filters on at most {MAX_FILTER_VALUES} kinds and {MAX_FILTER_VALUES} genres"
            ));
        }
        if let Some(kind) = self.kinds.iter().find(|kind| !TITLE_KINDS.contains(&kind.as_str())) {
            return bad(format!("unknown kind {kind:?}: use one of {}", TITLE_KINDS.join(", ")));
        }
        if let Some(rating) = self.rating_min {
            if !(0.0..=10.0).contains(&rating) {
                return bad(format!("rating_min {rating} is outside 0–10: give a rating from 0 to 10"));
            }
        }
        if let (Some(min), Some(max)) = (self.year_min, self.year_max) {
            if min > max {
                return bad(format!("year_min {min} is after year_max {max}: swap them"));
            }
        }
        Ok(())
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub hits: Vec<Hit>,
    /// Every document that matched, not only this page.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    pub target: Target,
    /// The name that matched the query best (the primary name when none
    /// matched better, or when browsing).
    pub name: String,
    /// Higher is better; comparable only within one page of one query.
    pub score: f32,
}

pub(crate) fn check_id(id: &str) -> Result<(), SearchError> {
    let reason = if id.is_empty() {
        "the id is empty"
    } else if id.len() > MAX_ID_BYTES {
        "the id is longer than 64 bytes"
    } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "the id contains a space or a control character"
    } else {
        return Ok(());
    };
    Err(SearchError::InvalidDocument {
        id: id.chars().take(MAX_ID_BYTES).collect(),
        reason: reason.to_owned(),
    })
}

fn clip(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Trimmed, cut, non-empty, distinct names, in their order (the primary first).
pub(crate) fn bounded_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for name in names {
        let name = clip(name.trim(), MAX_NAME_CHARS);
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
            if out.len() == MAX_NAMES {
                break;
            }
        }
    }
    out
}

/// Lower-cased, trimmed, non-empty tags, at most [`MAX_TAGS`].
pub(crate) fn bounded_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = clip(tag.trim(), 40).to_lowercase();
        if !tag.is_empty() && !out.contains(&tag) && out.len() < MAX_TAGS {
            out.push(tag);
        }
    }
    out
}

impl TitleDoc {
    pub(crate) fn validate(&self) -> Result<(), SearchError> {
        check_id(&self.id)?;
        let bad = |reason: String| Err(SearchError::InvalidDocument { id: self.id.clone(), reason });
        if !TITLE_KINDS.contains(&self.kind.as_str()) {
            return bad(format!("unknown kind {:?}: use one of {}", self.kind, TITLE_KINDS.join(", ")));
        }
        if bounded_names(&self.names).is_empty() {
            return bad("a title needs at least one non-empty name".to_owned());
        }
        if let Some(rating) = self.rating {
            if !(0.0..=10.0).contains(&rating) {
                return bad(format!("rating {rating} is outside 0–10"));
            }
        }
        Ok(())
    }
}

impl PersonDoc {
    pub(crate) fn validate(&self) -> Result<(), SearchError> {
        check_id(&self.id)?;
        if self.name.trim().is_empty() {
            return Err(SearchError::InvalidDocument {
                id: self.id.clone(),
                reason: "a person needs a non-empty name".to_owned(),
            });
        }
        Ok(())
    }
}
