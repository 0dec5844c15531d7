//! The scale-out backend: a ScyllaDB cluster (Cassandra works too), named
//! by a `scylla://` URL (see [`ScyllaUrl`]). The schema and every statement
//! are in `schema.rs`, with a comment per table on its partition key and
//! the read it serves.
//!
//! What it promises beyond the trait:
//! - An asset row is the truth; listing tables are indexes kept in step by
//!   logged batches and checked against it when read, so a row a race left
//!   behind is skipped, never shown.
//! - Two workers never hold the same job: every change of a job's state is
//!   a lightweight transaction conditioned on the state it saw.
//! - Events are numbered 1, 2, 3… without gaps, in the order their appends
//!   took effect; a reader that has seen number n has seen every number
//!   below it. Appends are serialized through one Paxos round each: meant
//!   for lifecycle events (a few per asset), not for per-segment ones.
//! - `requeue_running_jobs` works, but a shared cluster is never owned by
//!   one process, so the server does not call it at start: leases expire.

mod schema;
mod url;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::try_join_all;
use futures_util::TryStreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::errors::{
    DbError, ExecutionError, NextPageError, NextRowError, PagerExecutionError, RequestAttemptError,
    RequestError,
};
use scylla::frame::types::{Consistency, SerialConsistency};
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::unprepared::Statement;
use scylla::value::{CqlValue, Row};

use self::schema::{Statements, TABLES};
pub use self::schema::{BUCKET_MS, EVENT_BLOCK, QUEUE_SHARDS};
pub use self::url::{Replication, ScyllaUrl};
use crate::{
    Asset, AssetStatus, Event, Job, JobKind, JobState, MetadataError, MetadataStore, NewAsset, Page,
    RenditionRecord, SegmentRecord, MAX_PAGE_SIZE,
};

/// How long connecting (every contact node) may take before start fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Schema changes (CREATE and DROP of keyspaces and tables) wait for the
/// cluster to agree and, on Cassandra, flush to disk: far longer than a read
/// or write on a busy machine, so they get a timeout of their own.
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one request may take before it fails as `Unavailable`: a
/// caller (an HTTP request) gets an answer instead of waiting on a node
/// that is gone.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Due entries a claim reads from each queue shard.
const CLAIM_CANDIDATES: i32 = 16;
/// Appends that may lose the race for a number before one gives up.
const EVENT_APPEND_TRIES: usize = 64;
/// Listing of every asset in `asset_buckets`; the others are status names.
const ALL_ASSETS: &str = "all";
/// Above every asset id (32 lower-case hex digits): the bound of a first page.
const ABOVE_EVERY_ID: &str = "g";

fn db(error: impl std::fmt::Display) -> MetadataError {
    MetadataError::Database(error.to_string())
}

/// A driver error: `Unavailable` when no replica could answer in time (the
/// node is down or unreachable, overloaded, short of replicas, or the
/// request timed out), which a later try may fix; `Database` otherwise.
fn exec(error: ExecutionError) -> MetadataError {
    let unavailable = match &error {
        ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan => true,
        ExecutionError::LastAttemptError(attempt) => attempt_unavailable(attempt),
        _ => false,
    };
    classified(unavailable, error)
}

/// [`exec`] for the errors of a paged read.
fn paged(error: impl Into<PagedError>) -> MetadataError {
    let error = error.into();
    let request = match &error {
        PagedError::Pager(PagerExecutionError::NextPageError(NextPageError::RequestFailure(request)))
        | PagedError::Row(NextRowError::NextPageError(NextPageError::RequestFailure(request))) => {
            Some(request)
        }
        _ => None,
    };
    let unavailable = match request {
        Some(
            RequestError::ConnectionPoolError(_) | RequestError::RequestTimeout(_) | RequestError::EmptyPlan,
        ) => true,
        Some(RequestError::LastAttemptError(attempt)) => attempt_unavailable(attempt),
        _ => false,
    };
    classified(unavailable, error)
}

enum PagedError {
    Pager(PagerExecutionError),
    Row(NextRowError),
}

impl From<PagerExecutionError> for PagedError {
    fn from(error: PagerExecutionError) -> Self {
        PagedError::Pager(error)
    }
}

impl From<NextRowError> for PagedError {
    fn from(error: NextRowError) -> Self {
        PagedError::Row(error)
    }
}

impl std::fmt::Display for PagedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PagedError::Pager(error) => error.fmt(f),
            PagedError::Row(error) => error.fmt(f),
        }
    }
}

fn attempt_unavailable(attempt: &RequestAttemptError) -> bool {
    match attempt {
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => true,
        RequestAttemptError::DbError(error, _) => matches!(
            error,
            DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ReadTimeout { .. }
                | DbError::WriteTimeout { .. }
                | DbError::RateLimitReached { .. }
        ),
        _ => false,
    }
}

fn classified(unavailable: bool, error: impl std::fmt::Display) -> MetadataError {
    if unavailable {
        MetadataError::Unavailable(error.to_string())
    } else {
        MetadataError::Database(error.to_string())
    }
}

