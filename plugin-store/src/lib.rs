//! The relational (OLTP) port: the database each bounded context (accounts,
//! every plugin) owns, reached through a `Db` handle.
//!
//! - `Stores::open(url)` names where databases live: `sqlite:///DIR` (one
//!   file `DIR/{name}.db` per store, WAL; the embedded default) or
//!   `mysql://USER:PASSWORD@HOST:PORT/PREFIX` (MySQL 8 / MariaDB 10.11, the
//!   database `PREFIX_{name}` per store, created with `utf8mb4_bin` when
//!   absent). Plugin code is the same on both.
//! - `Db::migrate` applies a store's migrations once each, in order, and
//!   records them in the store's own `cdlc_migrations` table; on MySQL under
//!   a named lock, so processes that start together apply each once.
//! - `Sql::execute` / `Sql::query` take one statement with `?` placeholders and
//!   `params![…]`; rows are read by column name (`Row::get`, `FromRow`).
//! - `Db::transaction` runs a closure in a transaction, and runs it again
//!   when the database was busy. On SQLite it holds the write lock from its
//!   start; on MySQL it takes row locks as it writes (READ COMMITTED), and a
//!   lock wait or deadlock is "busy" too.
//!
//! # The portable SQL subset
//!
//! Plugin SQL must run unchanged on SQLite and on MySQL 8 / MariaDB 10.11.
//! `portable::check` refuses the constructs known to differ, on every
//! backend, before the statement runs (so the embedded tests catch them):
//!
//! - **Types** (in CREATE/ALTER TABLE): `BIGINT` (i64), `DOUBLE` (f64),
//!   `BOOLEAN` (0/1, read as `bool`), `VARCHAR(n)` for text that is a key, is
//!   indexed or compared (MySQL indexes need a length; keep keys ≤ 255
//!   characters), `TEXT` for free text never indexed, `BLOB` (≤ 64 KiB on
//!   MySQL). Times are `BIGINT` Unix milliseconds passed by the application.
//! - **Keys**: no auto-increment; ids are made by the application (UUIDv7
//!   text in `VARCHAR(36)`). Unique and primary keys are plain indexes;
//!   violating one is `StoreError::Conflict` on every backend. There is no
//!   upsert (`ON CONFLICT`, `ON DUPLICATE KEY`, `INSERT OR`, `REPLACE INTO`):
//!   insert and handle the conflict, or update and insert when nothing changed.
//! - **Text comparison** is byte-wise and case-sensitive on every backend (the
//!   MySQL backend creates its databases with `utf8mb4_bin`). A
//!   case-insensitive key is a lower-cased copy the application stores and
//!   indexes (`handle_key`), never `COLLATE NOCASE` or `LOWER()` in an index.
//! - **Statements**: one per call; `?` placeholders only; plain unquoted
//!   names (no `"…"` or `` `…` ``); no `||` (MySQL's OR), no `RETURNING`, no
//!   `PRAGMA`; `LIMIT ?` (no `LIMIT a, b`); `--` comments with a space after;
//!   string literals without backslashes (pass text as a parameter).
//! - **DDL** runs one statement per entry of a `Migration`, because MySQL
//!   commits DDL implicitly: a migration should be safe to finish by hand if
//!   it stops half-way. `CREATE INDEX` without `IF NOT EXISTS` (MySQL 8 lacks it).
//!   `DROP INDEX i ON t` is MySQL's form, which the SQLite backend runs as
//!   its own `DROP INDEX i`.
//! - **Locking**: no `SELECT … FOR UPDATE` (SQLite has none). Inside a
//!   transaction, make read-then-write safe with a conditional write
//!   (`UPDATE … WHERE version = ?` and check the count), which is correct on
//!   both SQLite's serialized writers and MySQL's row locks.

mod backend;
mod error;
mod migrate;
mod mysql;
pub mod portable;
mod row;
mod sqlite;
mod value;
mod workload;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use backend::{Backend, TxBackend};
pub use error::StoreError;
pub use migrate::{Migration, MIGRATIONS_TABLE};
pub use mysql::{MAX_PREFIX, MYSQL_CONNECTIONS};
pub use row::{FromRow, Row};
pub use sqlite::{DEFAULT_BUSY_TIMEOUT, DEFAULT_CONNECTIONS};
pub use value::{FromValue, Value};
pub use workload::Workload;

