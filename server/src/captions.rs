//! An asset's text tracks: kept with its source (`sources/{id}/captions…`,
//! so a new transcode attempt never loses them) and published into its
//! stream (`streams/{id}/subs/…` plus the master playlist and the MPD)
//! whenever the asset is ready: when its transcode finishes, and each time
//! a track is added, replaced or removed — without transcoding again.
//!
//! Two lists: the uploaded tracks (`captions.json`, written here) and the
//! tracks the transcode extracted from the source (`source-captions.json`,
//! written by the worker once per attempt, before it reports ready; here
//! only when a user removes one).
//!
//! The two writers meet without a lock: a track change records the index
//! before it reads the asset's status, and the report applier records
//! `ready` before it reads the index, so one of them always sees both.

use bytes::Bytes;
use cdlc_captions::{Cue, TrackInfo, MAX_TRACKS};
use cdlc_metadata::AssetStatus;
use cdlc_storage::{ObjectStore, StorageError};
use cdlc_transcoder::{layout, TranscodeOutput};

use crate::state::{keys, AppState};

#[derive(Debug, thiserror::Error)]
pub enum CaptionsError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] cdlc_metadata::MetadataError),
    #[error("stored captions data is damaged ({0}); remove and add the track again")]
    Damaged(String),
    #[error("an asset has at most {MAX_TRACKS} text tracks; remove one first")]
    TooMany,
}