fn corrupt(what: &str, value: impl std::fmt::Debug) -> MetadataError {
    MetadataError::Corrupt(format!("{what} {value:?}"))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The listing partition (day) of an asset created at `created_at` ms.
pub fn bucket_of(created_at: i64) -> i32 {
    created_at.div_euclid(BUCKET_MS) as i32
}

/// Creation time (ms) of an asset id: ids are UUIDv7, whose first 48 bits
/// are the Unix time in ms. `None` for anything else.
pub fn id_time(id: &str) -> Option<i64> {
    if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    if uuid.get_version_num() != 7 {
        return None;
    }
    i64::from_str_radix(&id[..12], 16).ok()
}

/// Decodes a listing cursor (the id of the last asset of the previous page)
/// into the day partition to resume in and the id to read below.
pub fn decode_cursor(cursor: &str) -> Result<(i32, String), MetadataError> {
    let time = id_time(cursor).ok_or(MetadataError::BadCursor)?;
    Ok((bucket_of(time), cursor.to_owned()))
}

/// The queue partition of a job: from the random tail of its UUIDv7 id.
pub fn queue_shard(job_id: &str) -> i32 {
    let tail = job_id.get(job_id.len().saturating_sub(8)..).unwrap_or_default();
    (u32::from_str_radix(tail, 16).unwrap_or(0) % QUEUE_SHARDS as u32) as i32
}

/// The partition of event number `seq`.
pub fn event_block(seq: i64) -> i64 {
    seq.div_euclid(EVENT_BLOCK)
}

/// The number after `last` (`None`: the log is empty).
fn next_event_seq(last: Option<i64>) -> i64 {
    last.map_or(1, |seq| seq + 1)
}

async fn prepare(session: &Session, cql: &str) -> Result<PreparedStatement, MetadataError> {
    let mut statement = session
        .prepare(cql)
        .await
        .map_err(|e| MetadataError::Database(format!("cannot prepare {cql:?}: {e}")))?;
    // A plain write or read sends the same values again with the same
    // effect; a conditional one must not be retried blindly.
    statement.set_is_idempotent(!schema::is_conditional(cql));
    Ok(statement)
}

/// Whether a lightweight transaction took effect: its `[applied]` column,
/// found by name. The rest of the row differs between servers: ScyllaDB
/// returns the row as it was, applied or not; Cassandra returns only
/// `[applied]` when it applied and the current row when it did not.
fn applied(result: QueryResult) -> Result<bool, MetadataError> {
    let rows = result.into_rows_result().map_err(db)?;
    let specs = rows.column_specs();
    let Some((index, _)) = specs.get_by_name("[applied]") else {
        let names: Vec<&str> = specs.iter().map(|spec| spec.name()).collect();
        return Err(corrupt("a lightweight transaction answered without [applied]; its columns are", names));
    };
    let row: Row = rows.first_row().map_err(db)?;
    Ok(matches!(row.columns.get(index), Some(Some(CqlValue::Boolean(true)))))
}

type AssetRow = (
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// `None` for a row without `created_at`: what an update racing a delete
/// leaves behind (an update is an upsert), which is no asset.
fn asset_from_row(row: AssetRow) -> Result<Option<Asset>, MetadataError> {
    let (id, title, status, progress, error, private, source, created_at, updated_at) = row;
    let Some(created_at) = created_at else {
        return Ok(None);
    };
    let status = status.unwrap_or_default();
    Ok(Some(Asset {
        status: AssetStatus::parse(&status).ok_or_else(|| corrupt("asset status", &status))?,
        progress: progress.unwrap_or(0.0),
        private: private.unwrap_or(false),
        source: match source {
            Some(text) => Some(serde_json::from_str(&text).map_err(|_| corrupt("source info", &text))?),
            None => None,
        },
        updated_at: updated_at.unwrap_or(created_at),
        id,
        title,
        error,
        created_at,
    }))
}

type JobRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i32>,
);

/// A job and its queue shard.
struct StoredJob {
    job: Job,
    shard: i32,
}

impl StoredJob {
    /// Where the job's queue entry is: when it is next due, if ever.
    fn due_at(&self) -> Option<i64> {
        match self.job.state {
            JobState::Queued => Some(self.job.run_after),
            JobState::Running => Some(self.job.lease_until.unwrap_or(0)),
            JobState::Done | JobState::Failed => None,
        }
    }
}

fn job_from_row(row: JobRow) -> Result<Option<StoredJob>, MetadataError> {
    let (
        id,
        asset_id,
        kind,
        state,
        attempts,
        max_attempts,
        lease_owner,
        lease_until,
        run_after,
        last_error,
        shard,
    ) = row;
    let (Some(asset_id), Some(kind), Some(state)) = (asset_id, kind, state) else {
        return Ok(None);
    };
    let job = Job {
        kind: JobKind::parse(&kind).ok_or_else(|| corrupt("job kind", &kind))?,
        state: JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
        attempts: attempts.unwrap_or(0).max(0) as u32,
        max_attempts: max_attempts.unwrap_or(1).max(1) as u32,
        run_after: run_after.unwrap_or(0),
        id,
        asset_id,
        lease_owner,
        lease_until,
        last_error,
    };
    let shard = shard.unwrap_or_else(|| queue_shard(&job.id));
    Ok(Some(StoredJob { job, shard }))
}

/// A batch of prepared statements with values of different shapes.
struct WriteBatch {
    batch: Batch,
    values: Vec<Box<dyn SerializeRow + Send + Sync>>,
}

impl WriteBatch {
    fn new(kind: BatchType) -> WriteBatch {
        WriteBatch { batch: Batch::new(kind), values: Vec::new() }
    }

    fn add(&mut self, statement: &PreparedStatement, values: impl SerializeRow + Send + Sync + 'static) {
        self.batch.append_statement(statement.clone());
        self.values.push(Box::new(values));
    }
}

/// Refuses a `NetworkTopologyStrategy` that names a datacenter the
/// cluster does not have: Cassandra refuses the keyspace, and a ScyllaDB
/// that accepts it places no replica there, so writes at `LOCAL_QUORUM`
/// fail later with a less helpful message.
fn check_datacenters(session: &Session, replication: &Replication) -> Result<(), MetadataError> {
    let Replication::NetworkTopology { datacenters } = replication else {
        return Ok(());
    };
    let state = session.get_cluster_state();
    let known: std::collections::BTreeSet<&str> =
        state.get_nodes_info().iter().filter_map(|node| node.datacenter.as_deref()).collect();
    if known.is_empty() {
        return Ok(());
    }
    let missing: Vec<&str> =
        datacenters.iter().map(|(name, _)| name.as_str()).filter(|name| !known.contains(name)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = known.into_iter().collect();
    Err(MetadataError::BadUrl(format!(
        "datacenters names {} but the cluster's datacenters are {}: name those (the names `nodetool status` prints)",
        missing.join(", "),
        known.join(", ")
    )))
}

/// A schema-changing statement, with `SCHEMA_TIMEOUT`.
fn schema_change(cql: impl Into<String>) -> Statement {
    let mut statement = Statement::new(cql);
    statement.set_request_timeout(Some(SCHEMA_TIMEOUT));
    statement
}

/// `CREATE KEYSPACE IF NOT EXISTS` as the URL says. With `tablets`
/// disabled (the default) on a server that knows no tablets option
/// (Cassandra, ScyllaDB before 6.0), which answers that the property is
/// unknown, the keyspace is created without it: such a server has vnodes only.
async fn create_keyspace(session: &Session, url: &ScyllaUrl) -> Result<(), MetadataError> {
    let failed =
        |e: ExecutionError| MetadataError::Database(format!("cannot create keyspace {}: {e}", url.keyspace));
    match session.query_unpaged(schema_change(url.create_keyspace_cql()), ()).await {
        Ok(_) => Ok(()),
        Err(error) if url.disable_tablets && knows_no_tablets(&error) => {
            tracing::info!(keyspace = %url.keyspace, "the CQL server knows no tablets option: keyspace made without it");
            let without = ScyllaUrl { disable_tablets: false, ..url.clone() };
            session.query_unpaged(schema_change(without.create_keyspace_cql()), ()).await.map_err(failed)?;
            Ok(())
        }
        Err(error) => Err(failed(error)),
    }
}

/// Whether the server refused `CREATE KEYSPACE` for its `tablets` option.
fn knows_no_tablets(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::SyntaxError | DbError::ConfigError | DbError::Invalid,
            message,
        )) => message.to_ascii_lowercase().contains("tablets"),
        _ => false,
    }
}

