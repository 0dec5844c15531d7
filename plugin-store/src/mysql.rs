//! The scale-out backend: a MySQL 8 or MariaDB 10.11 server, one database
//! per store (`{prefix}_{name}`, created with `utf8mb4_bin` when absent),
//! a pool of connections per store (mysql_async, pure Rust).
//!
//! Each connection is set up the same way whenever it opens: strict SQL
//! mode, `READ COMMITTED` (a read sees what is committed; a conditional
//! write re-checks its condition against the newest committed row under
//! its row lock, which is what makes the portable read-then-write pattern
//! race-free), and the busy timeout as InnoDB's lock wait timeout (whole
//! seconds, at least one: MySQL has no finer one). `CLIENT_FOUND_ROWS`
//! makes `execute` count the rows an UPDATE matched, as SQLite does, not
//! only those whose values changed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

use crate::backend::{Backend, MigrationLock, TxBackend};
use crate::{Row, StoreError, Value};

/// Connections per store's pool, at most.
pub const MYSQL_CONNECTIONS: usize = 8;
/// The character set number MySQL reports for binary strings (BLOB).
const BINARY_CHARSET: u16 = 63;
/// How long a store may wait for another process's migrations.
const MIGRATION_LOCK_SECONDS: u64 = 60;

/// A parsed `mysql://user:password@host:port/prefix`.
#[derive(Clone)]
pub(crate) struct MySqlLocation {
    opts: Opts,
    prefix: String,
    label: String,
}

impl std::fmt::Debug for MySqlLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlLocation").field("at", &self.label).field("prefix", &self.prefix).finish()
    }
}

/// Longest database-name prefix: MySQL names are at most 64 characters and
/// a store name at most 40, with a `_` between.
pub const MAX_PREFIX: usize = 23;

impl MySqlLocation {
    pub(crate) fn parse(url: &str) -> Result<MySqlLocation, StoreError> {
        let bad = |why: String| {
            StoreError::Open(format!(
                "{why}: write mysql://USER:PASSWORD@HOST:PORT/PREFIX (each store is the database PREFIX_NAME)"
            ))
        };
        let opts = Opts::from_url(url).map_err(|e| bad(format!("the MySQL URL is not valid ({e})")))?;
        let prefix = opts.db_name().unwrap_or_default().to_owned();
        let valid = (1..=MAX_PREFIX).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(bad(format!(
                "the database prefix {prefix:?} must be 1-{MAX_PREFIX} lower-case letters, digits or '_', \
                 starting with a letter"
            )));
        }
        if opts.user().is_none() {
            return Err(bad("the MySQL URL names no user".into()));
        }
        let label = format!(
            "mysql://{}@{}:{}/{prefix}",
            opts.user().unwrap_or_default(),
            opts.ip_or_hostname(),
            opts.tcp_port()
        );
        Ok(MySqlLocation { opts, prefix, label })
    }

    /// The database of store `name`.
    pub(crate) fn database(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    fn builder(&self, database: Option<&str>, busy_timeout: Duration, connections: usize) -> OptsBuilder {
        let seconds = busy_timeout.as_secs_f64().ceil().max(1.0) as u64;
        let constraints = PoolConstraints::new(0, connections.max(1)).unwrap_or_default();
        OptsBuilder::from_opts(self.opts.clone())
            .db_name(database)
            .client_found_rows(true)
            .prefer_socket(false)
            .setup(vec![
                "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"
                    .to_owned(),
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_owned(),
                format!("SET SESSION innodb_lock_wait_timeout = {seconds}"),
                format!("SET SESSION lock_wait_timeout = {}", seconds.max(5)),
            ])
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    // A connection is reset only when a transaction was
                    // abandoned on it (see `MySqlTx`'s drop): resetting every
                    // one would throw away its prepared statements.
                    .with_reset_connection(false),
            )
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

pub(crate) struct MySqlBackend {
    pool: Pool,
    label: String,
    database: String,
}

impl Drop for MySqlBackend {
    fn drop(&mut self) {
        // The pool's connections close when its last handle goes; closing
        // them explicitly needs an async context, which a drop may lack.
        let pool = self.pool.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = pool.disconnect().await;
            });
        }
    }
}

fn map_error(error: mysql_async::Error, label: &str) -> StoreError {
    match &error {
        mysql_async::Error::Server(server) => match server.code {
            // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
            1062 | 1586 => StoreError::Conflict(server.message.clone()),
            // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
            1205 | 1213 => StoreError::Busy(label.to_owned()),
            _ => StoreError::Sql(format!("{} (MySQL error {})", server.message, server.code)),
        },
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
            StoreError::Unavailable(format!("{label}: {error}"))
        }
        _ => StoreError::Sql(error.to_string()),
    }
}

