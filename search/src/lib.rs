//! The catalog's search index: titles (with every aka) and people in one
//! tantivy index, searched as the user types.
//!
//! - Words are folded (case, accents: "AMÉLIE" finds "Amélie") and matched
//!   exactly, with typos (one for words of 3–7 letters, two from 8:
//!   "godfathr" finds "The Godfather"), and the last word as a prefix
//!   ("godf").
//! - Ranking is relevance first, then popularity (`ln(1 + votes)`); the
//!   scores are fixed per kind of match (see `query.rs`), not BM25, so a
//!   title with eighty akas is not pushed down by its long name field.
//! - Filters: kind, genre, year range, minimum rating; empty text browses,
//!   most votes first, or in another [`Sort`].
//! - Every input is bounded: 200 characters and 10 words of text, 100 hits
//!   a page, offsets up to 1000; the text is never query syntax.
//!
//! Writes are buffered by the writer (at most [`WRITER_MEMORY_BYTES`]) and
//! become visible on [`SearchIndex::commit`]: batch them, commit once per batch.

mod analyze;
mod error;
mod index;
mod model;
mod query;
mod schema;

pub use error::SearchError;
pub use index::{SearchIndex, MAX_WRITER_THREADS, VERSION_FILE, WRITER_MEMORY_BYTES};
pub use model::{
    Hit, PersonDoc, SearchPage, SearchQuery, Sort, Target, TitleDoc, MAX_FILTER_VALUES, MAX_LIMIT, MAX_NAMES,
    MAX_NAME_CHARS, MAX_OFFSET, MAX_QUERY_CHARS, MAX_QUERY_WORDS, TITLE_KINDS,
};
pub use schema::SCHEMA_VERSION;

/// The index is shared by the HTTP handlers (through `spawn_blocking`).
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<SearchIndex>();
};