/// The ScyllaDB metadata store.
pub struct ScyllaStore {
    session: Session,
    statements: Statements,
    keyspace: String,
    /// The block of the newest event this process knows of; -1 before the first append.
    event_head: AtomicI64,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore").field("keyspace", &self.keyspace).finish_non_exhaustive()
    }
}

impl ScyllaStore {
    /// Connects to the cluster a `scylla://` URL names, creates the keyspace
    /// and tables when absent and prepares every statement.
    pub async fn connect(url: &str) -> Result<ScyllaStore, MetadataError> {
        let url = ScyllaUrl::parse(url)?;
        let profile = ExecutionProfile::builder()
            .consistency(url.consistency)
            .serial_consistency(Some(url.serial_consistency()))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&url.nodes)
            .connection_timeout(Duration::from_secs(5))
            .default_execution_profile_handle(profile.into_handle());
        if let Some((user, password)) = &url.credentials {
            builder = builder.user(user, password);
        }
        let nodes = url.nodes.join(",");
        let session = tokio::time::timeout(CONNECT_TIMEOUT, builder.build())
            .await
            .map_err(|_| {
                MetadataError::Unavailable(format!(
                    "no ScyllaDB node at {nodes} answered within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                MetadataError::Unavailable(format!(
                    "cannot connect to ScyllaDB at {nodes}: {e}; is a node running there?"
                ))
            })?;
        check_datacenters(&session, &url.replication)?;
        create_keyspace(&session, &url).await?;
        session
            .use_keyspace(&url.keyspace, false)
            .await
            .map_err(|e| MetadataError::Database(format!("cannot use keyspace {}: {e}", url.keyspace)))?;
        for table in TABLES {
            session
                .query_unpaged(schema_change(*table), ())
                .await
                .map_err(|e| MetadataError::Database(format!("cannot create a table ({table}): {e}")))?;
        }
        let mut statements = Statements::prepare(&session).await?;
        // The read before numbering an event must see every number taken,
        // in-flight transactions included: a serial read.
        statements.select_last_event.set_consistency(match url.serial_consistency() {
            SerialConsistency::Serial => Consistency::Serial,
            SerialConsistency::LocalSerial => Consistency::LocalSerial,
        });
        Ok(ScyllaStore { session, statements, keyspace: url.keyspace, event_head: AtomicI64::new(-1) })
    }

    /// The keyspace this store keeps its tables in.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// Drops the keyspace and everything in it (tests, uninstall).
    pub async fn drop_keyspace(&self) -> Result<(), MetadataError> {
        let cql = format!("DROP KEYSPACE IF EXISTS {}", self.keyspace);
        self.session.query_unpaged(schema_change(cql), ()).await.map_err(exec)?;
        Ok(())
    }

    async fn execute(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult, MetadataError> {
        self.session.execute_unpaged(statement, values).await.map_err(exec)
    }

    /// Rows of a read whose size is bounded (by LIMIT or by the partition).
    async fn rows<T>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<T>, MetadataError>
    where
        T: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let rows = self.execute(statement, values).await?.into_rows_result().map_err(db)?;
        let rows = rows.rows::<T>().map_err(db)?.collect::<Result<Vec<_>, _>>().map_err(db)?;
        Ok(rows)
    }

    /// Every row of a read, fetched page by page.
    async fn all_rows<T>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<T>, MetadataError>
    where
        T: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata> + 'static,
    {
        let pager = self.session.execute_iter(statement.clone(), values).await.map_err(paged)?;
        pager.rows_stream::<T>().map_err(db)?.try_collect().await.map_err(paged)
    }

    async fn run(&self, batch: WriteBatch) -> Result<(), MetadataError> {
        if batch.values.is_empty() {
            return Ok(());
        }
        self.session.batch(&batch.batch, batch.values).await.map_err(exec)?;
        Ok(())
    }

    async fn asset(&self, id: &str) -> Result<Option<Asset>, MetadataError> {
        match self.rows::<AssetRow>(&self.statements.select_asset, (id,)).await?.into_iter().next() {
            Some(row) => asset_from_row(row),
            None => Ok(None),
        }
    }

    async fn require_asset(&self, id: &str) -> Result<Asset, MetadataError> {
        self.asset(id).await?.ok_or_else(|| MetadataError::NoSuchAsset(id.to_owned()))
    }

    async fn job(&self, id: &str) -> Result<Option<StoredJob>, MetadataError> {
        match self.rows::<JobRow>(&self.statements.select_job, (id,)).await?.into_iter().next() {
            Some(row) => job_from_row(row),
            None => Ok(None),
        }
    }

    /// Moves a job's queue entry from `from` to `to` (`None`: none).
    async fn move_queue_entry(
        &self,
        shard: i32,
        id: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<(), MetadataError> {
        if from == to {
            return Ok(());
        }
        // One partition: atomic and isolated without the batch log.
        let mut batch = WriteBatch::new(BatchType::Unlogged);
        if let Some(from) = from {
            batch.add(&self.statements.delete_queue_entry, (shard, from, id.to_owned()));
        }
        if let Some(to) = to {
            batch.add(&self.statements.insert_queue_entry, (shard, to, id.to_owned()));
        }
        self.run(batch).await
    }

    /// The block holding the newest event, as far as anyone recorded.
    async fn event_head(&self) -> Result<i64, MetadataError> {
        let known = self.event_head.load(Ordering::Relaxed);
        if known >= 0 {
            return Ok(known);
        }
        let recorded: Vec<(i64,)> = self.rows(&self.statements.select_newest_event_block, ()).await?;
        Ok(recorded.first().map_or(0, |(block,)| *block))
    }

    /// Ids of the assets of one listing partition below `below`, newest first.
    async fn listing_ids(
        &self,
        status: Option<AssetStatus>,
        bucket: i32,
        below: &str,
        limit: i32,
    ) -> Result<Vec<String>, MetadataError> {
        let rows: Vec<(String,)> = match status {
            Some(status) => {
                self.rows(&self.statements.select_ids_by_status, (status.as_str(), bucket, below, limit))
                    .await?
            }
            None => self.rows(&self.statements.select_ids_by_time, (bucket, below, limit)).await?,
        };
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

#[async_trait::async_trait]
impl MetadataStore for ScyllaStore {
    async fn create_asset(&self, new: NewAsset) -> Result<Asset, MetadataError> {
        let uuid = uuid::Uuid::now_v7();
        let id = uuid.simple().to_string();
        // The id carries the creation time, so a cursor (an id) names its day.
        let created_at = id_time(&id).unwrap_or_else(now_ms);
        let bucket = bucket_of(created_at);
        let status = AssetStatus::Uploading;
        let s = &self.statements;
        let mut batch = WriteBatch::new(BatchType::Logged);
        batch.add(
            &s.insert_asset,
            (id.clone(), new.title.clone(), status.as_str(), 0.0_f64, new.private, created_at, created_at),
        );
        batch.add(&s.insert_asset_by_time, (bucket, id.clone()));
        batch.add(&s.insert_asset_by_status, (status.as_str(), bucket, id.clone()));
        batch.add(&s.insert_asset_bucket, (ALL_ASSETS, bucket));
        batch.add(&s.insert_asset_bucket, (status.as_str(), bucket));
        self.run(batch).await?;
        Ok(Asset {
            id,
            title: new.title,
            status,
            progress: 0.0,
            error: None,
            private: new.private,
            source: None,
            created_at,
            updated_at: created_at,
        })
    }

    async fn get_asset(&self, id: &str) -> Result<Option<Asset>, MetadataError> {
        self.asset(id).await
    }

    async fn list_assets(
        &self,
        status: Option<AssetStatus>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Asset>, MetadataError> {
        let (start_bucket, cursor_id) = match cursor {
            Some(cursor) => {
                let (bucket, id) = decode_cursor(cursor)?;
                (bucket, Some(id))
            }
            // A day ahead: an asset created on a node whose clock runs fast still shows.
            None => (bucket_of(now_ms()) + 1, None),
        };
        let limit = limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let listing = status.map_or(ALL_ASSETS, AssetStatus::as_str);
        // Days newest first, fetched page by page only as far as the page needs.
        let mut buckets = self
            .session
            .execute_iter(self.statements.select_asset_buckets.clone(), (listing, start_bucket))
            .await
            .map_err(paged)?
            .rows_stream::<(i32,)>()
            .map_err(db)?;
        let mut items: Vec<Asset> = Vec::new();
        'buckets: while let Some((bucket,)) = buckets.try_next().await.map_err(paged)? {
            let mut below = match &cursor_id {
                Some(id) if bucket == start_bucket => id.clone(),
                _ => ABOVE_EVERY_ID.to_owned(),
            };
            loop {
                // One more than the page, to know whether a next page exists.
                let wanted = (limit + 1 - items.len()) as i32;
                let ids = self.listing_ids(status, bucket, &below, wanted).await?;
                let Some(last) = ids.last().cloned() else { break };
                let found = try_join_all(ids.iter().map(|id| self.asset(id))).await?;
                for asset in found {
                    // An index row that disagrees with the asset is skipped, not
                    // deleted: it may be the first half of a batch still being
                    // applied (a new asset, a status change) rather than a leftover.
                    if let Some(asset) = asset.filter(|a| status.is_none_or(|s| s == a.status)) {
                        items.push(asset);
                    }
                }
                if items.len() > limit {
                    break 'buckets;
                }
                if ids.len() < wanted as usize {
                    break;
                }
                below = last;
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|a| a.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn set_status(
        &self,
        id: &str,
        status: AssetStatus,
        error: Option<&str>,
    ) -> Result<Asset, MetadataError> {
        let mut asset = self.require_asset(id).await?;
        let previous = asset.status;
        asset.status = status;
        asset.error = error.map(str::to_owned).filter(|_| status == AssetStatus::Errored);
        asset.progress = match status {
            AssetStatus::Ready => 100.0,
            AssetStatus::Uploading => 0.0,
            _ => asset.progress,
        };
        asset.updated_at = now_ms().max(asset.updated_at);
        let bucket = bucket_of(asset.created_at);
        let s = &self.statements;
        let mut batch = WriteBatch::new(BatchType::Logged);
        batch.add(
            &s.update_asset_status,
            (status.as_str(), asset.error.clone(), asset.progress, asset.updated_at, asset.id.clone()),
        );
        if previous != status {
            batch.add(&s.delete_asset_by_status, (previous.as_str(), bucket, asset.id.clone()));
            batch.add(&s.insert_asset_by_status, (status.as_str(), bucket, asset.id.clone()));
            batch.add(&s.insert_asset_bucket, (status.as_str(), bucket));
        }
        self.run(batch).await?;
        Ok(asset)
    }

    async fn set_progress(&self, id: &str, percent: f64) -> Result<(), MetadataError> {
        self.require_asset(id).await?;
        self.execute(&self.statements.update_asset_progress, (percent.clamp(0.0, 100.0), now_ms(), id))
            .await?;
        Ok(())
    }

    async fn set_source(&self, id: &str, source: serde_json::Value) -> Result<(), MetadataError> {
        self.require_asset(id).await?;
        self.execute(&self.statements.update_asset_source, (source.to_string(), now_ms(), id)).await?;
        Ok(())
    }

    async fn delete_asset(&self, id: &str) -> Result<bool, MetadataError> {
        let Some(asset) = self.asset(id).await? else {
            return Ok(false);
        };
        if !applied(self.execute(&self.statements.delete_asset_if_exists, (id,)).await?)? {
            return Ok(false);
        }
        let s = &self.statements;
        let job_ids: Vec<(String,)> = self.rows(&s.select_job_ids, (id,)).await?;
        let jobs = try_join_all(job_ids.iter().map(|(job_id,)| self.job(job_id))).await?;
        let bucket = bucket_of(asset.created_at);
        let mut batch = WriteBatch::new(BatchType::Logged);
        batch.add(&s.delete_asset_by_time, (bucket, id.to_owned()));
        for status in
            [AssetStatus::Uploading, AssetStatus::Processing, AssetStatus::Ready, AssetStatus::Errored]
        {
            batch.add(&s.delete_asset_by_status, (status.as_str(), bucket, id.to_owned()));
        }
        batch.add(&s.delete_renditions, (id.to_owned(),));
        batch.add(&s.delete_segments, (id.to_owned(),));
        for stored in jobs.into_iter().flatten() {
            if let Some(due) = stored.due_at() {
                batch.add(&s.delete_queue_entry, (stored.shard, due, stored.job.id.clone()));
            }
            batch.add(&s.delete_job, (stored.job.id,));
        }
        batch.add(&s.delete_jobs_by_asset, (id.to_owned(),));
        self.run(batch).await?;
        self.append_event(id, "asset.deleted", serde_json::json!({})).await?;
        Ok(true)
    }

    async fn put_rendition(&self, r: RenditionRecord) -> Result<(), MetadataError> {
        self.require_asset(&r.asset_id).await?;
        let values = (
            r.asset_id,
            r.name,
            r.kind,
            r.width.map(|w| w as i32),
            r.height.map(|h| h as i32),
            r.bitrate as i64,
            r.codec,
        );
        self.execute(&self.statements.insert_rendition, values).await?;
        Ok(())
    }

    async fn renditions(&self, asset_id: &str) -> Result<Vec<RenditionRecord>, MetadataError> {
        type RenditionRow =
            (String, String, Option<String>, Option<i32>, Option<i32>, Option<i64>, Option<String>);
        let rows: Vec<RenditionRow> = self.rows(&self.statements.select_renditions, (asset_id,)).await?;
        let mut renditions: Vec<RenditionRecord> = rows
            .into_iter()
            .map(|(asset_id, name, kind, width, height, bitrate, codec)| RenditionRecord {
                asset_id,
                name,
                kind: kind.unwrap_or_default(),
                width: width.map(|w| w.max(0) as u32),
                height: height.map(|h| h.max(0) as u32),
                bitrate: bitrate.unwrap_or(0).max(0) as u64,
                codec: codec.unwrap_or_default(),
            })
            .collect();
        // Video before audio, largest picture first: the order of the SQLite store.
        let area = |r: &RenditionRecord| u64::from(r.width.unwrap_or(0)) * u64::from(r.height.unwrap_or(0));
        renditions.sort_by(|a, b| b.kind.cmp(&a.kind).then(area(b).cmp(&area(a))).then(a.name.cmp(&b.name)));
        Ok(renditions)
    }

    async fn put_segment(&self, s: SegmentRecord) -> Result<(), MetadataError> {
        self.require_asset(&s.asset_id).await?;
        let values = (
            s.asset_id,
            s.rendition,
            s.number as i32,
            s.start_ns as i64,
            s.duration_ns as i64,
            s.size as i64,
        );
        self.execute(&self.statements.insert_segment, values).await?;
        Ok(())
    }

    async fn segments(&self, asset_id: &str, rendition: &str) -> Result<Vec<SegmentRecord>, MetadataError> {
        type SegmentRow = (String, String, i32, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<SegmentRow> = self
            .all_rows(&self.statements.select_segments, (asset_id.to_owned(), rendition.to_owned()))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(asset_id, rendition, number, start_ns, duration_ns, size)| SegmentRecord {
                asset_id,
                rendition,
                number: number.max(0) as u32,
                start_ns: start_ns.unwrap_or(0).max(0) as u64,
                duration_ns: duration_ns.unwrap_or(0).max(0) as u64,
                size: size.unwrap_or(0).max(0) as u64,
            })
            .collect())
    }

    async fn clear_outputs(&self, asset_id: &str) -> Result<(), MetadataError> {
        let mut batch = WriteBatch::new(BatchType::Logged);
        batch.add(&self.statements.delete_segments, (asset_id.to_owned(),));
        batch.add(&self.statements.delete_renditions, (asset_id.to_owned(),));
        self.run(batch).await
    }

    async fn enqueue_job(
        &self,
        asset_id: &str,
        kind: JobKind,
        max_attempts: u32,
    ) -> Result<Job, MetadataError> {
        if kind == JobKind::Transcode {
            self.require_asset(asset_id).await?;
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        let shard = queue_shard(&id);
        let max_attempts = max_attempts.clamp(1, i32::MAX as u32);
        let run_after = now_ms();
        let s = &self.statements;
        let mut batch = WriteBatch::new(BatchType::Logged);
        batch.add(
            &s.insert_job,
            (id.clone(), asset_id.to_owned(), kind.as_str(), max_attempts as i32, run_after, shard),
        );
        batch.add(&s.insert_job_by_asset, (asset_id.to_owned(), id.clone()));
        batch.add(&s.insert_queue_entry, (shard, run_after, id.clone()));
        self.run(batch).await?;
        Ok(Job {
            id,
            asset_id: asset_id.to_owned(),
            kind,
            state: JobState::Queued,
            attempts: 0,
            max_attempts,
            lease_owner: None,
            lease_until: None,
            run_after,
            last_error: None,
        })
    }

    async fn claim_job(&self, worker: &str, lease: Duration) -> Result<Option<Job>, MetadataError> {
        let now = now_ms();
        let s = &self.statements;
        let heads = try_join_all((0..QUEUE_SHARDS).map(|shard| async move {
            let rows: Vec<(i64, String)> =
                self.rows(&s.select_due_entries, (shard, now, CLAIM_CANDIDATES)).await?;
            Ok::<_, MetadataError>(rows.into_iter().map(move |(due, id)| (due, id, shard)))
        }))
        .await?;
        let mut candidates: Vec<(i64, String, i32)> = heads.into_iter().flatten().collect();
        // The oldest due first, across shards.
        candidates.sort();
        for (entry_due, id, shard) in candidates {
            let Some(stored) = self.job(&id).await? else {
                self.move_queue_entry(shard, &id, Some(entry_due), None).await?;
                continue;
            };
            let due = stored.due_at();
            if due != Some(entry_due) {
                // The entry is stale (a writer died between the job row and
                // its entry): put it where the job row says.
                self.move_queue_entry(shard, &id, Some(entry_due), due).await?;
            }
            let mut job = stored.job;
            let lease_until = now + millis(lease);
            let claimed = match job.state {
                JobState::Done | JobState::Failed => continue,
                JobState::Queued if job.run_after <= now => applied(
                    self.execute(
                        &s.claim_queued_job,
                        (worker, lease_until, job.attempts as i32 + 1, &job.id, job.attempts as i32),
                    )
                    .await?,
                )?,
                JobState::Running if job.lease_until.unwrap_or(0) < now => {
                    if job.attempts >= job.max_attempts {
                        // A job whose worker died on every attempt is failed, not retried forever.
                        let error = format!("the worker stopped during each of {} attempts", job.attempts);
                        let values = (&error, &job.id, now, job.attempts as i32);
                        if applied(self.execute(&s.fail_expired_job, values).await?)? {
                            tracing::warn!(job_id = %job.id, asset_id = %job.asset_id, "{error}: job failed");
                            self.move_queue_entry(shard, &id, due, None).await?;
                            let data = serde_json::json!({ "job_id": job.id, "error": error });
                            self.append_event(&job.asset_id, "job.failed", data).await?;
                        }
                        continue;
                    }
                    applied(
                        self.execute(
                            &s.claim_expired_job,
                            (worker, lease_until, job.attempts as i32 + 1, &job.id, now, job.attempts as i32),
                        )
                        .await?,
                    )?
                }
                JobState::Queued | JobState::Running => continue,
            };
            if !claimed {
                // Another worker won this one; try the next.
                continue;
            }
            self.move_queue_entry(shard, &id, due, Some(lease_until)).await?;
            job.state = JobState::Running;
            job.attempts += 1;
            job.lease_owner = Some(worker.to_owned());
            job.lease_until = Some(lease_until);
            return Ok(Some(job));
        }
        Ok(None)
    }

    async fn renew_lease(&self, job_id: &str, worker: &str, lease: Duration) -> Result<bool, MetadataError> {
        let Some(stored) = self.job(job_id).await? else {
            return Ok(false);
        };
        let lease_until = now_ms() + millis(lease);
        if !applied(self.execute(&self.statements.renew_job_lease, (lease_until, job_id, worker)).await?)? {
            return Ok(false);
        }
        self.move_queue_entry(stored.shard, job_id, stored.due_at(), Some(lease_until)).await?;
        Ok(true)
    }

    async fn complete_job(&self, job_id: &str, worker: &str) -> Result<(), MetadataError> {
        let stored = self.job(job_id).await?.ok_or_else(|| MetadataError::NotHeld(job_id.to_owned()))?;
        if !applied(self.execute(&self.statements.complete_held_job, (job_id, worker)).await?)? {
            return Err(MetadataError::NotHeld(job_id.to_owned()));
        }
        self.move_queue_entry(stored.shard, job_id, stored.due_at(), None).await
    }

    async fn fail_job(
        &self,
        job_id: &str,
        worker: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<JobState, MetadataError> {
        let not_held = || MetadataError::NotHeld(job_id.to_owned());
        let stored = self
            .job(job_id)
            .await?
            .filter(|s| s.job.state == JobState::Running && s.job.lease_owner.as_deref() == Some(worker))
            .ok_or_else(not_held)?;
        let attempts = stored.job.attempts as i32;
        let s = &self.statements;
        let (state, due) = match retry_in {
            Some(delay) if stored.job.attempts < stored.job.max_attempts => {
                let run_after = now_ms() + millis(delay);
                let values = (run_after, error, job_id, worker, attempts);
                if !applied(self.execute(&s.retry_held_job, values).await?)? {
                    return Err(not_held());
                }
                (JobState::Queued, Some(run_after))
            }
            _ => {
                if !applied(self.execute(&s.fail_held_job, (error, job_id, worker, attempts)).await?)? {
                    return Err(not_held());
                }
                (JobState::Failed, None)
            }
        };
        self.move_queue_entry(stored.shard, job_id, stored.due_at(), due).await?;
        Ok(state)
    }

    async fn jobs(&self, asset_id: &str) -> Result<Vec<Job>, MetadataError> {
        let ids: Vec<(String,)> = self.rows(&self.statements.select_job_ids, (asset_id,)).await?;
        let jobs = try_join_all(ids.iter().map(|(id,)| self.job(id))).await?;
        Ok(jobs.into_iter().flatten().map(|stored| stored.job).collect())
    }

    async fn requeue_running_jobs(&self) -> Result<usize, MetadataError> {
        let now = now_ms();
        let mut requeued = 0;
        for shard in 0..QUEUE_SHARDS {
            let entries: Vec<(i64, String)> =
                self.all_rows(&self.statements.select_queue_shard, (shard,)).await?;
            for (_, id) in entries {
                let Some(stored) = self.job(&id).await? else { continue };
                let job = &stored.job;
                if job.state != JobState::Running {
                    continue;
                }
                let values = (now, &job.id, job.lease_owner.clone(), job.attempts as i32);
                if applied(self.execute(&self.statements.requeue_running_job, values).await?)? {
                    self.move_queue_entry(stored.shard, &job.id, stored.due_at(), Some(now)).await?;
                    requeued += 1;
                }
            }
        }
        Ok(requeued)
    }

    async fn append_event(
        &self,
        asset_id: &str,
        kind: &str,
        data: serde_json::Value,
    ) -> Result<Event, MetadataError> {
        let s = &self.statements;
        let text = data.to_string();
        let mut block = self.event_head().await?;
        for _ in 0..EVENT_APPEND_TRIES {
            // A serial read sees every number already taken, even one whose
            // transaction is still in flight.
            let last: Vec<(i64,)> = self.rows(&s.select_last_event, (block,)).await?;
            let last = match last.first() {
                Some((seq,)) => Some(*seq),
                // An empty block after the first: the previous one is full.
                None if block > 0 => Some(block * EVENT_BLOCK - 1),
                None => None,
            };
            let seq = next_event_seq(last);
            if event_block(seq) != block {
                block = event_block(seq);
                continue;
            }
            let at = now_ms();
            let values = (block, seq, asset_id, kind, &text, at);
            if applied(self.execute(&s.insert_event_if_new, values).await?)? {
                if seq % EVENT_BLOCK == 0 || self.event_head.load(Ordering::Relaxed) < 0 {
                    self.execute(&s.insert_event_block, (block,)).await?;
                }
                self.event_head.fetch_max(block, Ordering::Relaxed);
                return Ok(Event { seq, asset_id: asset_id.to_owned(), kind: kind.to_owned(), data, at });
            }
        }
        Err(MetadataError::Database(format!(
            "could not number an event after {EVENT_APPEND_TRIES} tries: too many appends at once"
        )))
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<Event>, MetadataError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let mut after = after.max(0);
        let mut events = Vec::new();
        while events.len() < limit {
            let block = event_block(after + 1);
            let wanted = (limit - events.len()) as i32;
            type EventRow = (i64, Option<String>, Option<String>, Option<String>, Option<i64>);
            let rows: Vec<EventRow> =
                self.rows(&self.statements.select_events, (block, after, wanted)).await?;
            let count = rows.len();
            for (seq, asset_id, kind, data, at) in rows {
                let data = data.unwrap_or_default();
                let data = serde_json::from_str(&data).map_err(|_| corrupt("event data", &data))?;
                events.push(Event {
                    seq,
                    asset_id: asset_id.unwrap_or_default(),
                    kind: kind.unwrap_or_default(),
                    data,
                    at: at.unwrap_or(0),
                });
                after = seq;
            }
            // Numbers have no gaps: only a full block means more may follow.
            let block_end = (block + 1) * EVENT_BLOCK - 1;
            if count == 0 || (count < wanted as usize && after != block_end) {
                break;
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_an_asset_id_that_names_its_day() {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let time = id_time(&id).expect("a v7 id has a time");
        assert!((now_ms() - time).abs() < 5_000, "the id's time is now");
        let (bucket, below) = decode_cursor(&id).expect("valid cursor");
        assert_eq!((bucket, below.as_str()), (bucket_of(time), id.as_str()));
        for bad in
            ["", "x'; DROP TABLE assets", &id.to_uppercase(), &uuid::Uuid::new_v4().simple().to_string()]
        {
            assert!(matches!(decode_cursor(bad), Err(MetadataError::BadCursor)), "{bad:?}");
        }
        assert!(
            ABOVE_EVERY_ID > "ffffffffffffffffffffffffffffffff",
            "the first-page bound is above every id"
        );
    }

    #[test]
    fn days_split_at_midnight_utc() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(BUCKET_MS - 1), 0);
        assert_eq!(bucket_of(BUCKET_MS), 1);
        // 2026-11-22T01:35:00Z is day 20779 since the epoch.
        assert_eq!(bucket_of(1_795_311_300_000), 20_779);
        assert_eq!(bucket_of(-1), -1, "before the epoch stays ordered");
    }

    #[test]
    fn jobs_spread_over_every_queue_shard() {
        let mut seen = [0usize; QUEUE_SHARDS as usize];
        for _ in 0..800 {
            let shard = queue_shard(&uuid::Uuid::now_v7().simple().to_string());
            assert!((0..QUEUE_SHARDS).contains(&shard));
            seen[shard as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 40), "{seen:?}");
    }

    #[test]
    fn event_numbers_fill_blocks_in_order() {
        assert_eq!(next_event_seq(None), 1, "numbers start at 1, so events_after(0) reads all");
        assert_eq!(next_event_seq(Some(41)), 42);
        assert_eq!(event_block(1), 0);
        assert_eq!(event_block(EVENT_BLOCK - 1), 0);
        assert_eq!(event_block(EVENT_BLOCK), 1);
        assert_eq!(
            event_block(next_event_seq(Some(EVENT_BLOCK - 1))),
            1,
            "the last of a block opens the next"
        );
    }
}
