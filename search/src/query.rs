//! A [`SearchQuery`] as a tantivy query. The text is never parsed as query
//! syntax: it is cut into folded words, and each word becomes a small
//! disjunction of exact, prefix and fuzzy lookups with fixed scores, so a
//! page's order is explainable:
//!
//! - a word found as typed scores 1.0, the last word found as a prefix 0.8,
//!   a word found with one typo 0.6, with two 0.4 (two only for words of
//!   eight letters or more, one from three);
//! - every word must match (a query with several words falls back to any
//!   word when no document has them all);
//! - a name that is exactly the query adds 0.5;
//! - popularity adds `POPULARITY_WEIGHT · ln(1 + votes)`: at most about 0.3
//!   for the most-voted titles, so it orders equally good matches and lets a
//!   famous title typed as a prefix pass an obscure exact one, but never puts
//!   a typo match above an exact match.

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, Query,
    RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::Term;

use crate::analyze::{self, allowed_typos, clip_prefix};
use crate::model::{SearchQuery, Target, MAX_QUERY_CHARS, MAX_QUERY_WORDS};
use crate::schema::{Fields, TARGET_PERSON, TARGET_TITLE};

pub(crate) const EXACT: f32 = 1.0;
pub(crate) const PREFIX: f32 = 0.8;
pub(crate) const ONE_TYPO: f32 = 0.6;
pub(crate) const TWO_TYPOS: f32 = 0.4;
pub(crate) const WHOLE_NAME: f32 = 0.5;
pub(crate) const POPULARITY_WEIGHT: f32 = 0.02;

pub(crate) fn popularity(votes: u64) -> f32 {
    POPULARITY_WEIGHT * (votes as f32).ln_1p()
}

/// The folded words of a query's text, bounded.
pub(crate) fn query_words(text: &str, analyzer: &mut TextAnalyzer) -> Vec<String> {
    let text = match text.char_indices().nth(MAX_QUERY_CHARS) {
        Some((at, _)) => &text[..at],
        None => text,
    };
    let mut words = analyze::words(analyzer, text);
    words.truncate(MAX_QUERY_WORDS);
    words
}

fn keyword(field: tantivy::schema::Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
}

fn scored(query: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, score))
}

/// The ways one word of the query may match a document.
fn word_query(fields: &Fields, word: &str, is_last: bool) -> Box<dyn Query> {
    let mut ways: Vec<Box<dyn Query>> = vec![scored(keyword(fields.names, word), EXACT)];
    if is_last {
        ways.push(scored(keyword(fields.prefix, clip_prefix(word)), PREFIX));
    }
    let typos = allowed_typos(word);
    let term = Term::from_field_text(fields.names, word);
    if typos >= 1 {
        ways.push(Box::new(BoostQuery::new(Box::new(FuzzyTermQuery::new(term.clone(), 1, true)), ONE_TYPO)));
    }
    if typos >= 2 {
        ways.push(Box::new(BoostQuery::new(Box::new(FuzzyTermQuery::new(term, 2, true)), TWO_TYPOS)));
    }
    Box::new(DisjunctionMaxQuery::new(ways))
}

/// The filters of a query (they add nothing to the score).
fn filters(fields: &Fields, q: &SearchQuery) -> Vec<Box<dyn Query>> {
    let mut out: Vec<Box<dyn Query>> = Vec::new();
    match q.target {
        Target::Titles => out.push(keyword(fields.target, TARGET_TITLE)),
        Target::People => out.push(keyword(fields.target, TARGET_PERSON)),
        Target::All => {}
    }
    if !q.kinds.is_empty() {
        out.push(Box::new(TermSetQuery::new(
            q.kinds.iter().map(|kind| Term::from_field_text(fields.kind, kind)),
        )));
    }
    if !q.genres.is_empty() {
        let genres = q
            .genres
            .iter()
            .map(|genre| Term::from_field_text(fields.genre, genre.trim().to_lowercase().as_str()));
        out.push(Box::new(TermSetQuery::new(genres)));
    }
    if q.year_min.is_some() || q.year_max.is_some() {
        let bound = |year: Option<i32>| match year {
            Some(year) => Bound::Included(Term::from_field_i64(fields.year, i64::from(year))),
            None => Bound::Unbounded,
        };
        out.push(Box::new(RangeQuery::new(bound(q.year_min), bound(q.year_max))));
    }
    if let Some(rating) = q.rating_min {
        let lower = Bound::Included(Term::from_field_f64(fields.rating, f64::from(rating)));
        out.push(Box::new(RangeQuery::new(lower, Bound::Unbounded)));
    }
    out.into_iter().map(|filter| scored(filter, 0.0)).collect()
}

/// Documents that pass the filters (everything without filters).
pub(crate) fn browse(fields: &Fields, q: &SearchQuery) -> Box<dyn Query> {
    let filters = filters(fields, q);
    if filters.is_empty() {
        return Box::new(AllQuery);
    }
    Box::new(BooleanQuery::new(filters.into_iter().map(|filter| (Occur::Must, filter)).collect()))
}

/// Documents that pass the filters and match `words`: all of them, or any
/// of them when `all_words` is false.
pub(crate) fn text(fields: &Fields, q: &SearchQuery, words: &[String], all_words: bool) -> Box<dyn Query> {
    let last = words.len().saturating_sub(1);
    let words_query: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .enumerate()
        .map(|(n, word)| {
            (if all_words { Occur::Must } else { Occur::Should }, word_query(fields, word, n == last))
        })
        .collect();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        filters(fields, q).into_iter().map(|f| (Occur::Must, f)).collect();
    clauses.push((Occur::Must, Box::new(BooleanQuery::new(words_query))));
    clauses.push((Occur::Should, scored(keyword(fields.full, &words.join(" ")), WHOLE_NAME)));
    Box::new(BooleanQuery::new(clauses))
}

/// How well `name` matches `words` by the rules above (without popularity):
/// picks the name a hit shows.
pub(crate) fn name_score(words: &[String], name: &str, analyzer: &mut TextAnalyzer) -> f32 {
    let name_words = analyze::words(analyzer, name);
    let last = words.len().saturating_sub(1);
    let mut score: f32 = words
        .iter()
        .enumerate()
        .map(|(n, word)| {
            name_words
                .iter()
                .map(|candidate| {
                    if candidate == word {
                        EXACT
                    } else if n == last
                        && candidate.starts_with(clip_prefix(word))
                        && candidate.len() >= word.len()
                    {
                        PREFIX
                    } else {
                        match analyze::edit_distance(word, candidate, allowed_typos(word)) {
                            Some(1) => ONE_TYPO,
                            Some(2) => TWO_TYPOS,
                            _ => 0.0,
                        }
                    }
                })
                .fold(0.0, f32::max)
        })
        .sum();
    if name_words == words {
        score += WHOLE_NAME;
    }
    score
}
