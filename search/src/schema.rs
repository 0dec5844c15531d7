//! The index's fields and how a title or a person becomes a tantivy document.

use std::collections::HashSet;

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::TantivyDocument;

use crate::analyze::{self, TOKENIZER};
use crate::model::{bounded_names, bounded_tags, PersonDoc, TitleDoc};

/// Bump when the schema or what is written into a field changes: an index
/// of another version must be rebuilt, not read.
pub const SCHEMA_VERSION: u32 = 1;

pub(crate) const TARGET_TITLE: &str = "title";
pub(crate) const TARGET_PERSON: &str = "person";
pub(crate) const VOTES: &str = "votes";
pub(crate) const RATING: &str = "rating";
pub(crate) const YEAR: &str = "year";
pub(crate) const SORT_NAME: &str = "sort_name";

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    /// "title" or "person".
    pub target: Field,
    pub kind: Field,
    pub genre: Field,
    pub year: Field,
    pub rating: Field,
    pub votes: Field,
    /// Every name, folded words; stored so a hit can say which name matched.
    pub names: Field,
    /// Every prefix of every word of every name (up to 12 characters): a
    /// prefix typed so far is one term lookup, not a scan of the dictionary.
    pub prefix: Field,
    /// Each name's folded words joined by one space: an exact whole-name match.
    pub full: Field,
    /// The primary name's folded words, for sorting A to Z.
    pub sort_name: Field,
}

/// A keyword: one term per value, no positions, no field norms (scores
/// here do not depend on a field's length).
fn keyword() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    )
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let names = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
        .set_stored();
    let fields = Fields {
        id: builder.add_text_field("id", keyword().set_stored()),
        target: builder.add_text_field("target", keyword().set_stored()),
        kind: builder.add_text_field("kind", keyword()),
        genre: builder.add_text_field("genre", keyword()),
        year: builder.add_i64_field(YEAR, NumericOptions::from(INDEXED | FAST)),
        rating: builder.add_f64_field(RATING, NumericOptions::from(INDEXED | FAST)),
        votes: builder.add_u64_field(VOTES, FAST),
        names: builder.add_text_field("names", names),
        prefix: builder.add_text_field("prefix", keyword()),
        full: builder.add_text_field("full", keyword()),
        sort_name: builder.add_text_field(SORT_NAME, keyword().set_fast("raw")),
    };
    (builder.build(), fields)
}

impl Fields {
    /// The name fields of a document: names (stored), every word's
    /// prefixes, each whole name, and the sort key of the first name.
    fn add_names(&self, doc: &mut TantivyDocument, names: &[&str], analyzer: &mut TextAnalyzer) {
        let mut prefixes: HashSet<String> = HashSet::new();
        let mut fulls: HashSet<String> = HashSet::new();
        for (n, name) in names.iter().enumerate() {
            doc.add_text(self.names, name);
            let words = analyze::words(analyzer, name);
            for word in &words {
                prefixes.extend(analyze::prefixes(word).map(str::to_owned));
            }
            let full = words.join(" ");
            if n == 0 {
                doc.add_text(self.sort_name, &full);
            }
            if !full.is_empty() {
                fulls.insert(full);
            }
        }
        for prefix in prefixes {
            doc.add_text(self.prefix, prefix);
        }
        for full in fulls {
            doc.add_text(self.full, full);
        }
    }

    /// A validated title as a document.
    pub(crate) fn title(&self, title: &TitleDoc, analyzer: &mut TextAnalyzer) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &title.id);
        doc.add_text(self.target, TARGET_TITLE);
        doc.add_text(self.kind, &title.kind);
        for genre in bounded_tags(&title.genres) {
            doc.add_text(self.genre, genre);
        }
        if let Some(year) = title.year {
            doc.add_i64(self.year, i64::from(year));
        }
        if let Some(rating) = title.rating {
            doc.add_f64(self.rating, f64::from(rating));
        }
        doc.add_u64(self.votes, title.votes);
        self.add_names(&mut doc, &bounded_names(&title.names), analyzer);
        doc
    }

    /// A validated person as a document.
    pub(crate) fn person(&self, person: &PersonDoc, analyzer: &mut TextAnalyzer) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &person.id);
        doc.add_text(self.target, TARGET_PERSON);
        doc.add_u64(self.votes, person.known_for_votes);
        self.add_names(&mut doc, &bounded_names(std::iter::once(&person.name)), analyzer);
        doc
    }
}
