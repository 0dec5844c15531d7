//! The host's `Images` for plugins: thumbnails made by the transcoder's
//! GStreamer in a `cdlc thumbnail-job` child (`cdlc_isolation::thumbnail`),
//! since no pipeline runs in the server's own process.

use std::sync::Arc;

use bytes::Bytes;
use cdlc_isolation::ChildCommand;
use cdlc_plugin_api::{async_trait, Images, ImagesError};
use tokio::sync::Semaphore;

/// Thumbnails made at once; more wait their turn (an upload is a few per minute at most).
const CONCURRENT_THUMBNAILS: usize = 2;

pub struct HostImages {
    child: Result<ChildCommand, String>,
    running: Arc<Semaphore>,
}

impl HostImages {
    pub fn new() -> HostImages {
        HostImages {
            child: ChildCommand::thumbnail_job()
                .map_err(|e| format!("cannot find this program's own path: {e}")),
            running: Arc::new(Semaphore::new(CONCURRENT_THUMBNAILS)),
        }
    }
}

#[async_trait]
impl Images for HostImages {
    async fn thumbnail(&self, image: Bytes, width: u32) -> Result<Bytes, ImagesError> {
        let child = self.child.clone().map_err(ImagesError::Unavailable)?;
        let _turn = self.running.acquire().await.map_err(|e| ImagesError::Unavailable(e.to_string()))?;
        let made = tokio::task::spawn_blocking(move || {
            cdlc_isolation::thumbnail::thumbnail_isolated(&child, &image, width)
        })
        .await
        .map_err(|e| ImagesError::Unavailable(format!("the thumbnail task ended: {e}")))?;
        made.map(Bytes::from).map_err(|e| ImagesError::Unreadable(e.to_string()))
    }
}