/// How many times `transaction` runs its closure when the database stays busy.
pub const TRANSACTION_ATTEMPTS: u32 = 6;

/// Where a deployment's databases live; `db(name)` opens one of them.
#[derive(Debug, Clone)]
pub struct Stores {
    location: Location,
    busy_timeout: Duration,
}

#[derive(Debug, Clone)]
enum Location {
    /// The file `DIR/{name}.db` per store.
    SqliteDir(PathBuf),
    /// The database `{prefix}_{name}` per store on one server.
    MySql(mysql::MySqlLocation),
}

/// The engine a `Stores` opens databases on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    MySql,
}

impl Stores {
    /// Parses a URL: `sqlite:///absolute/dir`, `sqlite://relative/dir` or
    /// `mysql://USER:PASSWORD@HOST:PORT/PREFIX` (percent-encode `@ : /` in
    /// the password).
    pub fn open(url: &str) -> Result<Stores, StoreError> {
        if let Some(dir) = url.strip_prefix("sqlite://") {
            if dir.is_empty() {
                return Err(StoreError::Open(
                    "sqlite:// needs a directory, e.g. sqlite:///var/lib/cdlc/db".into(),
                ));
            }
            return Ok(Stores::sqlite(Path::new(dir)));
        }
        if url.starts_with("mysql://") {
            let location = mysql::MySqlLocation::parse(url)?;
            return Ok(Stores { location: Location::MySql(location), busy_timeout: DEFAULT_BUSY_TIMEOUT });
        }
        Err(StoreError::Open(format!(
            "{url:?} is not a store URL: expected sqlite:///DIR or mysql://USER:PASSWORD@HOST:PORT/PREFIX"
        )))
    }

    /// A directory of SQLite files, one per store.
    pub fn sqlite(dir: &Path) -> Stores {
        Stores { location: Location::SqliteDir(dir.to_owned()), busy_timeout: DEFAULT_BUSY_TIMEOUT }
    }

    /// The engine this opens databases on.
    pub fn engine(&self) -> Engine {
        match self.location {
            Location::SqliteDir(_) => Engine::Sqlite,
            Location::MySql(_) => Engine::MySql,
        }
    }

    /// How long a statement waits for another writer's lock before it is
    /// `Busy` (default `DEFAULT_BUSY_TIMEOUT`). MySQL counts whole seconds:
    /// its wait is this rounded up, at least one second.
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Stores {
        self.busy_timeout = timeout;
        self
    }

    /// Opens (creating if needed) the store of `name`: lower-case letters,
    /// digits and `_`, starting with a letter, at most 40 characters.
    pub async fn db(&self, name: &str) -> Result<Db, StoreError> {
        self.db_for(name, Workload::default()).await
    }

    /// `db`, for a store mostly used as `workload` says (which lays out a
    /// new SQLite file for it).
    pub async fn db_for(&self, name: &str, workload: Workload) -> Result<Db, StoreError> {
        check_name(name)?;
        match &self.location {
            Location::SqliteDir(dir) => {
                Db::sqlite(name, &dir.join(format!("{name}.db")), self.busy_timeout, workload).await
            }
            Location::MySql(location) => {
                let backend =
                    mysql::MySqlBackend::open(location, name, self.busy_timeout, MYSQL_CONNECTIONS).await?;
                Ok(Db { name: name.into(), backend: Arc::new(backend), statements: Arc::default() })
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(format!(
            "the store name {name:?} must be 1-40 lower-case letters, digits or '_', starting with a letter"
        )))
    }
}

/// A table or index name that can be written into a statement as it is.
fn check_identifier(name: &str) -> Result<(), StoreError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(format!(
            "{name:?} is not a plain table or index name: use 1-64 letters, digits or '_', starting with a letter"
        )))
    }
}

/// Statements against a store, in a transaction (`Tx`) or not (`Db`).
/// Write helpers against `&impl Sql` to use them both ways.
#[async_trait]
pub trait Sql: Send + Sync {
    /// Runs one statement; the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;

    /// Runs one query; its rows, by column name.
    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// The rows, each built by `T::from_row`.
    async fn query_as<T: FromRow + Send>(&self, sql: &str, params: &[Value]) -> Result<Vec<T>, StoreError>
    where
        Self: Sized,
    {
        self.query(sql, params).await?.iter().map(T::from_row).collect()
    }

