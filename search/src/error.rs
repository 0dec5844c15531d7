//! One error type for the search index. A variant a caller can cause (a bad
//! query, a bad document) carries a sentence that says what to change.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query cannot be run as given (a rating outside 0–10, a year range
    /// that is upside down, an unknown kind). The message says what to fix.
    #[error("{0}")]
    InvalidQuery(String),

    /// A document cannot be indexed; nothing of its batch was written.
    #[error("document {id:?} cannot be indexed: {reason}")]
    InvalidDocument { id: String, reason: String },

    /// The directory holds an index written with another schema: it has to be
    /// rebuilt (`SearchIndex::recreate`, then a re-import), not opened.
    #[error(
        "the search index in {dir} has schema version {found}, this build needs {expected}: \
         rebuild it (delete the directory or call SearchIndex::recreate, then re-import the catalog)"
    )]
    SchemaMismatch { dir: PathBuf, found: String, expected: u32 },

    /// Another process (or another `SearchIndex` in this one) writes to the directory.
    #[error("the search index in {dir} is in use by another writer: stop the other process or use another directory")]
    Locked { dir: PathBuf },

    #[error("search index storage at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),

    /// A thread panicked while it held the writer; the process should restart.
    #[error("the search index writer was poisoned by a panic in another thread")]
    Poisoned,
}

impl SearchError {
    /// True for errors the caller's input caused (map them to a 400).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, SearchError::InvalidQuery(_) | SearchError::InvalidDocument { .. })
    }
}
