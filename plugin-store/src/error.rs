//! One error type for the port: each variant says where it came from, and
//! `is_retryable` says whether trying again can help.

/// What went wrong in a database call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or primary key already holds the value. The message names
    /// the constraint as the backend reported it; callers map this to a
    /// conflict with a sentence of their own (for example "the handle is taken").
    #[error("a row with the same key already exists ({0})")]
    Conflict(String),
    /// Another connection held the lock longer than the busy timeout, and the
    /// retries (inside `transaction`) ran out too.
    #[error("the database {0} is busy (locked by another writer); try again")]
    Busy(String),
    /// The statement uses SQL outside the portable subset (see the crate's docs).
    #[error("SQL outside the portable subset: {construct} ({hint})")]
    NotPortable { construct: String, hint: &'static str },
    /// A column could not be read as the type asked for.
    #[error("column {column:?}: {message}")]
    Decode { column: String, message: String },
    /// The backend refused the statement (syntax, missing table, wrong number
    /// of parameters…): a bug in the calling code.
    #[error("SQL error: {0}")]
    Sql(String),
    /// The database file or server cannot be opened or reached.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The database server stopped answering (connection refused or
    /// broken): a later call may succeed once it is back.
    #[error("the database server is not answering: {0}")]
    Unavailable(String),
    /// The migrations given do not match those the database records.
    #[error("migrations: {0}")]
    Migration(String),
    /// A `Tx` was used after its transaction committed or rolled back.
    #[error("the transaction has already ended; use the Tx only inside its closure")]
    TxEnded,
    /// A store or plugin name that cannot name a database.
    #[error("{0}")]
    BadName(String),
}

impl StoreError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }

    /// Whether the database server could not be reached (503 material).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
