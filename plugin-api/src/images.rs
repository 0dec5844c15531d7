//! What a plugin may ask of the host's image handling: thumbnails of the
//! images it stores (posters, photos), made by the host's GStreamer in a
//! child process, since the plugin cannot run pipelines itself.

use async_trait::async_trait;
use bytes::Bytes;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ImagesError {
    /// The host makes no thumbnails (a host without media, as in a plugin's tests).
    #[error("this host makes no thumbnails: {0}")]
    Unavailable(String),
    /// The image could not be decoded or scaled; the sentence says why.
    #[error("{0}")]
    Unreadable(String),
}

/// Thumbnails, implemented by the host.
#[async_trait]
pub trait Images: Send + Sync {
    /// A JPEG `width` pixels wide (the height keeps the picture's shape) of
    /// a JPEG or PNG `image`.
    async fn thumbnail(&self, image: Bytes, width: u32) -> Result<Bytes, ImagesError>;
}
