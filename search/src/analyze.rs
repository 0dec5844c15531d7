//! Text normalization shared by indexing and querying: the words of a name,
//! lower-cased and folded to ASCII, so "Amélie", "amelie" and "AMELIE" are
//! one word. The index and the query side must use the same function, or a
//! word indexed one way would be looked up another.

use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};

/// The name under which the analyzer is registered with tantivy.
pub(crate) const TOKENIZER: &str = "cdlc_folded";

/// Words longer than this (in bytes) are dropped: nobody types them, and a
/// pathological input must not make a huge term.
const MAX_WORD_BYTES: usize = 60;

/// A word's prefixes are indexed up to this many characters; a longer typed
/// prefix is looked up by its first `MAX_PREFIX_CHARS` characters.
pub(crate) const MAX_PREFIX_CHARS: usize = 12;

pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The folded words of `text`, in order.
pub(crate) fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The first `MAX_PREFIX_CHARS` characters of a word (the whole word if shorter).
pub(crate) fn clip_prefix(word: &str) -> &str {
    match word.char_indices().nth(MAX_PREFIX_CHARS) {
        Some((at, _)) => &word[..at],
        None => word,
    }
}

/// Every prefix of `word` from one character up to `MAX_PREFIX_CHARS`.
pub(crate) fn prefixes(word: &str) -> impl Iterator<Item = &str> {
    let clipped = clip_prefix(word);
    clipped.char_indices().skip(1).map(|(at, _)| &clipped[..at]).chain(std::iter::once(clipped))
}

/// How many typos a word of the query may have: none for one or two
/// letters (every short word would match), one up to seven, two from eight.
pub(crate) fn allowed_typos(word: &str) -> u8 {
    match word.chars().count() {
        0..=2 => 0,
        3..=7 => 1,
        _ => 2,
    }
}

/// The optimal-string-alignment distance (a transposition counts as one
/// edit, as in the index's fuzzy queries), or `None` once it exceeds `max`.
pub(crate) fn edit_distance(a: &str, b: &str, max: u8) -> Option<u8> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let width = b.len() + 1;
    let mut rows = vec![0usize; (a.len() + 1) * width];
    rows[..width].iter_mut().enumerate().for_each(|(j, cell)| *cell = j);
    for i in 1..=a.len() {
        rows[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
        }
    }
    let distance = rows[a.len() * width + b.len()];
    (distance <= max).then_some(distance as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_case_and_splits_on_punctuation() {
        let mut analyzer = analyzer();
        assert_eq!(
            words(&mut analyzer, "Le Fabuleux Destin d'AMÉLIE Poulain"),
            ["le", "fabuleux", "destin", "d", "amelie", "poulain"]
        );
        assert_eq!(words(&mut analyzer, "title:(\"x\" OR y*)"), ["title", "x", "or", "y"]);
    }

    #[test]
    fn prefixes_stop_at_the_clip_length() {
        assert_eq!(prefixes("godf").collect::<Vec<_>>(), ["g", "go", "god", "godf"]);
        assert_eq!(prefixes("abcdefghijklmnop").count(), MAX_PREFIX_CHARS);
        assert_eq!(clip_prefix("été"), "été");
    }

    #[test]
    fn edit_distance_counts_a_transposition_once() {
        assert_eq!(edit_distance("godfathr", "godfather", 2), Some(1));
        assert_eq!(edit_distance("godfahter", "godfather", 1), Some(1));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("", "ab", 2), Some(2));
    }
}
