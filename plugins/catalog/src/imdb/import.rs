//! The passes of an import. Each file is read on a blocking thread in
//! batches of lines, each batch parsed and hashed in parallel (rayon), and
//! handed over a channel of two batches (so memory stays bounded however
//! large the file) to the writer, which compares the hashes with the
//! stored ones and writes only new and changed rows, one transaction per
//! batch. A second run of the same files therefore writes nothing, and a
//! newer file updates only the rows that changed.
//!
//! Order: ratings are read first (the filters need the votes, and new
//! titles are written with their rating at once); then titles, their
//! ratings, episodes, akas, crew, principals; people last, so that with a
//! filter only the people credited in the kept titles are written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{Db, Sql, StoreError};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::datasets::{format_id, parse, parse_id, Dataset, Record};
use super::known::{Known, Stored};
use super::tsv::{open_gzip, Line};
use crate::index::{Index, IndexError};
use crate::model::{clip, kind_of_imdb, now_ms, sort_key, Kind, IMDB_TYPES};
use crate::schema::secondary_indexes;
use crate::sql::{self, query_ids, Statement};

/// Maps and sets keyed by an id's number: foldhash (seeded per process)
/// hashes a number several times faster than the standard SipHash, and
/// the import looks one up for nearly every row.
type IdMap<V> = foldhash::HashMap<u32, V>;
type IdSet = foldhash::HashSet<u32>;

/// Rejections kept per file as examples (all are counted).
pub const SAMPLED_REJECTIONS: usize = 20;
/// The largest `top`.
pub const MAX_TOP: u64 = 100_000_000;

/// One file to import.
#[derive(Debug, Clone)]
pub struct ImportFile {
    pub path: PathBuf,
    /// How the user named it (`title.basics.tsv.gz`): its dataset comes
    /// from the name, or from its header when the name says none.
    pub name: String,
}

/// What to keep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportOptions {
    /// IMDb title types (`movie`, `tvSeries`, `tvEpisode`…) or catalog kinds
    /// (`movie`, `series`, `episode`…); empty keeps every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only titles with at least this many IMDb votes (needs title.ratings).
    #[serde(default)]
    pub min_votes: Option<u64>,
    /// Only the N titles with the most votes (after the other filters; needs title.ratings).
    #[serde(default)]
    pub top: Option<u64>,
}

impl ImportOptions {
    fn filtering(&self) -> bool {
        !self.kinds.is_empty() || self.min_votes.is_some() || self.top.is_some()
    }

    /// Checks the kinds and `top`; the error names what to change.
    pub fn check(&self) -> Result<(), ImportError> {
        for kind in &self.kinds {
            if !IMDB_TYPES.iter().any(|(t, _)| t == kind) && Kind::parse(kind).is_err() {
                return Err(ImportError::Options(format!(
                    "unknown kind {:?}: use IMDb title types ({}) or catalog kinds (movie, series, season, episode, short, documentary)",
                    clip(kind, 40),
                    IMDB_TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        if self.top.is_some_and(|top| top == 0 || top > MAX_TOP) {
            return Err(ImportError::Options(format!("top must be 1 to {MAX_TOP}")));
        }
        Ok(())
    }

    fn keeps(&self, title_type: &str, kind: Kind, votes: u64) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == title_type || k == kind.as_str()))
            && self.min_votes.is_none_or(|min| votes >= min)
    }
}

/// What an import is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading the files and writing their rows.
    #[default]
    Reading,
    /// Every file read: building the deferred indexes and committing the search index.
    Indexing,
}

impl Phase {
    /// How a person reads it: "reading the files", "building the indexes".
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Reading => "reading the files",
            Phase::Indexing => "building the indexes",
        }
    }
}

/// Where an import is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub phase: Phase,
    pub file: String,
    /// Compressed bytes read, of every file so far.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Rows read so far, of every file.
    pub rows: u64,
}

impl Progress {
    /// 0–99 from the compressed bytes read: 100 is only for a finished
    /// import, so the last file read still leaves the index builds to wait for.
    pub fn percent(&self) -> f64 {
        if self.bytes_total == 0 {
            return 0.0;
        }
        (self.bytes_done as f64 * 100.0 / self.bytes_total as f64).min(99.0)
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    pub line: u64,
    pub reason: String,
}

/// What an import did with one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileReport {
    pub file: String,
    pub dataset: String,
    /// Lines after the header.
    pub rows_read: u64,
    /// Rows that were new or changed and were written.
    pub rows_written: u64,
    /// Rows already stored as they are.
    pub rows_unchanged: u64,
    /// Rows left out by the filters, or about a title or person the catalog does not have.
    pub rows_skipped: u64,
    /// Rows that could not be read (each with a reason; the first few are sampled).
    pub rows_rejected: u64,
    pub rejections: Vec<Rejection>,
}