fn param(value: Value) -> mysql_async::Value {
    match value {
        Value::Null => mysql_async::Value::NULL,
        Value::Int(v) => mysql_async::Value::Int(v),
        Value::Real(v) => mysql_async::Value::Double(v),
        Value::Text(v) => mysql_async::Value::Bytes(v.into_bytes()),
        Value::Blob(v) => mysql_async::Value::Bytes(v),
    }
}

fn params(values: Vec<Value>) -> mysql_async::Params {
    if values.is_empty() {
        mysql_async::Params::Empty
    } else {
        mysql_async::Params::Positional(values.into_iter().map(param).collect())
    }
}

/// One cell as the port's `Value`: the binary protocol gives numbers as
/// numbers; strings are text unless the column's character set is binary.
fn cell(value: mysql_async::Value, column: &mysql_async::Column) -> Result<Value, StoreError> {
    Ok(match value {
        mysql_async::Value::NULL => Value::Null,
        mysql_async::Value::Int(v) => Value::Int(v),
        mysql_async::Value::UInt(v) => Value::Int(
            i64::try_from(v)
                .map_err(|_| decode(column, format!("{v} does not fit in a signed 64-bit integer")))?,
        ),
        mysql_async::Value::Float(v) => Value::Real(f64::from(v)),
        mysql_async::Value::Double(v) => Value::Real(v),
        mysql_async::Value::Bytes(bytes)
            if matches!(
                column.column_type(),
                ColumnType::MYSQL_TYPE_NEWDECIMAL | ColumnType::MYSQL_TYPE_DECIMAL
            ) =>
        {
            // SUM() and AVG() of integers are DECIMAL: a whole one is an integer.
            let text = String::from_utf8_lossy(&bytes);
            match text.parse::<i64>() {
                Ok(whole) => Value::Int(whole),
                Err(_) => {
                    Value::Real(text.parse::<f64>().map_err(|_| decode(column, format!("decimal {text}")))?)
                }
            }
        }
        mysql_async::Value::Bytes(bytes) if column.character_set() == BINARY_CHARSET => Value::Blob(bytes),
        mysql_async::Value::Bytes(bytes) => Value::Text(
            String::from_utf8(bytes).map_err(|_| decode(column, "text that is not UTF-8".into()))?,
        ),
        other => {
            return Err(decode(
                column,
                format!(
                    "{other:?}: dates and times are not in the portable subset (store BIGINT milliseconds)"
                ),
            ))
        }
    })
}

fn decode(column: &mysql_async::Column, message: String) -> StoreError {
    StoreError::Decode { column: column.name_str().into_owned(), message }
}

/// Whether a statement returns rows.
fn returns_rows(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or_default();
    head.eq_ignore_ascii_case("SELECT")
}

async fn run_execute(conn: &mut Conn, sql: &str, values: Vec<Value>) -> Result<u64, mysql_async::Error> {
    if values.is_empty() && !returns_rows(sql) {
        // DDL and other statements without parameters: the text protocol,
        // which takes every statement (not all are preparable).
        conn.query_drop(sql).await?;
    } else {
        conn.exec_drop(sql, params(values)).await?;
    }
    Ok(conn.affected_rows())
}

async fn run_query(
    conn: &mut Conn,
    sql: &str,
    values: Vec<Value>,
    label: &str,
) -> Result<Vec<Row>, StoreError> {
    // Always the binary protocol (a prepared statement), so numbers come
    // back typed, with or without parameters.
    let rows: Vec<mysql_async::Row> =
        conn.exec(sql, params(values)).await.map_err(|e| map_error(e, label))?;
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let columns_meta = first.columns();
    let columns: Arc<[String]> = columns_meta.iter().map(|c| c.name_str().into_owned()).collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let values = row.unwrap();
        let cells = values
            .into_iter()
            .zip(columns_meta.iter())
            .map(|(value, column)| cell(value, column))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Row::new(columns.clone(), cells));
    }
    Ok(out)
}

