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
    /// Opens a transaction that holds the write lock from its start, so two
    /// transactions cannot both read and then fail at their first write.
    async fn begin(&self) -> Result<Box<dyn TxBackend>, StoreError>;
    /// For messages: the file or server and database.
    fn describe(&self) -> &str;
}

/// One open transaction. Dropped without `commit`, it rolls back.
#[async_trait]
pub(crate) trait TxBackend: Send {
    async fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, StoreError>;
    async fn query(&mut self, sql: String, params: Vec<Value>) -> Result<Vec<Row>, StoreError>;
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}