impl FileReport {
    fn reject(&mut self, line: u64, reason: impl Into<String>) {
        self.rows_rejected += 1;
        if self.rejections.len() < SAMPLED_REJECTIONS {
            self.rejections.push(Rejection { line, reason: reason.into() });
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub files: Vec<FileReport>,
    pub titles_indexed: u64,
    pub people_indexed: u64,
    /// Seconds of the whole import.
    pub seconds: f64,
    /// Of which building the deferred table indexes again, after the files.
    #[serde(default)]
    pub index_seconds: f64,
    /// Of which updating the search index, last.
    #[serde(default)]
    pub search_seconds: f64,
}

impl Report {
    pub fn rows_written(&self) -> u64 {
        self.files.iter().map(|f| f.rows_written).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file that cannot be imported at all; the message says why.
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A batch's write stopped without an answer (its task panicked or was cancelled).
    #[error("a write of the import failed: {0}")]
    Write(String),
}

fn file_error(file: &str, message: impl Into<String>) -> ImportError {
    ImportError::File { file: file.to_owned(), message: message.into() }
}

/// A parsed row: its line, the hash of its line, the record.
type Parsed = (u64, u64, Record);

/// One batch from the reader thread.
struct ReadBatch {
    rows: Vec<Parsed>,
    rejected: Vec<(u64, String)>,
    read: u64,
}

fn hash(bytes: &[u8]) -> u64 {
    twox_hash::XxHash64::oneshot(0, bytes)
}

/// A header's columns for a sentence: `tconst, titleType, …`.
fn columns(header: &str) -> String {
    clip(&header.split('\t').collect::<Vec<_>>().join(", "), 300).to_owned()
}

/// Reads the header line of `file` and checks it: the dataset it is.
fn check_header(file: &ImportFile) -> Result<Dataset, ImportError> {
    let mut lines = open_gzip(&file.path, Arc::default()).map_err(|m| file_error(&file.name, m))?;
    let header = match lines.next_line() {
        Ok(Some(Line::Text(text))) => String::from_utf8_lossy(text).into_owned(),
        Ok(Some(Line::TooLong)) => return Err(file_error(&file.name, "its first line is not a header")),
        Ok(None) => return Err(file_error(&file.name, "it is empty: it has no header")),
        Err(e) => return Err(file_error(&file.name, format!("it cannot be decompressed: {e}"))),
    };
    match Dataset::from_file_name(&file.name) {
        Some(dataset) if dataset.header() == header => Ok(dataset),
        Some(dataset) => Err(file_error(
            &file.name,
            format!(
                "the header has the columns {}, but {} has {}",
                columns(&header),
                dataset.name(),
                columns(dataset.header())
            ),
        )),
        None => Dataset::from_header(&header).ok_or_else(|| {
            file_error(
                &file.name,
                format!(
                    "the header has the columns {}, which is none of the IMDb datasets (title.basics, title.akas, title.episode, title.crew, title.principals, title.ratings, name.basics)",
                    columns(&header)
                ),
            )
        }),
    }
}

/// Checks that each file is gzip with the header of one IMDb dataset, and
/// no dataset comes twice: each file's dataset and size.
pub async fn check_files(files: &[ImportFile]) -> Result<Vec<(Dataset, ImportFile, u64)>, ImportError> {
    let mut planned: Vec<(Dataset, ImportFile, u64)> = Vec::new();
    for file in files {
        let checked = file.clone();
        let dataset = tokio::task::spawn_blocking(move || check_header(&checked))
            .await
            .map_err(|e| file_error(&file.name, e.to_string()))??;
        if let Some((_, other, _)) = planned.iter().find(|(d, _, _)| *d == dataset) {
            return Err(file_error(
                &file.name,
                format!("{} is given twice (also as {})", dataset.name(), other.name),
            ));
        }
        let size = std::fs::metadata(&file.path).map(|m| m.len()).unwrap_or(0);
        planned.push((dataset, file.clone(), size));
    }
    Ok(planned)
}

/// Reads `file` on a blocking thread and sends its parsed batches.
fn spawn_reader(
    file: ImportFile,
    dataset: Dataset,
    bytes: Arc<AtomicU64>,
) -> tokio::sync::mpsc::Receiver<Result<ReadBatch, String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let mut lines = match open_gzip(&file.path, bytes) {
            Ok(lines) => lines,
            Err(message) => {
                let _ = tx.blocking_send(Err(message));
                return;
            }
        };
        // The header was checked before the import began.
        if let Err(e) = lines.next_line() {
            let _ = tx.blocking_send(Err(format!("it cannot be decompressed: {e}")));
            return;
        }
        loop {
            let batch = match lines.next_batch() {
                Ok(batch) => batch,
                Err(e) => {
                    let _ = tx.blocking_send(Err(format!(
                        "it cannot be decompressed after line {}: {e}",
                        lines.number
                    )));
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            let parsed: Vec<Result<Parsed, (u64, String)>> = batch
                .lines
                .par_iter()
                .map(|(number, range)| {
                    let bytes = batch.line(range);
                    let text =
                        std::str::from_utf8(bytes).map_err(|_| (*number, "is not UTF-8".to_owned()))?;
                    parse(dataset, text)
                        .map(|record| (*number, hash(bytes), record))
                        .map_err(|e| (*number, e))
                })
                .collect();
            let read = (batch.lines.len() + batch.too_long.len()) as u64;
            let mut rows = Vec::with_capacity(parsed.len());
            let mut rejected: Vec<(u64, String)> = batch
                .too_long
                .iter()
                .map(|n| (*n, format!("is longer than {} bytes", super::tsv::MAX_LINE)))
                .collect();
            for item in parsed {
                match item {
                    Ok(row) => rows.push(row),
                    Err(rejection) => rejected.push(rejection),
                }
            }
            if tx.blocking_send(Ok(ReadBatch { rows, rejected, read })).is_err() {
                return; // the import stopped
            }
        }
    });
    rx
}

/// Imports `files` into the catalog's tables (and `index`, when given).
/// Every file is checked (gzip, header) before anything is written; a row
/// that cannot be read is counted and sampled in the report, never fatal.
pub async fn import(
    db: &Db,
    index: Option<&Index>,
    files: &[ImportFile],
    options: &ImportOptions,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Report, ImportError> {
    let started = Instant::now();
    options.check()?;
    if files.is_empty() {
        return Err(ImportError::Options("name at least one .tsv.gz file to import".into()));
    }
    let mut planned = check_files(files).await?;
    planned.sort_by_key(|(d, _, _)| *d);
    let has = |d: Dataset| planned.iter().any(|(p, _, _)| *p == d);
    if (options.min_votes.is_some() || options.top.is_some()) && !has(Dataset::Ratings) {
        return Err(ImportError::Options("min_votes and top need title.ratings among the files".into()));
    }
    let mut total: u64 = planned.iter().map(|(_, _, size)| size).sum();
    if options.top.is_some() {
        total += planned.iter().filter(|(d, _, _)| *d == Dataset::Basics).map(|(_, _, s)| s).sum::<u64>();
    }

    // The indexes are built again however the passes end (a stopped
    // import, or one that could not drop them all, is healed at start too),
    // while the search index takes in the people (the titles' documents
    // were sent to it while the later files were read).
    let mut passes = match defer_indexes(db).await {
        Ok(deferred) => {
            run_passes(db, index, &planned, options, progress, total).await.map(|p| (p, deferred))
        }
        Err(error) => Err(error.into()),
    };
    if let Ok((passes, _)) = &passes {
        progress(&Progress {
            phase: Phase::Indexing,
            file: String::new(),
            bytes_done: total,
            bytes_total: total,
            rows: passes.report.files.iter().map(|f| f.rows_read).sum(),
        });
    }
    let rebuild = async {
        let started = Instant::now();
        (restore_indexes(db).await, started.elapsed().as_secs_f64())
    };
    let search = async {
        let (Ok((passes, _)), Some(index)) = (&mut passes, index) else { return Ok(None) };
        let started = Instant::now();
        let titles = match passes.titles_indexing.take() {
            Some(task) => task.finish().await?,
            None => 0,
        };
        let people = in_order("nm", &passes.touched_people);
        index.people(db, &people).await?;
        index.commit().await?;
        Ok::<_, ImportError>(Some((titles, people.len() as u64, started.elapsed().as_secs_f64())))
    };
    let ((rebuilt, index_seconds), searched) = tokio::join!(rebuild, search);
    let (Passes { mut report, .. }, deferred) = passes?;
    rebuilt?;
    report.index_seconds = index_seconds;
    if !deferred.is_empty() {
        tracing::info!(plugin = "catalog", indexes = %deferred.join(", "), "secondary indexes built after the import");
    }
    if let Some((titles, people, seconds)) = searched? {
        report.titles_indexed = titles;
        report.people_indexed = people;
        report.search_seconds = seconds;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Tables with fewer rows than this when an import starts are loaded
/// without their secondary indexes, which are built once at the end: a
/// B-tree built from sorted keys costs a fraction of one kept up to date
/// row by row, and rebuilding the index of so few existing rows costs
/// well under a second.
pub const DEFER_INDEXES_BELOW: i64 = 10_000;

/// The tables an import writes that have secondary indexes.
const IMPORTED_TABLES: [&str; 4] = ["titles", "title_genres", "credits", "people"];

/// Drops the secondary indexes of the imported tables that are (nearly)
/// empty; the names of those dropped. Indexes a stopped import left
/// dropped are built first, so the count is of a whole table.
async fn defer_indexes(db: &Db) -> Result<Vec<&'static str>, StoreError> {
    restore_indexes(db).await?;
    let mut dropped = Vec::new();
    for table in IMPORTED_TABLES {
        let rows = db.query(&format!("SELECT COUNT(*) AS n FROM {table}"), &[]).await?;
        let count: i64 = rows.first().map(|r| r.get("n")).transpose()?.unwrap_or(0);
        if count >= DEFER_INDEXES_BELOW {
            continue;
        }
        for index in secondary_indexes().into_iter().filter(|i| i.table == table) {
            db.drop_index(table, index.name).await?;
            dropped.push(index.name);
        }
    }
    Ok(dropped)
}

/// Creates every secondary index of the imported tables that is missing:
/// after an import (whether it succeeded or not), and at start, after an
/// import the process did not live to finish.
pub async fn restore_indexes(db: &Db) -> Result<(), StoreError> {
    for table in IMPORTED_TABLES {
        let present = db.indexes(table).await?;
        for index in secondary_indexes().into_iter().filter(|i| i.table == table) {
            if !present.iter().any(|p| p == index.name) {
                db.execute(index.create, &[]).await?;
            }
        }
    }
    Ok(())
}

/// What the passes did, and what the search index must take in.
struct Passes {
    report: Report,
    /// The titles' documents, being sent to the search index.
    titles_indexing: Option<Background>,
    touched_people: IdSet,
}

/// Search documents of the touched titles, sent to the index while the
/// files that do not change them (crew, principals, names) are read; aborted
/// if dropped unfinished (the import failed).
struct Background(tokio::task::JoinHandle<Result<u64, IndexError>>);

impl Background {
    fn titles(index: &Index, db: &Db, touched: &IdSet) -> Background {
        let (index, db) = (index.clone(), db.clone());
        let ids = in_order("tt", touched);
        Background(tokio::spawn(async move {
            index.titles(&db, &ids).await?;
            Ok(ids.len() as u64)
        }))
    }

    /// The number of titles indexed.
    async fn finish(mut self) -> Result<u64, IndexError> {
        (&mut self.0).await.map_err(|e| IndexError::Join(e.to_string()))?
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The ids of `numbers` in order: the documents are read a chunk of
/// neighbouring rows at a time, not scattered over the table.
fn in_order(prefix: &str, numbers: &IdSet) -> Vec<String> {
    let mut sorted: Vec<u32> = numbers.iter().copied().collect();
    sorted.sort_unstable();
    sorted.into_iter().map(|n| format_id(prefix, n)).collect()
}

/// Reads and writes every planned file, in order.
async fn run_passes(
    db: &Db,
    index: Option<&Index>,
    planned: &[(Dataset, ImportFile, u64)],
    options: &ImportOptions,
    progress: &(dyn Fn(&Progress) + Send + Sync),
    total: u64,
) -> Result<Passes, ImportError> {
    let has = |d: Dataset| planned.iter().any(|(p, _, _)| *p == d);
    let mut run = Run {
        db,
        options,
        progress,
        done: 0,
        total,
        rows: 0,
        ratings: IdMap::default(),
        kept: None,
        people: options.filtering().then(IdSet::default),
        touched_titles: IdSet::default(),
        touched_people: IdSet::default(),
        ratings_with_titles: 0,
        known_titles: Known::new(Table::Titles.fresh(db).await?),
        known_people: Known::new(Table::People.fresh(db).await?),
        in_flight: None,
    };
    let mut report = Report::default();
    let mut titles_indexing = None;
    // The last file that changes what a title's document holds.
    let last_for_titles =
        planned.iter().rposition(|(d, _, _)| matches!(d, Dataset::Ratings | Dataset::Basics | Dataset::Akas));
    // However the passes end, the batch in flight is written (or has
    // failed) before the import says it has ended: the indexes are built
    // and another import may begin only after it.
    let passes = async {
        for (at, (dataset, file, _)) in planned.iter().enumerate() {
            let mut file_report = FileReport {
                file: file.name.clone(),
                dataset: dataset.name().into(),
                ..FileReport::default()
            };
            match dataset {
                Dataset::Ratings => run.read_ratings(file, &mut file_report).await?,
                Dataset::Basics => {
                    if let Some(top) = options.top {
                        run.select_top(file, top).await?;
                    }
                    run.pass(file, *dataset, &mut file_report).await?;
                }
                _ => run.pass(file, *dataset, &mut file_report).await?,
            }
            report.files.push(file_report);
            // Ratings are written once the titles they belong to are (they
            // were read first for the filters); new titles took theirs already.
            let titles_done =
                *dataset == Dataset::Basics || (*dataset == Dataset::Ratings && !has(Dataset::Basics));
            if titles_done && has(Dataset::Ratings) {
                run.write_ratings(&mut report.files[0]).await?;
            }
            if Some(at) == last_for_titles {
                titles_indexing = index.map(|index| Background::titles(index, db, &run.touched_titles));
            }
        }
        Ok::<_, ImportError>(())
    }
    .await;
    let settled = run.settle().await;
    passes?;
    settled?;
    Ok(Passes { report, titles_indexing, touched_people: std::mem::take(&mut run.touched_people) })
}

struct Run<'a> {
    db: &'a Db,
    options: &'a ImportOptions,
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
    /// Bytes of the files finished so far.
    done: u64,
    total: u64,
    rows: u64,
    /// title.ratings, until written: average, votes, hash of the line.
    ratings: IdMap<(f64, u64, u64)>,
    /// With `top`: the titles to keep.
    kept: Option<IdSet>,
    /// With a filter: the people credited in the kept titles.
    people: Option<IdSet>,
    touched_titles: IdSet,
    touched_people: IdSet,
    /// Ratings written with their new titles (counted in the ratings' report).
    ratings_with_titles: u64,
    known_titles: Known,
    known_people: Known,
    /// The batch being written while the next one is planned.
    in_flight: Option<tokio::task::JoinHandle<Result<u64, StoreError>>>,
}

impl Drop for Run<'_> {
    /// An import dropped unfinished (its caller went away) leaves no write
    /// running on its own.
    fn drop(&mut self) {
        if let Some(write) = self.in_flight.take() {
            write.abort();
        }
    }
}

/// A table an import writes rows of, and reads stored hashes from.
#[derive(Debug, Clone, Copy)]
enum Table {
    Titles,
    People,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Titles => "titles",
            Table::People => "people",
        }
    }

    /// The prefix of its IMDb ids.
    fn prefix(self) -> &'static str {
        match self {
            Table::Titles => "tt",
            Table::People => "nm",
        }
    }

    /// Whether the table holds no imported row (ids with the IMDb prefix;
    /// those the API creates are UUIDs).
    async fn fresh(self, db: &Db) -> Result<bool, StoreError> {
        let prefix = self.prefix();
        let next = format!("{}{}", &prefix[..1], (prefix.as_bytes()[1] + 1) as char);
        let sql = format!("SELECT id FROM {} WHERE id >= ? AND id < ? LIMIT 1", self.name());
        Ok(db.query(&sql, cdlc_plugin_api::params![prefix, next]).await?.is_empty())
    }
}

impl Run<'_> {
    /// The stored hash `column` of each of `numbers` that has a row in
    /// `table` (`Some(None)`: the row has no hash yet). Only the ids the
    /// import cannot answer for are read (see `known`), once the batch in
    /// flight is written. `set_on_insert`: the column is written with a new row.
    async fn stored_hashes(
        &mut self,
        table: Table,
        column: &str,
        numbers: &[u32],
        set_on_insert: bool,
    ) -> Result<IdMap<Option<i64>>, ImportError> {
        let known = match table {
            Table::Titles => &self.known_titles,
            Table::People => &self.known_people,
        };
        let mut out = IdMap::with_capacity_and_hasher(numbers.len(), Default::default());
        let mut ask = Vec::new();
        for &number in numbers {
            match known.stored(number, set_on_insert) {
                Stored::Absent => {}
                Stored::NoHash => {
                    out.insert(number, None);
                }
                Stored::Unknown => ask.push(format_id(table.prefix(), number)),
            }
        }
        if ask.is_empty() {
            return Ok(out);
        }
        self.settle().await?;
        let sql = format!("SELECT id, {column} AS h FROM {} WHERE id IN ({{ids}})", table.name());
        for row in query_ids(self.db, &sql, &ask).await? {
            let id: String = row.get("id")?;
            if let Ok(number) = parse_id(&id, table.prefix()) {
                out.insert(number, row.get("h")?);
            }
        }
        Ok(out)
    }