async fn read_json<T: serde::de::DeserializeOwned>(
    objects: &dyn ObjectStore,
    key: &str,
) -> Result<Option<T>, CaptionsError> {
    match objects.get(key).await {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| CaptionsError::Damaged(e.to_string()))
        }
        Err(StorageError::NotFound(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The asset's text tracks: the source's own, in its order, then the
/// uploaded ones in the order they were added.
pub async fn tracks(state: &AppState, asset_id: &str) -> Result<Vec<TrackInfo>, CaptionsError> {
    let (mut all, uploaded) = lists(state, asset_id).await?;
    all.extend(uploaded);
    Ok(all)
}

/// The source's tracks and the uploaded ones, each list as stored.
async fn lists(state: &AppState, asset_id: &str) -> Result<(Vec<TrackInfo>, Vec<TrackInfo>), CaptionsError> {
    let objects = &*state.objects;
    Ok((
        list(objects, &keys::source_captions(asset_id)).await?,
        list(objects, &keys::captions(asset_id)).await?,
    ))
}

async fn list(objects: &dyn ObjectStore, key: &str) -> Result<Vec<TrackInfo>, CaptionsError> {
    Ok(read_json(objects, key).await?.unwrap_or_default())
}

async fn write_index(
    objects: &dyn ObjectStore,
    key: &str,
    tracks: &[TrackInfo],
) -> Result<(), CaptionsError> {
    let body = serde_json::to_vec(tracks).map_err(|e| CaptionsError::Damaged(e.to_string()))?;
    objects.put(key, Bytes::from(body)).await?;
    Ok(())
}

/// Adds the track, or replaces the one of the same language and kind, then
/// publishes if the asset is ready. Returns whether it replaced one.
pub async fn put(
    state: &AppState,
    asset_id: &str,
    track: TrackInfo,
    cues: &[Cue],
) -> Result<bool, CaptionsError> {
    let (from_source, mut uploaded) = lists(state, asset_id).await?;
    let replaced = uploaded.iter().any(|t| t.id == track.id);
    if !replaced && from_source.len() + uploaded.len() >= MAX_TRACKS {
        return Err(CaptionsError::TooMany);
    }
    let vtt = cdlc_captions::write_vtt(cues);
    state.objects.put(&keys::caption(asset_id, &track.id), Bytes::from(vtt)).await?;
    match uploaded.iter_mut().find(|t| t.id == track.id) {
        Some(existing) => *existing = track,
        None => uploaded.push(track),
    }
    write_index(&*state.objects, &keys::captions(asset_id), &uploaded).await?;
    publish_if_ready(state, asset_id).await?;
    Ok(replaced)
}

/// Removes a track, uploaded or from the source (until a new transcode
/// extracts it again); false when the asset has none of this id.
pub async fn remove(state: &AppState, asset_id: &str, track_id: &str) -> Result<bool, CaptionsError> {
    let (from_source, uploaded) = lists(state, asset_id).await?;
    let (key, mut same_origin) = if from_source.iter().any(|t| t.id == track_id) {
        (keys::source_captions(asset_id), from_source)
    } else if uploaded.iter().any(|t| t.id == track_id) {
        (keys::captions(asset_id), uploaded)
    } else {
        return Ok(false);
    };
    same_origin.retain(|t| t.id != track_id);
    write_index(&*state.objects, &key, &same_origin).await?;
    state.objects.delete(&keys::caption(asset_id, track_id)).await?;
    let subs = cdlc_packager::text::TEXT_DIR;
    state.objects.delete_prefix(&keys::stream(asset_id, &format!("{subs}/{track_id}/"))).await?;
    state.objects.delete(&keys::stream(asset_id, &cdlc_packager::text::whole_file(track_id))).await?;
    publish_if_ready(state, asset_id).await?;
    Ok(true)
}

/// The worker's side, at the start of an attempt: removes the tracks an
/// earlier attempt extracted from the source (this one extracts them again).
/// A damaged list is dropped with them.
pub async fn forget_source_tracks(objects: &dyn ObjectStore, asset_id: &str) -> Result<(), CaptionsError> {
    let key = keys::source_captions(asset_id);
    let earlier = match list(objects, &key).await {
        Err(CaptionsError::Damaged(_)) => Vec::new(),
        other => other?,
    };
    for track in earlier {
        objects.delete(&keys::caption(asset_id, &track.id)).await?;
    }
    objects.delete(&key).await?;
    Ok(())
}

/// The worker's side, before it reports ready: the list of the tracks it
/// extracted (their cues already stored); nothing when there are none.
pub async fn record_source_tracks(
    objects: &dyn ObjectStore,
    asset_id: &str,
    tracks: &[TrackInfo],
) -> Result<(), CaptionsError> {
    if tracks.is_empty() {
        return Ok(());
    }
    write_index(objects, &keys::source_captions(asset_id), tracks).await
}

/// Writes the text tracks' files and the manifests that name them, when
/// the asset is ready; a no-op otherwise (the ready report calls this again).
pub async fn publish_if_ready(state: &AppState, asset_id: &str) -> Result<(), CaptionsError> {
    let all = &tracks(state, asset_id).await?;
    let ready = state.metadata.get_asset(asset_id).await?.is_some_and(|a| a.status == AssetStatus::Ready);
    if !ready {
        return Ok(());
    }
    let Some(output) = read_json::<TranscodeOutput>(&*state.objects, &keys::package(asset_id)).await? else {
        // Packaged before cdlc kept the package: no manifest to rewrite.
        tracing::warn!(asset_id, "no package.json: the text tracks wait for a new transcode");
        return Ok(());
    };
    for track in all {
        let vtt = state.objects.get(&keys::caption(asset_id, &track.id)).await?;
        let (_, cues) = cdlc_captions::parse(&vtt).map_err(|e| CaptionsError::Damaged(e.to_string()))?;
        for (path, body) in cdlc_packager::text::track_files(&output, &track.id, &cues) {
            state.objects.put(&keys::stream(asset_id, &path), Bytes::from(body)).await?;
        }
    }
    let master = cdlc_packager::hls::master_playlist(&output, all);
    let mpd = cdlc_packager::dash::manifest(&output, &cdlc_packager::dash::Timing::Static, all);
    state.objects.put(&keys::stream(asset_id, layout::HLS_MASTER), Bytes::from(master)).await?;
    state.objects.put(&keys::stream(asset_id, layout::DASH_MANIFEST), Bytes::from(mpd)).await?;
    state.stream_changed(asset_id);
    tracing::info!(asset_id, tracks = all.len(), "text tracks published");
    Ok(())
}
