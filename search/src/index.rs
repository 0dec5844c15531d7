//! The index itself: one tantivy index in a directory (or in RAM), one
//! writer behind a lock, one reader reloaded on commit.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use tantivy::collector::{Count, TopDocs};
use tantivy::indexer::UserOperation;
use tantivy::query::Query;
use tantivy::schema::Value;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::analyze::{self, TOKENIZER};
use crate::error::SearchError;
use crate::model::{
    check_id, Hit, PersonDoc, SearchPage, SearchQuery, Sort, Target, TitleDoc, MAX_LIMIT, MAX_OFFSET,
};
use crate::query::{self, popularity};
use crate::schema::{self, Fields, RATING, SCHEMA_VERSION, SORT_NAME, TARGET_PERSON, VOTES, YEAR};

/// The writer's indexing memory, all threads together: past it, tantivy
/// writes a segment to disk, so a bulk import stays within this.
pub const WRITER_MEMORY_BYTES: usize = 64 << 20;
/// At most this many indexing threads (the machines have few cores, and
/// the server has other work).
pub const MAX_WRITER_THREADS: usize = 2;
/// The file next to tantivy's own that records [`SCHEMA_VERSION`].
pub const VERSION_FILE: &str = "cdlc-search-version";

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: RwLock<IndexWriter>,
    fields: Fields,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("dir", &self.dir).field("docs", &self.doc_count()).finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io { path: path.to_owned(), source }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating the directory and an empty index
    /// when there is none. An index of another schema version is an error
    /// ([`SearchError::SchemaMismatch`]): rebuild it with [`SearchIndex::recreate`].
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (schema, fields) = schema::schema();
        let version_path = dir.join(VERSION_FILE);
        let index = if dir.join("meta.json").exists() {
            let found = match std::fs::read_to_string(&version_path) {
                Ok(text) => text.trim().to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => "none".to_owned(),
                Err(e) => return Err(io(&version_path)(e)),
            };
            if found != SCHEMA_VERSION.to_string() {
                return Err(SearchError::SchemaMismatch {
                    dir: dir.to_owned(),
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            let index = Index::open_in_dir(dir)?;
            if index.schema() != schema {
                let found = format!("{found} (with other fields)");
                return Err(SearchError::SchemaMismatch {
                    dir: dir.to_owned(),
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
            index
        } else {
            let index = Index::create_in_dir(dir, schema)?;
            std::fs::write(&version_path, format!("{SCHEMA_VERSION}\n")).map_err(io(&version_path))?;
            index
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WRITER_THREADS);
        Self::with_index(index, fields, Some(dir.to_owned()), threads, WRITER_MEMORY_BYTES)
    }

    /// Deletes the index in `dir` (only if `dir` holds one, or is empty or
    /// missing) and opens a new, empty one there.
    pub fn recreate(dir: &Path) -> Result<SearchIndex, SearchError> {
        if dir.exists() {
            let holds_index = dir.join("meta.json").exists() || dir.join(VERSION_FILE).exists();
            let is_empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
            if !holds_index && !is_empty {
                return Err(SearchError::Io {
                    path: dir.to_owned(),
                    source: std::io::Error::other(
                        "the directory is not empty and holds no search index: not deleting it",
                    ),
                });
            }
            std::fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        Self::open(dir)
    }

    /// An index in memory (tests, small catalogs).
    pub fn in_memory() -> Result<SearchIndex, SearchError> {
        let (schema, fields) = schema::schema();
        Self::with_index(Index::create_in_ram(schema), fields, None, 1, 20 << 20)
    }

    fn with_index(
        index: Index,
        fields: Fields,
        dir: Option<PathBuf>,
        threads: usize,
        memory: usize,
    ) -> Result<SearchIndex, SearchError> {
        index.tokenizers().register(TOKENIZER, analyze::analyzer());
        let writer = index.writer_with_num_threads(threads, memory).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => {
                SearchError::Locked { dir: dir.clone().unwrap_or_else(|| PathBuf::from("(memory)")) }
            }
            other => SearchError::Index(other),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex { index, reader, writer: RwLock::new(writer), fields, dir })
    }

    fn analyzer(&self) -> TextAnalyzer {
        self.index.tokenizers().get(TOKENIZER).unwrap_or_else(analyze::analyzer)
    }

    fn write(&self, ids: Vec<&str>, docs: Vec<TantivyDocument>) -> Result<(), SearchError> {
        let ops: Vec<UserOperation> = ids
            .into_iter()
            .zip(docs)
            .flat_map(|(id, doc)| {
                [UserOperation::Delete(Term::from_field_text(self.fields.id, id)), UserOperation::Add(doc)]
            })
            .collect();
        self.writer.read().map_err(|_| SearchError::Poisoned)?.run(ops)?;
        Ok(())
    }

    /// Adds titles, replacing any document of the same id. The batch is
    /// checked first: one invalid title writes none. Visible after [`commit`](Self::commit).
    pub fn upsert_titles(&self, docs: &[TitleDoc]) -> Result<(), SearchError> {
        docs.iter().try_for_each(TitleDoc::validate)?;
        let mut analyzer = self.analyzer();
        let built = docs.iter().map(|doc| self.fields.title(doc, &mut analyzer)).collect();
        self.write(docs.iter().map(|doc| doc.id.as_str()).collect(), built)
    }

    /// Adds people, replacing any document of the same id (as titles).
    pub fn upsert_people(&self, docs: &[PersonDoc]) -> Result<(), SearchError> {
        docs.iter().try_for_each(PersonDoc::validate)?;
        let mut analyzer = self.analyzer();
        let built = docs.iter().map(|doc| self.fields.person(doc, &mut analyzer)).collect();
        self.write(docs.iter().map(|doc| doc.id.as_str()).collect(), built)
    }

    /// Removes the title or person `id` (nothing if there is none).
    pub fn delete(&self, id: &str) -> Result<(), SearchError> {
        check_id(id)?;
        self.writer
            .read()
            .map_err(|_| SearchError::Poisoned)?
            .delete_term(Term::from_field_text(self.fields.id, id));
        Ok(())
    }

    /// Makes every write so far durable and visible to searches.
    pub fn commit(&self) -> Result<(), SearchError> {
        self.writer.write().map_err(|_| SearchError::Poisoned)?.commit()?;
        self.reader.reload()?;
        tracing::debug!(docs = self.doc_count(), "search index committed");
        Ok(())
    }

    /// Documents visible to searches.
    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// A page of titles and/or people: best match first, popular first
    /// among equally good matches; by votes when the text is empty.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        self.search_sorted(q, Sort::Relevance)
    }

    /// As [`search`](Self::search), in another order. With a sort other
    /// than relevance the text only selects, and `score` is 0.
    pub fn search_sorted(&self, q: &SearchQuery, sort: Sort) -> Result<SearchPage, SearchError> {
        q.validate()?;
        let mut analyzer = self.analyzer();
        let words = query::query_words(&q.text, &mut analyzer);
        if words.is_empty() && !q.text.trim().is_empty() {
            // Only punctuation: nothing to look for, and not a browse of everything.
            return Ok(SearchPage { hits: Vec::new(), total: 0 });
        }
        let limit = q.limit.min(MAX_LIMIT);
        let offset = q.offset.min(MAX_OFFSET);
        let searcher = self.reader.searcher();
        let (total, top) = if words.is_empty() {
            self.collect(&searcher, &*query::browse(&self.fields, q), sort, limit, offset)?
        } else {
            let all = query::text(&self.fields, q, &words, true);
            let found = self.collect(&searcher, &*all, sort, limit, offset)?;
            if found.0 == 0 && words.len() > 1 {
                self.collect(&searcher, &*query::text(&self.fields, q, &words, false), sort, limit, offset)?
            } else {
                found
            }
        };
        let hits = top
            .into_iter()
            .map(|(score, address)| self.hit(&searcher, address, score, &words, &mut analyzer))
            .collect::<Result<_, _>>()?;
        Ok(SearchPage { hits, total })
    }

    /// The total and one page of `(score, doc)` in the order asked.
    fn collect(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        sort: Sort,
        limit: usize,
        offset: usize,
    ) -> Result<(u64, Vec<(f32, DocAddress)>), SearchError> {
        if limit == 0 {
            return Ok((searcher.search(query, &Count)? as u64, Vec::new()));
        }
        let page = TopDocs::with_limit(limit).and_offset(offset);
        fn unscored<K>(docs: Vec<(K, DocAddress)>) -> Vec<(f32, DocAddress)> {
            docs.into_iter().map(|(_, address)| (0.0, address)).collect()
        }
        let (count, docs) = match sort {
            Sort::Relevance => {
                let ranked = page.tweak_score(|segment: &tantivy::SegmentReader| {
                    let votes =
                        segment.fast_fields().u64(VOTES).ok().map(|column| column.first_or_default_col(0));
                    move |doc, score: f32| {
                        score + votes.as_ref().map_or(0.0, |votes| popularity(votes.get_val(doc)))
                    }
                });
                searcher.search(query, &(Count, ranked))?
            }
            Sort::Popularity => {
                let (count, docs) =
                    searcher.search(query, &(Count, page.order_by_fast_field::<u64>(VOTES, Order::Desc)))?;
                (
                    count,
                    docs.into_iter()
                        .map(|(votes, address)| (popularity(votes.unwrap_or(0)), address))
                        .collect(),
                )
            }
            Sort::Rating => {
                let (count, docs) =
                    searcher.search(query, &(Count, page.order_by_fast_field::<f64>(RATING, Order::Desc)))?;
                (count, unscored(docs))
            }
            Sort::Year => {
                let (count, docs) =
                    searcher.search(query, &(Count, page.order_by_fast_field::<i64>(YEAR, Order::Desc)))?;
                (count, unscored(docs))
            }
            Sort::Title => {
                let (count, docs) = searcher
                    .search(query, &(Count, page.order_by_string_fast_field(SORT_NAME, Order::Asc)))?;
                (count, unscored(docs))
            }
        };
        Ok((count as u64, docs))
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: f32,
        words: &[String],
        analyzer: &mut TextAnalyzer,
    ) -> Result<Hit, SearchError> {
        let doc: TantivyDocument = searcher.doc(address)?;
        let text =
            |field| doc.get_first(field).and_then(|value| value.as_str()).unwrap_or_default().to_owned();
        let target = if text(self.fields.target) == TARGET_PERSON { Target::People } else { Target::Titles };
        let mut best: Option<(f32, &str)> = None;
        for name in doc.get_all(self.fields.names).filter_map(|value| value.as_str()) {
            let quality = if words.is_empty() { 0.0 } else { query::name_score(words, name, analyzer) };
            if best.is_none_or(|(top, _)| quality > top) {
                best = Some((quality, name));
            }
        }
        let name = best.map(|(_, name)| name.to_owned()).unwrap_or_default();
        Ok(Hit { id: text(self.fields.id), target, name, score })
    }
}