    /// Writes a batch's statements in one transaction, in the background:
    /// the next batch is planned meanwhile. Batches are written one at a
    /// time, in order; a failed one fails the import at the next write.
    async fn write(&mut self, statements: Vec<Statement>) -> Result<(), ImportError> {
        self.settle().await?;
        if statements.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        self.in_flight = Some(tokio::spawn(async move { sql::run(&db, statements).await }));
        Ok(())
    }

    /// Waits for the batch in flight to be written.
    async fn settle(&mut self) -> Result<(), ImportError> {
        if let Some(write) = self.in_flight.take() {
            write.await.map_err(|e| ImportError::Write(e.to_string()))??;
        }
        Ok(())
    }

    fn report_progress(&self, file: &str, bytes: &AtomicU64) {
        (self.progress)(&Progress {
            phase: Phase::Reading,
            file: file.to_owned(),
            bytes_done: self.done + bytes.load(Ordering::Relaxed),
            bytes_total: self.total,
            rows: self.rows,
        });
    }

    /// Reads every batch of `file`, handing each to `apply`.
    async fn each_batch(
        &mut self,
        file: &ImportFile,
        dataset: Dataset,
        report: &mut FileReport,
        mut apply: impl AsyncBatch,
    ) -> Result<(), ImportError> {
        self.known_titles.next_pass();
        self.known_people.next_pass();
        let bytes = Arc::new(AtomicU64::new(0));
        let mut batches = spawn_reader(file.clone(), dataset, bytes.clone());
        while let Some(batch) = batches.recv().await {
            let batch = batch.map_err(|m| file_error(&file.name, m))?;
            report.rows_read += batch.read;
            self.rows += batch.read;
            for (line, reason) in batch.rejected {
                report.reject(line, reason);
            }
            apply.apply(self, batch.rows, report, false).await?;
            self.report_progress(&file.name, &bytes);
        }
        apply.apply(self, Vec::new(), report, true).await?;
        self.settle().await?;
        self.done += bytes.load(Ordering::Relaxed);
        self.report_progress(&file.name, &AtomicU64::new(0));
        Ok(())
    }

