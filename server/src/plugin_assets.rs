//! The host's `Assets` for plugins: read-only views of the metadata store,
//! and playback URLs signed with the edge's keys.

use std::sync::Arc;
use std::time::Duration;

use cdlc_metadata::{AssetStatus, MetadataStore};
use cdlc_plugin_api::{async_trait, AssetInfo, AssetState, Assets, AssetsError, Playback};
use cdlc_transcoder::layout::{DASH_MANIFEST, HLS_MASTER, POSTER};

pub struct HostAssets {
    pub metadata: Arc<dyn MetadataStore>,
    pub edge: Arc<cdlc_edge::Edge>,
    /// The longest a plugin's signed URL may live (`signed_url_seconds`).
    pub max_signed: Duration,
}

fn unavailable(error: impl std::fmt::Display) -> AssetsError {
    AssetsError::Unavailable(error.to_string())
}

impl HostAssets {
    async fn ready(&self, asset_id: &str) -> Result<Option<cdlc_metadata::Asset>, AssetsError> {
        if !plausible_id(asset_id) {
            return Ok(None);
        }
        let asset = self.metadata.get_asset(asset_id).await.map_err(unavailable)?;
        Ok(asset.filter(|a| a.status == AssetStatus::Ready))
    }
}

/// Ids are UUIDs; anything else (a plugin passing user input on) is no asset
/// and costs no store read.
fn plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn playback(prefix: &str, expires: Option<u64>) -> Playback {
    Playback {
        hls: format!("{prefix}/{HLS_MASTER}"),
        dash: format!("{prefix}/{DASH_MANIFEST}"),
        poster: Some(format!("{prefix}/{POSTER}")),
        expires,
    }
}

#[async_trait]
impl Assets for HostAssets {
    async fn get(&self, asset_id: &str) -> Result<Option<AssetInfo>, AssetsError> {
        if !plausible_id(asset_id) {
            return Ok(None);
        }
        let Some(asset) = self.metadata.get_asset(asset_id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        // The probe's MediaInfo, whose `duration` serde writes as secs + nanos.
        let duration_seconds = asset.source.as_ref().and_then(|s| {
            let d = &s["duration"];
            Some(d["secs"].as_f64()? + d["nanos"].as_f64().unwrap_or(0.0) / 1e9)
        });
        Ok(Some(AssetInfo {
            id: asset.id,
            title: asset.title,
            state: match asset.status {
                AssetStatus::Uploading => AssetState::Uploading,
                AssetStatus::Processing => AssetState::Processing,
                AssetStatus::Ready => AssetState::Ready,
                AssetStatus::Errored => AssetState::Errored,
            },
            private: asset.private,
            duration_seconds,
        }))
    }

    async fn playback(&self, asset_id: &str) -> Result<Option<Playback>, AssetsError> {
        Ok(self
            .ready(asset_id)
            .await?
            .filter(|a| !a.private)
            .map(|a| playback(&format!("/streams/{}", a.id), None)))
    }

    async fn signed_playback(&self, asset_id: &str, ttl: Duration) -> Result<Option<Playback>, AssetsError> {
        let Some(asset) = self.ready(asset_id).await? else { return Ok(None) };
        let (prefix, expires) = self
            .edge
            .signed_prefix(&asset.id, ttl.min(self.max_signed))
            .ok_or(AssetsError::SigningDisabled)?;
        Ok(Some(playback(&prefix, Some(expires))))
    }
}
