//! What a plugin may know of the host's video assets: read only.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where an asset is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetState {
    Uploading,
    Processing,
    Ready,
    Errored,
}

/// One asset, as a plugin sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInfo {
    pub id: String,
    pub title: Option<String>,
    pub state: AssetState,
    /// Private assets play only through signed URLs.
    pub private: bool,
    pub duration_seconds: Option<f64>,
}

/// Where a player finds the streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playback {
    pub hls: String,
    pub dash: String,
    pub poster: Option<String>,
    /// Set for signed URLs: when they stop working, Unix seconds.
    pub expires: Option<u64>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AssetsError {
    #[error("the asset service is unavailable: {0}")]
    Unavailable(String),
    #[error("signed URLs are not configured on this server (no signing key)")]
    SigningDisabled,
}

/// Read access to assets, implemented by the host.
#[async_trait]
pub trait Assets: Send + Sync {
    /// The asset, or `None` when there is no asset with this id (a malformed
    /// id is also `None`).
    async fn get(&self, asset_id: &str) -> Result<Option<AssetInfo>, AssetsError>;

    /// The public playback URLs of a ready, public asset; `None` when it is
    /// missing, not ready or private.
    async fn playback(&self, asset_id: &str) -> Result<Option<Playback>, AssetsError>;

    /// Signed playback URLs of a ready asset, valid for `ttl` (the host caps
    /// it); `None` when it is missing or not ready. The plugin decides who
    /// deserves one (a ticket holder, a subscriber).
    async fn signed_playback(&self, asset_id: &str, ttl: Duration) -> Result<Option<Playback>, AssetsError>;

    async fn exists(&self, asset_id: &str) -> Result<bool, AssetsError> {
        Ok(self.get(asset_id).await?.is_some())
    }

    async fn is_ready(&self, asset_id: &str) -> Result<bool, AssetsError> {
        Ok(self.get(asset_id).await?.is_some_and(|a| a.state == AssetState::Ready))
    }
}