    async fn read_ratings(&mut self, file: &ImportFile, report: &mut FileReport) -> Result<(), ImportError> {
        self.each_batch(file, Dataset::Ratings, report, ReadRatings).await
    }

    /// With `top`: a first pass over title.basics choosing the titles with
    /// the most votes among those the other filters keep.
    async fn select_top(&mut self, file: &ImportFile, top: u64) -> Result<(), ImportError> {
        let mut scratch = FileReport::default();
        let mut chooser = ChooseTop { candidates: Vec::new() };
        self.each_batch(file, Dataset::Basics, &mut scratch, &mut chooser).await?;
        let mut candidates = chooser.candidates;
        candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.truncate(top.min(usize::MAX as u64) as usize);
        self.kept = Some(candidates.into_iter().map(|(_, id)| id).collect());
        Ok(())
    }

    async fn pass(
        &mut self,
        file: &ImportFile,
        dataset: Dataset,
        report: &mut FileReport,
    ) -> Result<(), ImportError> {
        let writer = Writer { dataset, pending: Vec::new() };
        self.each_batch(file, dataset, report, writer).await
    }

    /// Writes the ratings read first to the titles that have them.
    async fn write_ratings(&mut self, report: &mut FileReport) -> Result<(), ImportError> {
        report.rows_written += std::mem::take(&mut self.ratings_with_titles);
        let mut entries: Vec<(u32, (f64, u64, u64))> = self.ratings.drain().collect();
        entries.sort_unstable_by_key(|(id, _)| *id);
        for chunk in entries.chunks(20_000) {
            let numbers: Vec<u32> = chunk.iter().map(|(id, _)| *id).collect();
            let stored = self.stored_hashes(Table::Titles, "ratings_hash", &numbers, true).await?;
            let mut updates = Vec::new();
            let mut changed = Vec::new();
            for (number, (average, votes, line_hash)) in chunk {
                match stored.get(number) {
                    None => report.rows_skipped += 1,
                    Some(Some(h)) if *h == *line_hash as i64 => report.rows_unchanged += 1,
                    Some(_) => {
                        let id = format_id("tt", *number);
                        updates.push((
                            id.clone(),
                            vec![
                                Value::Real(*average),
                                Value::Int(*votes as i64),
                                Value::Int(*line_hash as i64),
                            ],
                        ));
                        changed.push(id);
                        self.touched_titles.insert(*number);
                    }
                }
            }
            report.rows_written += changed.len() as u64;
            let mut statements = Vec::new();
            sql::update(
                "titles",
                "id",
                &["imdb_rating", "imdb_votes", "ratings_hash"],
                updates,
                &mut statements,
            );
            sql::refresh_scores(&changed, &mut statements);
            sql::run(self.db, statements).await?;
        }
        Ok(())
    }
}

