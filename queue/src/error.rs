use cdlc_metadata::MetadataError;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "cannot reach the NATS server at {url}: {reason}; check that it runs with JetStream enabled (-js)"
    )]
    Connect { url: String, reason: String },
    #[error("the NATS JetStream request failed: {0}")]
    Nats(String),
    #[error("a queue message is not one cdlc understands: {0}")]
    BadMessage(String),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl QueueError {
    /// Whether trying again later could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Connect { .. } | QueueError::Nats(_) => true,
            QueueError::BadMessage(_) => false,
            QueueError::Metadata(e) => e.is_retryable(),
        }
    }

    pub(crate) fn nats(error: impl std::fmt::Display) -> Self {
        QueueError::Nats(error.to_string())
    }
}