    /// The first row, if any.
    async fn query_opt<T: FromRow + Send>(&self, sql: &str, params: &[Value]) -> Result<Option<T>, StoreError>
    where
        Self: Sized,
    {
        self.query(sql, params).await?.first().map(T::from_row).transpose()
    }
}

/// The handle to one store. Cheap to clone; every clone shares the pool.
#[derive(Clone)]
pub struct Db {
    name: Arc<str>,
    backend: Arc<dyn Backend>,
    /// Statements run through this handle and its transactions (see `statements`).
    statements: Arc<AtomicU64>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("name", &self.name).field("at", &self.backend.describe()).finish()
    }
}

#[async_trait]
impl Sql for Db {
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        portable::check(sql)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.backend.execute(sql.to_owned(), params.to_vec()).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        portable::check(sql)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.backend.query(sql.to_owned(), params.to_vec()).await
    }
}

impl Db {
    /// Opens the SQLite file at `path` directly (tests, tools); a deployment
    /// goes through `Stores`.
    pub async fn open_sqlite(name: &str, path: &Path) -> Result<Db, StoreError> {
        check_name(name)?;
        Db::sqlite(name, path, DEFAULT_BUSY_TIMEOUT, Workload::default()).await
    }

    async fn sqlite(
        name: &str,
        path: &Path,
        busy_timeout: Duration,
        workload: Workload,
    ) -> Result<Db, StoreError> {
        let path = path.to_owned();
        let backend = tokio::task::spawn_blocking(move || {
            sqlite::SqliteBackend::open(&path, busy_timeout, DEFAULT_CONNECTIONS, workload)
        })
        .await
        .map_err(|e| StoreError::Open(format!("opening the store panicked: {e}")))??;
        Ok(Db { name: name.into(), backend: Arc::new(backend), statements: Arc::default() })
    }