/// Something done with each batch of a file (`last`: the end, flush).
trait AsyncBatch: Send {
    fn apply<'a>(
        &'a mut self,
        run: &'a mut Run<'_>,
        rows: Vec<Parsed>,
        report: &'a mut FileReport,
        last: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ImportError>> + Send + 'a>>;
}

impl<T: AsyncBatch> AsyncBatch for &mut T {
    fn apply<'a>(
        &'a mut self,
        run: &'a mut Run<'_>,
        rows: Vec<Parsed>,
        report: &'a mut FileReport,
        last: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ImportError>> + Send + 'a>> {
        (**self).apply(run, rows, report, last)
    }
}

struct ReadRatings;

impl AsyncBatch for ReadRatings {
    fn apply<'a>(
        &'a mut self,
        run: &'a mut Run<'_>,
        rows: Vec<Parsed>,
        _report: &'a mut FileReport,
        _last: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ImportError>> + Send + 'a>> {
        for (_, line_hash, record) in rows {
            if let Record::Rating(r) = record {
                run.ratings.insert(r.id, (r.average, r.votes, line_hash));
            }
        }
        Box::pin(async { Ok(()) })
    }
}

struct ChooseTop {
    /// Votes and id of every title the other filters keep.
    candidates: Vec<(u64, u32)>,
}

impl AsyncBatch for ChooseTop {
    fn apply<'a>(
        &'a mut self,
        run: &'a mut Run<'_>,
        rows: Vec<Parsed>,
        _report: &'a mut FileReport,
        _last: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ImportError>> + Send + 'a>> {
        for (_, _, record) in rows {
            if let Record::Basics(b) = record {
                let genres: Vec<&str> = b.genres.iter().map(String::as_str).collect();
                let votes = run.ratings.get(&b.id).map_or(0, |r| r.1);
                if let Ok(kind) = kind_of_imdb(&b.title_type, &genres) {
                    if run.options.keeps(&b.title_type, kind, votes) {
                        self.candidates.push((votes, b.id));
                    }
                }
            }
        }
        Box::pin(async { Ok(()) })
    }
}

/// Writes the rows of one dataset; for akas and principals, whole groups
/// (the rows of one title), the last group of a batch held until the next.
struct Writer {
    dataset: Dataset,
    pending: Vec<Parsed>,
}

