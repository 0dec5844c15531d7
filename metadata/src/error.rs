/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("no asset with id {0}")]
    NoSuchAsset(String),
    #[error("no job with id {0} held by this worker")]
    NotHeld(String),
    #[error("the cursor is not one this server gave out; start the list again without it")]
    BadCursor,
    #[error("the metadata database failed: {0}")]
    Database(String),
    /// No node answered in time (down, unreachable, overloaded): a later
    /// try may succeed.
    #[error("the metadata database is not answering: {0}")]
    Unavailable(String),
    #[error("the metadata database holds a value cdlc cannot read: {0}")]
    Corrupt(String),
    #[error("the metadata URL is not valid: {0}")]
    BadUrl(String),
}

impl MetadataError {
    /// Whether trying again later could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MetadataError::Database(_) | MetadataError::Unavailable(_))
    }
}

impl From<rusqlite::Error> for MetadataError {
    fn from(e: rusqlite::Error) -> Self {
        MetadataError::Database(e.to_string())
    }
}
