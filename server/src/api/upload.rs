//! What every way of uploading (multipart, tus, direct to the bucket) does
//! once the bytes have arrived.

use std::path::Path;

use cdlc_metadata::{Asset, AssetStatus, JobKind, NewAsset};
use cdlc_plugin_api::Identity;

use super::{ApiError, SharedState};
use crate::state::keys;

/// Creates the asset of a new upload (`uploading`) for `uploader` (already
/// checked by `authz::uploader`) and records its uploader. An `encrypted`
/// asset gets its content key now, before its bytes can arrive, and is
/// private: its key is served only on its signed URLs. If a step fails the
/// asset is removed again.
pub async fn create_asset(
    state: &SharedState,
    uploader: &Identity,
    mut new: NewAsset,
    encrypted: bool,
) -> Result<Asset, ApiError> {
    new.private |= encrypted;
    let asset = state.metadata.create_asset(new).await?;
    let prepared = async {
        super::authz::record_uploader(state, uploader, &asset.id).await?;
        if encrypted {
            state.content_keys.create(&asset.id).await.map_err(|e| ApiError::Internal(e.into()))?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = prepared {
        tracing::warn!(asset_id = %asset.id, "the new asset could not be prepared; it is removed");
        let _ = discard_upload(state, &asset.id).await;
        return Err(error);
    }
    Ok(asset)
}

/// Removes the asset of an upload that did not complete (abandoned, or a
/// step failed): its record, what is under `sources/{id}/` (the source or
/// its parts, the content key) and its uploader.
pub async fn discard_upload(state: &SharedState, asset_id: &str) -> Result<(), ApiError> {
    state.metadata.delete_asset(asset_id).await?;
    state.objects.delete_prefix(&format!("sources/{asset_id}/")).await?;
    state.content_keys.forget(asset_id);
    state.owners.forget_asset(asset_id).await.map_err(|e| ApiError::Internal(e.into()))
}

/// Where an upload's bytes are when it completes.
#[derive(Debug, Clone, Copy)]
pub enum Arrived<'a> {
    /// In a spool file, which becomes the source object and is then removed
    /// (whether or not the upload completes).
    Spooled(&'a Path),
    /// Already the source object (joined in the bucket).
    Stored,
}

/// Completes the upload of `asset_id` (the asset exists, `uploading`): the
/// bytes become `sources/{asset}/original`, the asset turns `processing`,
/// its transcode is queued and `asset.created` (with `upload` = `via`) is
/// recorded. When any step fails, the asset and its source are removed (so
/// nothing half-done stays behind: no asset waits for a job that was never
/// queued) and the error is returned for the client, who uploads again.
pub async fn complete_upload(
    state: &SharedState,
    asset_id: &str,
    arrived: Arrived<'_>,
    via: &str,
) -> Result<Asset, ApiError> {
    let result = async {
        if let Arrived::Spooled(path) = arrived {
            let stored = state.objects.put_file(&keys::source(asset_id), path).await;
            let _ = tokio::fs::remove_file(path).await;
            stored?;
        }
        let asset = state.metadata.set_status(asset_id, AssetStatus::Processing, None).await?;
        state.queue.enqueue(asset_id, JobKind::Transcode).await?;
        state.metadata.append_event(asset_id, "asset.created", serde_json::json!({ "upload": via })).await?;
        Ok::<_, ApiError>(asset)
    }
    .await;
    if result.is_ok() {
        let bytes = match state.objects.head(&keys::source(asset_id)).await {
            Ok(Some(meta)) => Some(meta.size),
            _ => None,
        };
        let payload = serde_json::json!({ "asset_id": asset_id, "via": via, "bytes": bytes });
        state.announce("assets", "uploaded", payload).await;
    }
    if result.is_err() {
        tracing::warn!(asset_id, via, "the upload could not be completed; its asset is removed");
        let _ = discard_upload(state, asset_id).await;
    }
    result
}