impl AsyncBatch for Writer {
    fn apply<'a>(
        &'a mut self,
        run: &'a mut Run<'_>,
        rows: Vec<Parsed>,
        report: &'a mut FileReport,
        last: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ImportError>> + Send + 'a>> {
        Box::pin(async move {
            let mut rows = rows;
            if self.dataset.grouped() {
                let mut all = std::mem::take(&mut self.pending);
                all.append(&mut rows);
                if !last {
                    if let Some(key) = all.last().map(|(_, _, r)| r.key()) {
                        let split = all.iter().rposition(|(_, _, r)| r.key() != key).map_or(0, |i| i + 1);
                        self.pending = all.split_off(split);
                    }
                }
                rows = all;
            }
            if rows.is_empty() {
                return Ok(());
            }
            let statements = match self.dataset {
                Dataset::Basics => basics(run, rows, report).await?,
                Dataset::Episode => episodes(run, rows, report).await?,
                Dataset::Akas => akas(run, rows, report).await?,
                Dataset::Crew => crew(run, rows, report).await?,
                Dataset::Principals => principals(run, rows, report).await?,
                Dataset::Names => names(run, rows, report).await?,
                Dataset::Ratings => Vec::new(),
            };
            run.write(statements).await
        })
    }
}

/// Keeps the first row of each key; later ones are rejected.
fn first_of_each(
    rows: Vec<Parsed>,
    report: &mut FileReport,
    key: impl Fn(&Record) -> (u32, i64),
) -> Vec<Parsed> {
    let mut seen: foldhash::HashMap<(u32, i64), u64> =
        foldhash::HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let k = key(&row.2);
        if let Some(first) = seen.get(&k) {
            report.reject(row.0, format!("repeats the row of line {first}"));
            continue;
        }
        seen.insert(k, row.0);
        out.push(row);
    }
    out
}

fn opt_i<T: Into<i64>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| Value::Int(v.into()))
}

fn opt_s(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::Text)
}

async fn basics(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
) -> Result<Vec<Statement>, ImportError> {
    let rows = first_of_each(rows, report, |r| (r.key(), 0));
    let mut kept = Vec::with_capacity(rows.len());
    for (line, line_hash, record) in rows {
        let Record::Basics(b) = record else { continue };
        let genres: Vec<&str> = b.genres.iter().map(String::as_str).collect();
        let kind = match kind_of_imdb(&b.title_type, &genres) {
            Ok(kind) => kind,
            Err(reason) => {
                report.reject(line, reason);
                continue;
            }
        };
        let votes = run.ratings.get(&b.id).map_or(0, |r| r.1);
        let chosen = run.kept.as_ref().is_none_or(|kept| kept.contains(&b.id));
        if !chosen || !run.options.keeps(&b.title_type, kind, votes) {
            report.rows_skipped += 1;
            continue;
        }
        kept.push((line_hash, kind, b));
    }
    let numbers: Vec<u32> = kept.iter().map(|(_, _, b)| b.id).collect();
    let stored = run.stored_hashes(Table::Titles, "basics_hash", &numbers, true).await?;
    let now = now_ms();
    let (mut inserts, mut updates, mut genres, mut replaced) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (line_hash, kind, b) in kept {
        let id = format_id("tt", b.id);
        let existing = stored.get(&b.id);
        if matches!(existing, Some(Some(h)) if *h == line_hash as i64) {
            report.rows_unchanged += 1;
            continue;
        }
        report.rows_written += 1;
        run.touched_titles.insert(b.id);
        // A genre listed twice is one row (the key is title and genre).
        let mut own: Vec<&str> = Vec::with_capacity(b.genres.len());
        for genre in &b.genres {
            let genre = clip(genre, 32);
            if !own.contains(&genre) {
                own.push(genre);
                genres.push(vec![Value::Text(id.clone()), Value::Text(genre.to_owned())]);
            }
        }
        let common = vec![
            Value::Text(kind.as_str().into()),
            Value::Text(b.title_type.clone()),
            Value::Text(b.primary_title.clone()),
            opt_s(b.original_title.clone()),
            Value::Text(sort_key(&b.primary_title)),
            Value::from(b.is_adult),
            opt_i(b.start_year),
            opt_i(b.end_year),
            Value::Int(b.start_year.unwrap_or(0).into()),
            opt_i(b.runtime_minutes),
            Value::Text(clip(&b.genres.join(","), 255).to_owned()),
            Value::Int(line_hash as i64),
            Value::Int(now),
        ];
        if existing.is_some() {
            replaced.push(id.clone());
            updates.push((id, common));
        } else {
            run.known_titles.inserted(b.id);
            let (average, votes, rating_hash) = match run.ratings.remove(&b.id) {
                Some((average, votes, h)) => {
                    run.ratings_with_titles += 1;
                    (Value::Real(average), votes as i64, Value::Int(h as i64))
                }
                None => (Value::Null, 0, Value::Null),
            };
            let rating = if votes > 0 { average.clone() } else { Value::Null };
            let mut row = Vec::with_capacity(2 + common.len() + 6);
            row.extend([Value::Text(id.clone()), Value::Text(id)]);
            row.extend(common);
            row.extend([average, Value::Int(votes), rating, Value::Int(votes), rating_hash, Value::Int(now)]);
            inserts.push(row);
        }
    }
    const COMMON: [&str; 13] = [
        "kind",
        "imdb_type",
        "primary_title",
        "original_title",
        "sort_title",
        "is_adult",
        "start_year",
        "end_year",
        "sort_year",
        "runtime_minutes",
        "genres",
        "basics_hash",
        "updated_at",
    ];
    let mut statements = Vec::new();
    let mut insert_columns = vec!["id", "imdb_id"];
    insert_columns.extend(COMMON);
    insert_columns.extend([
        "imdb_rating",
        "imdb_votes",
        "rating",
        "popularity",
        "ratings_hash",
        "created_at",
    ]);
    sql::insert("titles", &insert_columns, inserts, &mut statements);
    sql::update("titles", "id", &COMMON, updates, &mut statements);
    sql::with_ids("DELETE FROM title_genres WHERE title_id", "", &replaced, &mut statements);
    sql::insert("title_genres", &["title_id", "genre"], genres, &mut statements);
    Ok(statements)
}

