//! The embedded backend: one SQLite file per store, WAL, a busy timeout, a
//! few pooled connections. Every call runs on tokio's blocking pool, so no
//! async worker thread ever waits on the disk or on a lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ToSql};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::{Backend, TxBackend};
use crate::{Row, StoreError, Value, Workload};

/// How long a statement waits for another connection's lock before it
/// reports `Busy` (and `transaction` retries).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per database file. WAL lets readers run beside the one writer.
pub const DEFAULT_CONNECTIONS: usize = 4;

pub(crate) struct SqliteBackend {
    pool: Arc<Pool>,
    label: String,
}

struct Pool {
    path: PathBuf,
    busy_timeout: Duration,
    workload: Workload,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection lent by the pool; it goes back when dropped, rolled back
/// first if a transaction was left open (a closure that panicked, a future
/// that was cancelled).
struct Lent {
    connection: Option<Connection>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if !connection.is_autocommit() && connection.execute_batch("ROLLBACK").is_err() {
                return; // a connection that cannot roll back is not reused
            }
            self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(connection);
        }
    }
}

impl Lent {
    fn connection(&self) -> &Connection {
        self.connection.as_ref().unwrap_or_else(|| unreachable!("a lent connection is present until dropped"))
    }
}

fn map_error(error: rusqlite::Error, label: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, message) = &error {
        match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return StoreError::Busy(label.to_owned()),
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                return StoreError::Conflict(message.clone().unwrap_or_else(|| "unique".into()))
            }
            _ => {}
        }
    }
    StoreError::Sql(error.to_string())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

fn cell(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    }
}

/// SQLite's `DROP INDEX`, which names no table.
fn drop_index_statement(name: &str) -> String {
    format!("DROP INDEX {name}")
}

fn run_execute(connection: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<u64> {
    if let Some((index, _table)) = crate::portable::dropped_index(sql) {
        let sql = drop_index_statement(index);
        return Ok(connection.execute(&sql, rusqlite::params_from_iter(params.iter()))? as u64);
    }
    let mut statement = connection.prepare_cached(sql)?;
    Ok(statement.execute(rusqlite::params_from_iter(params.iter()))? as u64)
}

fn run_query(connection: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Vec<Row>> {
    let mut statement = connection.prepare_cached(sql)?;
    let columns: Arc<[String]> = statement.column_names().map(str::to_owned).collect();
    let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len()).map(|i| row.get_ref(i).map(cell)).collect::<rusqlite::Result<_>>()?;
        out.push(Row::new(columns.clone(), values));
    }
    Ok(out)
}

impl Pool {
    fn open_connection(&self) -> Result<Connection, StoreError> {
        let open = || -> rusqlite::Result<Connection> {
            let connection = Connection::open(&self.path)?;
            connection.busy_timeout(self.busy_timeout)?;
            // Takes effect only while the file is new, before WAL mode
            // fixes the page size.
            connection.pragma_update(None, "page_size", self.workload.sqlite_page_size())?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            connection.pragma_update(None, "foreign_keys", "ON")?;
            connection.set_prepared_statement_cache_capacity(64);
            Ok(connection)
        };
        open().map_err(|e| match map_error(e, &self.path.display().to_string()) {
            busy @ StoreError::Busy(_) => busy,
            other => StoreError::Open(format!("{}: {other}", self.path.display())),
        })
    }

    async fn lend(self: &Arc<Self>) -> Result<Lent, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Open(format!("{}: the pool is closed", self.path.display())))?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut lent = Lent { connection: idle, pool: self.clone(), _permit: permit };
        if lent.connection.is_none() {
            let pool = self.clone();
            let (back, opened) =
                blocking(lent, move |lent| pool.open_connection().map(|c| lent.connection = Some(c))).await?;
            opened?;
            lent = back;
        }
        Ok(lent)
    }
}

/// Runs `work` on the blocking pool with the lent connection, and hands the
/// connection back to the caller with the result.
async fn blocking<T, F>(mut lent: Lent, work: F) -> Result<(Lent, T), StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Lent) -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let result = work(&mut lent);
        (lent, result)
    })
    .await
    .map_err(|e| StoreError::Sql(format!("the database call panicked: {e}")))
}

impl SqliteBackend {
    pub(crate) fn open(
        path: &Path,
        busy_timeout: Duration,
        connections: usize,
        workload: Workload,
    ) -> Result<SqliteBackend, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Open(format!("cannot create {}: {e}", parent.display())))?;
        }
        let pool = Arc::new(Pool {
            path: path.to_owned(),
            busy_timeout,
            workload,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(connections.max(1))),
        });
        // Open one connection now so a bad path fails at start, not at the
        // first request.
        let first = pool.open_connection()?;
        pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(first);
        Ok(SqliteBackend { pool, label: path.display().to_string() })
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn execute(&self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        let lent = self.pool.lend().await?;
        let (_, result) = blocking(lent, move |lent| run_execute(lent.connection(), &sql, &params)).await?;
        result.map_err(|e| map_error(e, &self.label))
    }

    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let lent = self.pool.lend().await?;
        let (_, result) = blocking(lent, move |lent| run_query(lent.connection(), &sql, &params)).await?;
        result.map_err(|e| map_error(e, &self.label))
    }

    async fn begin(&self) -> Result<Box<dyn TxBackend>, StoreError> {
        let lent = self.pool.lend().await?;
        let (lent, result) =
            blocking(lent, |lent| lent.connection().execute_batch("BEGIN IMMEDIATE")).await?;
        result.map_err(|e| map_error(e, &self.label))?;
        Ok(Box::new(SqliteTx { lent: Some(lent), label: self.label.clone() }))
    }

    fn indexes_sql(&self) -> &'static str {
        // Primary keys and UNIQUE constraints are automatic indexes without SQL.
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name"
    }

    fn drop_index_sql(&self, _table: &str, name: &str) -> String {
        drop_index_statement(name)
    }

    fn describe(&self) -> &str {
        &self.label
    }
}

struct SqliteTx {
    lent: Option<Lent>,
    label: String,
}

impl SqliteTx {
    async fn run<T, F>(&mut self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let lent = self.lent.take().ok_or(StoreError::TxEnded)?;
        let (lent, result) = blocking(lent, move |lent| work(lent.connection())).await?;
        self.lent = Some(lent);
        result.map_err(|e| map_error(e, &self.label))
    }
}

#[async_trait]
impl TxBackend for SqliteTx {
    async fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        self.run(move |c| run_execute(c, &sql, &params)).await
    }

    async fn query(&mut self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        self.run(move |c| run_query(c, &sql, &params)).await
    }

    async fn execute_all(&mut self, statements: crate::Planned) -> Result<u64, StoreError> {
        self.run(move |c| {
            statements.iter().try_fold(0, |changed, (sql, params)| Ok(changed + run_execute(c, sql, params)?))
        })
        .await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.run(|c| c.execute_batch("COMMIT")).await
    }

    async fn rollback(mut self: Box<Self>) -> Result<(), StoreError> {
        self.run(|c| c.execute_batch("ROLLBACK")).await
    }
}