impl MySqlBackend {
    /// Opens the pool of store `name`, creating its database when absent.
    pub(crate) async fn open(
        location: &MySqlLocation,
        name: &str,
        busy_timeout: Duration,
        connections: usize,
    ) -> Result<MySqlBackend, StoreError> {
        let database = location.database(name);
        let label = format!("{} ({database})", location.label());
        let unreachable = |e: mysql_async::Error| {
            StoreError::Open(format!("cannot reach the MySQL server {}: {e}", location.label()))
        };
        let mut admin = Conn::new(location.builder(None, busy_timeout, 1)).await.map_err(unreachable)?;
        let create =
            format!("CREATE DATABASE IF NOT EXISTS {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
        admin.query_drop(create).await.map_err(|e| {
            StoreError::Open(format!(
                "cannot create the database {database} on {}: {e}; create it (utf8mb4, utf8mb4_bin) or \
                 grant the user CREATE",
                location.label()
            ))
        })?;
        let _ = admin.disconnect().await;
        let pool = Pool::new(location.builder(Some(&database), busy_timeout, connections));
        // One connection now, so a wrong password or a missing grant fails
        // at start, not at the first request.
        let conn = pool.get_conn().await.map_err(|e| StoreError::Open(format!("{label}: {e}")))?;
        drop(conn);
        Ok(MySqlBackend { pool, label, database })
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.pool.get_conn().await.map_err(|e| map_error(e, &self.label))
    }
}

#[async_trait]
impl Backend for MySqlBackend {
    async fn execute(&self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        run_execute(&mut conn, &sql, params).await.map_err(|e| map_error(e, &self.label))
    }

    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let mut conn = self.conn().await?;
        run_query(&mut conn, &sql, params, &self.label).await
    }

    async fn begin(&self) -> Result<Box<dyn TxBackend>, StoreError> {
        let mut conn = self.conn().await?;
        conn.query_drop("START TRANSACTION").await.map_err(|e| map_error(e, &self.label))?;
        Ok(Box::new(MySqlTx { conn: Some(conn), label: self.label.clone() }))
    }

    async fn lock_migrations(&self) -> Result<Option<Box<dyn MigrationLock>>, StoreError> {
        let mut conn = self.conn().await?;
        let name = format!("cdlc_migrate_{}", self.database);
        let got: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, ?)", (name.as_str(), MIGRATION_LOCK_SECONDS))
            .await
            .map_err(|e| map_error(e, &self.label))?;
        if got.flatten() != Some(1) {
            return Err(StoreError::Busy(format!(
                "{}: another process held the migration lock for {MIGRATION_LOCK_SECONDS} s",
                self.label
            )));
        }
        Ok(Some(Box::new(MySqlMigrationLock { conn: Some(conn), name })))
    }

    fn indexes_sql(&self) -> &'static str {
        "SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY' ORDER BY name"
    }

    fn drop_index_sql(&self, table: &str, name: &str) -> String {
        format!("DROP INDEX {name} ON {table}")
    }

    fn describe(&self) -> &str {
        &self.label
    }
}

/// A named lock (`GET_LOCK`) on the store's database, held on one connection.
struct MySqlMigrationLock {
    conn: Option<Conn>,
    name: String,
}

#[async_trait]
impl MigrationLock for MySqlMigrationLock {
    async fn release(mut self: Box<Self>) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.exec_drop("SELECT RELEASE_LOCK(?)", (self.name.as_str(),)).await;
        }
    }
}

impl Drop for MySqlMigrationLock {
    fn drop(&mut self) {
        // Not released (a cancelled migrate): the reset on return frees it.
        if let Some(conn) = self.conn.as_mut() {
            conn.reset_connection(true);
        }
    }
}

struct MySqlTx {
    conn: Option<Conn>,
    label: String,
}

impl Drop for MySqlTx {
    fn drop(&mut self) {
        // Dropped before commit or rollback (a closure that panicked, a
        // future that was cancelled): the pool resets the connection when
        // it takes it back, which rolls the transaction back.
        if let Some(conn) = self.conn.as_mut() {
            conn.reset_connection(true);
        }
    }
}

impl MySqlTx {
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn.as_mut().ok_or(StoreError::TxEnded)
    }

    async fn finish(mut self: Box<Self>, statement: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.take().ok_or(StoreError::TxEnded)?;
        let result = conn.query_drop(statement).await.map_err(|e| map_error(e, &self.label));
        if result.is_err() {
            conn.reset_connection(true);
        }
        result
    }
}

#[async_trait]
impl TxBackend for MySqlTx {
    async fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, StoreError> {
        let label = self.label.clone();
        run_execute(self.conn()?, &sql, params).await.map_err(|e| map_error(e, &label))
    }

    async fn query(&mut self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError> {
        let label = self.label.clone();
        run_query(self.conn()?, &sql, params, &label).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.finish("COMMIT").await
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        self.finish("ROLLBACK").await
    }
}