async fn episodes(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
) -> Result<Vec<Statement>, ImportError> {
    let rows = first_of_each(rows, report, |r| (r.key(), 0));
    let numbers: Vec<u32> = rows.iter().map(|(_, _, r)| r.key()).collect();
    let stored = run.stored_hashes(Table::Titles, "episode_hash", &numbers, false).await?;
    let mut updates = Vec::new();
    for (_, line_hash, record) in rows {
        let Record::Episode(e) = record else { continue };
        match stored.get(&e.id) {
            None => report.rows_skipped += 1,
            Some(Some(h)) if *h == line_hash as i64 => report.rows_unchanged += 1,
            Some(_) => {
                report.rows_written += 1;
                run.known_titles.written(e.id);
                updates.push((
                    format_id("tt", e.id),
                    vec![
                        Value::Text(format_id("tt", e.series)),
                        opt_i(e.season),
                        opt_i(e.episode),
                        Value::Int(line_hash as i64),
                    ],
                ));
            }
        }
    }
    let mut statements = Vec::new();
    sql::update(
        "titles",
        "id",
        &["series_id", "season_number", "episode_number", "episode_hash"],
        updates,
        &mut statements,
    );
    Ok(statements)
}

/// Rows grouped by title, in file order, with the group's hash.
fn groups(rows: Vec<Parsed>) -> Vec<(u32, u64, Vec<Parsed>)> {
    let mut out: Vec<(u32, u64, Vec<Parsed>)> = Vec::new();
    for row in rows {
        let key = row.2.key();
        match out.last_mut() {
            Some((k, h, members)) if *k == key => {
                let mut both = [0u8; 16];
                both[..8].copy_from_slice(&h.to_le_bytes());
                both[8..].copy_from_slice(&row.1.to_le_bytes());
                *h = hash(&both);
                members.push(row);
            }
            _ => out.push((key, row.1, vec![row])),
        }
    }
    out
}

/// A title whose group of rows changed: its id, the group's hash, whether
/// an import wrote the group before (its hash was stored), the rows.
type ChangedGroup = (String, u64, bool, Vec<Parsed>);

/// Which groups changed, and the rows of those that did not.
async fn changed_groups(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
    column: &str,
) -> Result<(Vec<ChangedGroup>, Vec<Vec<Parsed>>), ImportError> {
    let groups = groups(rows);
    let numbers: Vec<u32> = groups.iter().map(|(k, _, _)| *k).collect();
    let stored = run.stored_hashes(Table::Titles, column, &numbers, false).await?;
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for (number, group_hash, members) in groups {
        let n = members.len() as u64;
        match stored.get(&number) {
            None => report.rows_skipped += n,
            Some(Some(h)) if *h == group_hash as i64 => {
                report.rows_unchanged += n;
                unchanged.push(members);
            }
            Some(stored) => {
                run.known_titles.written(number);
                changed.push((format_id("tt", number), group_hash, stored.is_some(), members));
            }
        }
    }
    Ok((changed, unchanged))
}

async fn akas(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
) -> Result<Vec<Statement>, ImportError> {
    let (changed, _) = changed_groups(run, rows, report, "akas_hash").await?;
    let mut inserts = Vec::new();
    let mut hashes = Vec::new();
    for (id, group_hash, _, members) in changed {
        let members = first_of_each(members, report, |r| match r {
            Record::Aka(a) => (a.id, a.ordering),
            other => (other.key(), 0),
        });
        report.rows_written += members.len() as u64;
        for (_, _, record) in members {
            let Record::Aka(a) = record else { continue };
            run.touched_titles.insert(a.id);
            inserts.push(vec![
                Value::Text(id.clone()),
                Value::Int(a.ordering),
                Value::Text(a.title),
                opt_s(a.region),
                opt_s(a.language),
                opt_s(a.types),
                opt_s(a.attributes),
                Value::from(a.is_original),
            ]);
        }
        hashes.push((id.clone(), vec![Value::Int(group_hash as i64)]));
    }
    let columns =
        ["title_id", "ordering", "title", "region", "language", "types", "attributes", "is_original"];
    // Every changed title's akas go, also those the API added.
    let replaced: Vec<String> = hashes.iter().map(|(id, _)| id.clone()).collect();
    let statements = replace_groups(
        ("DELETE FROM akas WHERE title_id", &replaced),
        ("akas", &columns, inserts),
        ("akas_hash", hashes),
    );
    Ok(statements)
}

/// Deletes the rows of the titles `replaced` (`delete` names them by
/// `title_id`), inserts `inserts` into `table`, and records each title's
/// new hash in `hash_column`.
fn replace_groups(
    (delete, replaced): (&str, &[String]),
    (table, columns, inserts): (&str, &[&str], Vec<Vec<Value>>),
    (hash_column, hashes): (&str, Vec<(String, Vec<Value>)>),
) -> Vec<Statement> {
    let mut statements = Vec::new();
    sql::with_ids(delete, "", replaced, &mut statements);
    sql::insert(table, columns, inserts, &mut statements);
    sql::update("titles", "id", &[hash_column], hashes, &mut statements);
    statements
}

const CREDIT_COLUMNS: [&str; 8] =
    ["id", "title_id", "person_id", "category", "job", "characters", "billing", "source"];

/// A crew credit (director or writer) of `title`: no job, no characters.
fn crew_credit(id: String, title: &str, person: u32, category: &str, billing: i64) -> Vec<Value> {
    vec![
        Value::Text(id),
        Value::Text(title.to_owned()),
        Value::Text(format_id("nm", person)),
        Value::Text(category.to_owned()),
        Value::Null,
        Value::Null,
        Value::Int(billing),
        Value::Text("crew".to_owned()),
    ]
}

