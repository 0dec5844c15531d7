//! `/api/v1/assets`: upload, list, get, delete.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use cdlc_metadata::{Asset, AssetStatus, JobKind, NewAsset};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{Admin, ApiError, SharedState};
use crate::state::keys;

/// An asset as the API shows it.
#[derive(Debug, Serialize)]
pub struct AssetView {
    #[serde(flatten)]
    asset: Asset,
    renditions: Vec<cdlc_metadata::RenditionRecord>,
    /// Playlist URLs, root-relative; present once the master playlist is published.
    playback: Option<Playback>,
}

#[derive(Debug, Serialize)]
struct Playback {
    hls: String,
    dash: String,
}

pub(super) async fn view(state: &SharedState, asset: Asset) -> Result<AssetView, ApiError> {
    let renditions = state.metadata.renditions(&asset.id).await?;
    let master = keys::stream(&asset.id, cdlc_transcoder::layout::HLS_MASTER);
    let playback = state.objects.head(&master).await?.map(|_| Playback {
        hls: format!("/streams/{}/{}", asset.id, cdlc_transcoder::layout::HLS_MASTER),
        dash: format!("/streams/{}/{}", asset.id, cdlc_transcoder::layout::DASH_MANIFEST),
    });
    Ok(AssetView { asset, renditions, playback })
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ListView {
    items: Vec<AssetView>,
    next: Option<String>,
}

pub async fn list(
    State(state): State<SharedState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ListView>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(AssetStatus::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status must be uploading, processing, ready or errored, not {text:?}"
            ))
        })?),
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=cdlc_metadata::MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {}",
            cdlc_metadata::MAX_PAGE_SIZE
        )));
    }
    let page = state.metadata.list_assets(status, limit, query.cursor.as_deref()).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for asset in page.items {
        items.push(view(&state, asset).await?);
    }
    Ok(Json(ListView { items, next: page.next }))
}

pub async fn get(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<AssetView>, ApiError> {
    let asset = state
        .metadata
        .get_asset(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    Ok(Json(view(&state, asset).await?))
}

pub async fn delete(
    _admin: Admin,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.metadata.get_asset(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no asset with id {id}")));
    }
    // Metadata first: a worker that finds its asset gone stops publishing.
    state.metadata.delete_asset(&id).await?;
    state.objects.delete_prefix(&keys::stream_prefix(&id)).await?;
    state.objects.delete_prefix(&format!("sources/{id}/")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/assets`, multipart with the video in field `file` and an
/// optional `title` and `private` ("true"). Streams the file to the spool,
/// stores it as the asset's source and queues the transcode.
pub async fn upload(
    _admin: Admin,
    State(state): State<SharedState>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<AssetView>), ApiError> {
    let limit = state.config.max_upload_bytes;
    let spool = state.spool_dir.join(format!("upload-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        let mut new = NewAsset::default();
        let mut size: Option<u64> = None;
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| ApiError::BadRequest(format!("the multipart body is malformed: {e}")))?
        {
            match field.name() {
                Some("file") => {
                    let mut file =
                        tokio::fs::File::create(&spool).await.map_err(|e| ApiError::Internal(e.into()))?;
                    let mut written = 0u64;
                    while let Some(chunk) = field
                        .chunk()
                        .await
                        .map_err(|e| ApiError::BadRequest(format!("the upload was cut off: {e}")))?
                    {
                        written += chunk.len() as u64;
                        if written > limit {
                            return Err(ApiError::TooLarge(limit));
                        }
                        file.write_all(&chunk).await.map_err(|e| ApiError::Internal(e.into()))?;
                    }
                    file.sync_all().await.map_err(|e| ApiError::Internal(e.into()))?;
                    size = Some(written);
                }
                Some("title") => {
                    let title = field.text().await.map_err(|e| ApiError::BadRequest(e.to_string()))?;
                    if title.chars().count() > 500 {
                        return Err(ApiError::BadRequest("title must be at most 500 characters".into()));
                    }
                    new.title = Some(title);
                }
                Some("private") => {
                    new.private =
                        field.text().await.map_err(|e| ApiError::BadRequest(e.to_string()))?.trim() == "true";
                }
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unexpected multipart field {other:?}; send the video as `file`"
                    )))
                }
            }
        }
        match size {
            None => {
                Err(ApiError::BadRequest("no `file` field: send the video as multipart field `file`".into()))
            }
            Some(0) => {
                Err(ApiError::BadRequest("the file is empty (0 bytes); upload the video file again".into()))
            }
            Some(_) => Ok(new),
        }
    }
    .await;
    let new = match result {
        Ok(new) => new,
        Err(error) => {
            let _ = tokio::fs::remove_file(&spool).await;
            return Err(error);
        }
    };

    let asset = state.metadata.create_asset(new).await?;
    let stored = state.objects.put_file(&keys::source(&asset.id), &spool).await;
    let _ = tokio::fs::remove_file(&spool).await;
    if let Err(error) = stored {
        let _ = state.metadata.delete_asset(&asset.id).await;
        return Err(error.into());
    }
    let asset = state.metadata.set_status(&asset.id, AssetStatus::Processing, None).await?;
    state.queue.enqueue(&asset.id, JobKind::Transcode).await?;
    state.metadata.append_event(&asset.id, "asset.created", serde_json::json!({})).await?;
    Ok((StatusCode::CREATED, Json(view(&state, asset).await?)))
}

/// `GET /api/v1/assets/{id}/events`: server-sent events, one `asset`
/// event (the asset as JSON) each time its status or progress changes,
/// ending after `ready` or `errored` (or `deleted`).
pub async fn events(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    if state.metadata.get_asset(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no asset with id {id}")));
    }
    struct Cursor {
        state: SharedState,
        id: String,
        last: Option<(AssetStatus, f64)>,
        finished: bool,
    }
    let start = Cursor { state, id, last: None, finished: false };
    let stream = futures_util::stream::unfold(start, |mut cursor| async move {
        if cursor.finished {
            return None;
        }
        loop {
            let asset = match cursor.state.metadata.get_asset(&cursor.id).await {
                Ok(Some(asset)) => asset,
                _ => {
                    cursor.finished = true;
                    return Some((Ok(Event::default().event("deleted").data("{}")), cursor));
                }
            };
            let seen = (asset.status, asset.progress);
            if cursor.last != Some(seen) {
                cursor.last = Some(seen);
                cursor.finished = matches!(asset.status, AssetStatus::Ready | AssetStatus::Errored);
                let event =
                    Event::default().event("asset").json_data(&asset).unwrap_or_else(|_| Event::default());
                return Some((Ok(event), cursor));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
