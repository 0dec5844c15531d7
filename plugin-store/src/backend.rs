//! What a backend implements. Callers never see these traits: they use
//! `Db` and `Tx`, which check portability, trace and retry on top.

use async_trait::async_trait;

use crate::{Row, StoreError, Value};

#[async_trait]
pub(crate) trait Backend: Send + Sync {
    /// Runs one statement outside any transaction; the number of rows changed.
    async fn execute(&self, sql: String, params: Vec<Value>) -> Result<u64, StoreError>;
    /// Runs one query outside any transaction.
    async fn query(&self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError>;
    /// Opens a transaction. SQLite's holds the write lock from its start, so
    /// two transactions cannot both read and then fail at their first write;
    /// MySQL's takes row locks as it writes (READ COMMITTED), so a
    /// read-then-write is safe only as a conditional write (the portable rule).
    async fn begin(&self) -> Result<Box<dyn TxBackend>, StoreError>;
    /// Serializes `Db::migrate` across processes where a transaction does
    /// not (MySQL commits DDL at once): held until released. `None`: the
    /// backend's transactions already serialize migrations (SQLite).
    async fn lock_migrations(&self) -> Result<Option<Box<dyn MigrationLock>>, StoreError> {
        Ok(None)
    }
    /// A query with one parameter, the table, whose rows have a `name`
    /// column: the table's secondary indexes (unique ones included, the
    /// primary key not).
    fn indexes_sql(&self) -> &'static str;
    /// The statement that drops index `name` of `table` (both checked names).
    fn drop_index_sql(&self, table: &str, name: &str) -> String;
    /// For messages: the file or server and database.
    fn describe(&self) -> &str;
}

/// What `lock_migrations` hands out.
#[async_trait]
pub(crate) trait MigrationLock: Send {
    async fn release(self: Box<Self>);
}

/// One open transaction. Dropped without `commit`, it rolls back.
#[async_trait]
pub(crate) trait TxBackend: Send {
    async fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, StoreError>;
    async fn query(&mut self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError>;
    /// Runs each statement in order; the rows changed in all.
    async fn execute_all(&mut self, statements: crate::Planned) -> Result<u64, StoreError> {
        let mut changed = 0;
        for (sql, params) in statements.iter() {
            changed += self.execute(sql.clone(), params.clone()).await?;
        }
        Ok(changed)
    }
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}