async fn crew(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
) -> Result<Vec<Statement>, ImportError> {
    let rows = first_of_each(rows, report, |r| (r.key(), 0));
    let numbers: Vec<u32> = rows.iter().map(|(_, _, r)| r.key()).collect();
    let stored = run.stored_hashes(Table::Titles, "crew_hash", &numbers, false).await?;
    let (mut inserts, mut hashes, mut replaced) = (Vec::new(), Vec::new(), Vec::new());
    for (_, line_hash, record) in rows {
        let Record::Crew(c) = record else { continue };
        let id = format_id("tt", c.id);
        let exists = stored.get(&c.id);
        if exists.is_some() {
            if let Some(people) = &mut run.people {
                people.extend(c.directors.iter().chain(&c.writers).copied());
            }
        }
        match exists {
            None => report.rows_skipped += 1,
            Some(Some(h)) if *h == line_hash as i64 => report.rows_unchanged += 1,
            Some(stored) => {
                report.rows_written += 1;
                run.known_titles.written(c.id);
                if stored.is_some() {
                    replaced.push(id.clone());
                }
                for (i, person) in c.directors.iter().enumerate() {
                    inserts.push(crew_credit(
                        format!("{id}-d{i}"),
                        &id,
                        *person,
                        "director",
                        1000 + i as i64,
                    ));
                }
                for (i, person) in c.writers.iter().enumerate() {
                    inserts.push(crew_credit(format!("{id}-w{i}"), &id, *person, "writer", 2000 + i as i64));
                }
                hashes.push((id.clone(), vec![Value::Int(line_hash as i64)]));
            }
        }
    }
    let delete = "DELETE FROM credits WHERE source = 'crew' AND title_id";
    Ok(replace_groups((delete, &replaced), ("credits", &CREDIT_COLUMNS, inserts), ("crew_hash", hashes)))
}

async fn principals(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
) -> Result<Vec<Statement>, ImportError> {
    let (changed, unchanged) = changed_groups(run, rows, report, "principals_hash").await?;
    if let Some(people) = &mut run.people {
        for (_, _, record) in unchanged.iter().flatten().chain(changed.iter().flat_map(|(_, _, _, m)| m)) {
            if let Record::Principal(p) = record {
                people.insert(p.person);
            }
        }
    }
    let (mut inserts, mut hashes, mut replaced) = (Vec::new(), Vec::new(), Vec::new());
    for (id, group_hash, imported_before, members) in changed {
        let members = first_of_each(members, report, |r| match r {
            Record::Principal(p) => (p.id, p.ordering),
            other => (other.key(), 0),
        });
        report.rows_written += members.len() as u64;
        for (_, _, record) in members {
            let Record::Principal(p) = record else { continue };
            inserts.push(vec![
                Value::Text(format!("{id}-{}", p.ordering)),
                Value::Text(id.clone()),
                Value::Text(format_id("nm", p.person)),
                Value::Text(p.category),
                opt_s(p.job),
                opt_s(p.characters),
                Value::Int(p.ordering),
                Value::Text("cast".to_owned()),
            ]);
        }
        hashes.push((id.clone(), vec![Value::Int(group_hash as i64)]));
        if imported_before {
            replaced.push(id);
        }
    }
    // Only a title imported before has cast rows to replace (the API's
    // credits are `source = 'api'`): a first load deletes nothing, and so
    // never scans credits while credits_by_title is deferred.
    let delete = "DELETE FROM credits WHERE source = 'cast' AND title_id";
    Ok(replace_groups(
        (delete, &replaced),
        ("credits", &CREDIT_COLUMNS, inserts),
        ("principals_hash", hashes),
    ))
}

async fn names(
    run: &mut Run<'_>,
    rows: Vec<Parsed>,
    report: &mut FileReport,
) -> Result<Vec<Statement>, ImportError> {
    let rows = first_of_each(rows, report, |r| (r.key(), 0));
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if run.people.as_ref().is_none_or(|people| people.contains(&row.2.key())) {
            kept.push(row);
        } else {
            report.rows_skipped += 1;
        }
    }
    let numbers: Vec<u32> = kept.iter().map(|(_, _, r)| r.key()).collect();
    let stored = run.stored_hashes(Table::People, "import_hash", &numbers, true).await?;
    let now = now_ms();
    let (mut inserts, mut updates) = (Vec::new(), Vec::new());
    for (_, line_hash, record) in kept {
        let Record::Name(n) = record else { continue };
        let id = format_id("nm", n.id);
        let existing = stored.get(&n.id);
        if matches!(existing, Some(Some(h)) if *h == line_hash as i64) {
            report.rows_unchanged += 1;
            continue;
        }
        report.rows_written += 1;
        run.touched_people.insert(n.id);
        let known: Vec<String> = n.known_for.iter().map(|t| format_id("tt", *t)).collect();
        let values = vec![
            Value::Text(n.name.clone()),
            Value::Text(sort_key(&n.name)),
            opt_i(n.birth_year),
            opt_i(n.death_year),
            Value::Text(clip(&n.professions.join(","), 255).to_owned()),
            Value::Text(truncate_list(&known, 255)),
            Value::Int(line_hash as i64),
            Value::Int(now),
        ];
        if existing.is_some() {
            updates.push((id, values));
        } else {
            run.known_people.inserted(n.id);
            let mut row = Vec::with_capacity(2 + values.len() + 1);
            row.extend([Value::Text(id.clone()), Value::Text(id)]);
            row.extend(values);
            row.push(Value::Int(now));
            inserts.push(row);
        }
    }
    const COLUMNS: [&str; 8] = [
        "name",
        "sort_name",
        "birth_year",
        "death_year",
        "professions",
        "known_for",
        "import_hash",
        "updated_at",
    ];
    let mut statements = Vec::new();
    let mut insert_columns = vec!["id", "imdb_id"];
    insert_columns.extend(COLUMNS);
    insert_columns.push("created_at");
    sql::insert("people", &insert_columns, inserts, &mut statements);
    sql::update("people", "id", &COLUMNS, updates, &mut statements);
    Ok(statements)
}

/// Whole items of a comma-separated list that fit in `max` bytes.
fn truncate_list(items: &[String], max: usize) -> String {
    let mut out = String::new();
    for item in items {
        if out.len() + item.len() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(item);
    }
    out
}

/// The files of a directory that look like IMDb datasets (`*.tsv.gz`), or
/// the files named.
pub fn files_from_paths(paths: &[PathBuf]) -> Result<Vec<ImportFile>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".tsv.gz"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{} holds no .tsv.gz file", path.display()));
            }
            files.extend(found.into_iter().map(|p| import_file(&p)));
        } else if path.is_file() {
            files.push(import_file(path));
        } else {
            return Err(format!("{} is not a file or a directory", path.display()));
        }
    }
    Ok(files)
}

fn import_file(path: &Path) -> ImportFile {
    ImportFile {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        path: path.to_owned(),
    }
}