    /// The store's name (the plugin or bounded context that owns it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many statements this store has run since it was opened (every
    /// clone and transaction counted): what a test of "no N+1" compares
    /// before and after a request.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Runs `work` in a transaction and commits if it returns `Ok`; an `Err`
    /// (or a panic, or dropping the future) rolls back. When the database
    /// was busy (another writer held it past the busy timeout) the whole
    /// closure runs again, up to `TRANSACTION_ATTEMPTS` times with growing
    /// pauses, so it must do nothing outside the transaction that cannot be
    /// repeated. `work` gets a `Tx`, usable only until it returns.
    ///
    /// ```ignore
    /// db.transaction(|tx| async move {
    ///     tx.execute("UPDATE seats SET holder = ? WHERE id = ? AND holder IS NULL", params![user, seat]).await?;
    ///     Ok::<_, StoreError>(())
    /// }).await?;
    /// ```
    pub async fn transaction<T, E, F, Fut>(&self, mut work: F) -> Result<T, E>
    where
        F: FnMut(Tx) -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send,
        T: Send,
        E: From<StoreError> + Send,
    {
        let mut attempt = 1;
        loop {
            let busy_retry = |attempt: u32| attempt < TRANSACTION_ATTEMPTS;
            let inner = match self.backend.begin().await {
                Ok(inner) => inner,
                Err(error) if error.is_retryable() && busy_retry(attempt) => {
                    pause(attempt).await;
                    attempt += 1;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let state = Arc::new(TxState {
                inner: Mutex::new(Some(inner)),
                saw_busy: AtomicBool::new(false),
                statements: self.statements.clone(),
            });
            let outcome = work(Tx { state: state.clone() }).await;
            let inner = state.inner.lock().await.take();
            let saw_busy = state.saw_busy.load(Ordering::Relaxed);
            let Some(inner) = inner else { return Err(StoreError::TxEnded.into()) };
            match outcome {
                Ok(value) => match inner.commit().await {
                    Ok(()) => return Ok(value),
                    Err(error) if error.is_retryable() && busy_retry(attempt) => {}
                    Err(error) => return Err(error.into()),
                },
                Err(error) => {
                    if let Err(rollback) = inner.rollback().await {
                        tracing::warn!(plugin = %self.name, error = %rollback, "rollback failed");
                    }
                    if !(saw_busy && busy_retry(attempt)) {
                        return Err(error);
                    }
                }
            }
            tracing::debug!(plugin = %self.name, attempt, "the database was busy; running the transaction again");
            pause(attempt).await;
            attempt += 1;
        }
    }

    /// The names of the secondary indexes of `table` (unique ones included,
    /// the primary key not), sorted.
    pub async fn indexes(&self, table: &str) -> Result<Vec<String>, StoreError> {
        check_identifier(table)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        let rows =
            self.backend.query(self.backend.indexes_sql().to_owned(), vec![Value::from(table)]).await?;
        rows.iter().map(|row| row.get("name")).collect()
    }

    /// Drops the index `name` of `table`: the one DDL statement that is
    /// written differently on SQLite (`DROP INDEX i`) and MySQL (`DROP INDEX
    /// i ON t`). Create it again with a plain `CREATE INDEX` through
    /// `execute`. Bulk loads use the pair to build an index once at the end
    /// instead of row by row. DDL commits at once on MySQL, so this runs
    /// outside any transaction.
    pub async fn drop_index(&self, table: &str, name: &str) -> Result<(), StoreError> {
        check_identifier(table)?;
        check_identifier(name)?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.backend.execute(self.backend.drop_index_sql(table, name), Vec::new()).await.map(|_| ())
    }

    /// Applies, in order, each of `migrations` this store has not recorded,
    /// each in a transaction of its own; returns the names it applied.
    /// Refuses when the store records a migration the list does not have
    /// (a newer build wrote it) or the list does not start with what the
    /// store records (a migration was renamed, removed or reordered).
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<&'static str>, StoreError> {
        let lock = self.backend.lock_migrations().await?;
        let applied = migrate::apply(self, migrations).await;
        if let Some(lock) = lock {
            lock.release().await;
        }
        applied
    }
}

async fn pause(attempt: u32) {
    // 20, 40, 80… ms, plus up to the same again so racing writers spread out.
    let base = 20u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos(),
    ) % base;
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

struct TxState {
    inner: Mutex<Option<Box<dyn TxBackend>>>,
    saw_busy: AtomicBool,
    statements: Arc<AtomicU64>,
}

/// One open transaction, handed to the closure of `Db::transaction`.
#[derive(Clone)]
pub struct Tx {
    state: Arc<TxState>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

/// A statement's SQL and its values, planned before a transaction runs it.
pub type Statement = (String, Vec<Value>);

/// Statements planned before a transaction runs them, shared so that a
/// transaction run again runs the same ones.
pub type Planned = Arc<Vec<Statement>>;

impl Tx {
    /// Runs `statements` in order; the rows they changed. SQLite runs them
    /// in one call on its connection's thread, reading the values where they
    /// are; other backends one by one. What a bulk load uses instead of a
    /// loop of `execute`: the same statements, without a round trip and a
    /// copy of the values each.
    pub async fn execute_all(&self, statements: &Planned) -> Result<u64, StoreError> {
        let sqls = statements.iter().map(|(sql, _)| sql.as_str());
        let statements = statements.clone();
        self.on_backend(sqls, move |inner| inner.execute_all(statements)).await
    }

    /// Checks `sqls` are portable, counts them, and runs `work` on the open
    /// transaction (noting a retryable error for `transaction`).
    async fn on_backend<'s, T>(
        &self,
        sqls: impl IntoIterator<Item = &'s str>,
        work: impl for<'b> FnOnce(
            &'b mut Box<dyn TxBackend>,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'b>>,
    ) -> Result<T, StoreError> {
        let mut count = 0;
        for sql in sqls {
            portable::check(sql)?;
            count += 1;
        }
        self.state.statements.fetch_add(count, Ordering::Relaxed);
        let mut inner = self.state.inner.lock().await;
        let inner = inner.as_mut().ok_or(StoreError::TxEnded)?;
        work(inner).await.map_err(|e| self.note(e))
    }

    fn note(&self, error: StoreError) -> StoreError {
        if error.is_retryable() {
            self.state.saw_busy.store(true, Ordering::Relaxed);
        }
        error
    }
}

#[async_trait]
impl Sql for Tx {
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let (owned, params) = (sql.to_owned(), params.to_vec());
        self.on_backend([sql], move |inner| inner.execute(owned, params)).await
    }

    async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let (owned, params) = (sql.to_owned(), params.to_vec());
        self.on_backend([sql], move |inner| inner.query(owned, params)).await
    }
}
