//! `/api/v1/assets`: upload, list, get, delete.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use cdlc_metadata::{Asset, AssetStatus, NewAsset};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use cdlc_plugin_api::Principal;

use super::authz::{self, Reader};
use super::upload::{complete_upload, create_asset, Arrived};
use super::{ApiError, ErrorBody, SharedState};
use crate::state::keys;

/// An asset as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Asset)]
pub struct AssetView {
    #[serde(flatten)]
    #[schema(inline)]
    asset: Asset,
    /// Its HLS is encrypted with AES-128 and its DASH with CENC (ClearKey);
    /// the keys only on its signed URLs.
    encrypted: bool,
    renditions: Vec<cdlc_metadata::RenditionRecord>,
    /// Playlist URLs, root-relative; present once the master playlist is published.
    playback: Option<Playback>,
    /// The poster's URL, root-relative; present once it is stored (early in the transcode).
    poster: Option<String>,
    /// The storyboard's WebVTT URL, root-relative (its cues point into
    /// `storyboard.jpg`); present once the transcode has made it.
    storyboard: Option<String>,
}

/// Where to play the asset.
#[derive(Debug, Serialize, ToSchema)]
struct Playback {
    /// The HLS master playlist.
    hls: String,
    /// The DASH manifest (an encrypted asset's is CENC with ClearKey, its
    /// licence `clearkey.json` beside it).
    dash: String,
    /// An encrypted asset's HLS over the same CENC segments as its DASH
    /// (METHOD=SAMPLE-AES-CTR, KEYFORMAT org.w3.clearkey), for players with
    /// EME ClearKey; `hls` (AES-128) plays everywhere else.
    #[serde(skip_serializing_if = "Option::is_none")]
    hls_cenc: Option<String>,
    /// An encrypted asset's W3C ClearKey licence URL (POST a licence
    /// request, or GET the key set), for `hls_cenc` and `dash`.
    #[serde(skip_serializing_if = "Option::is_none")]
    clearkey: Option<String>,
    /// For a private asset shown to the admin: the URLs are signed and
    /// valid until this time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
}

/// The asset as the API shows it; `sign`: a private asset's URLs are signed
/// (for its uploader or an admin, see `authz::Reader`).
pub(super) async fn view(state: &SharedState, asset: Asset, sign: bool) -> Result<AssetView, ApiError> {
    use cdlc_transcoder::layout::{DASH_MANIFEST, HLS_MASTER, POSTER, STORYBOARD_INDEX};
    let renditions = state.metadata.renditions(&asset.id).await?;
    // Both are remembered after the first view; the first asks the store for both at once.
    let (key, found) = futures_util::future::try_join(
        async { state.content_keys.of(&asset).await.map_err(|e| ApiError::Internal(e.into())) },
        published_objects(&state.published, state.objects.as_ref(), &asset.id),
    )
    .await?;
    let encrypted = key.is_some();
    let [master, poster, storyboard] = crate::published::OBJECTS.map(|(bit, _)| found & bit != 0);
    // A private asset's URLs are signed for its uploader and the admins
    // (and useless to others).
    let valid_for = std::time::Duration::from_secs(state.config.signed_url_seconds);
    let signed = if asset.private && sign { state.edge.signed_prefix(&asset.id, valid_for) } else { None };
    let (prefix, expires) = match signed {
        Some((prefix, expires)) => (prefix, Some(expires)),
        None => (format!("/streams/{}", asset.id), None),
    };
    let url = |name: &str| format!("{prefix}/{name}");
    let playback = master.then(|| Playback {
        hls: url(HLS_MASTER),
        dash: url(DASH_MANIFEST),
        hls_cenc: encrypted.then(|| url(crate::edge_origin::CENC_MASTER)),
        clearkey: encrypted.then(|| url(crate::edge_origin::LICENSE_FILE)),
        expires,
    });
    let (poster, storyboard) = (poster.then(|| url(POSTER)), storyboard.then(|| url(STORYBOARD_INDEX)));
    Ok(AssetView { asset, encrypted, renditions, playback, poster, storyboard })
}

/// Which of the asset's viewer-facing objects exist: what the object store
/// was already seen to hold, plus one HEAD (all at once) for each of the
/// others.
async fn published_objects(
    published: &crate::published::Published,
    objects: &dyn cdlc_storage::ObjectStore,
    asset_id: &str,
) -> Result<crate::published::Found, ApiError> {
    let known = published.known(asset_id);
    let unknown = crate::published::OBJECTS.iter().filter(|(bit, _)| known & bit == 0);
    let heads = unknown.map(|&(bit, name)| async move {
        let meta = objects.head(&keys::stream(asset_id, name)).await?;
        Ok::<_, cdlc_storage::StorageError>(if meta.is_some() { bit } else { 0 })
    });
    let found =
        futures_util::future::try_join_all(heads).await?.into_iter().fold(known, |all, bit| all | bit);
    published.learn(asset_id, found);
    Ok(found)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only assets in this state: uploading, processing, ready or errored.
    status: Option<String>,
    /// Assets per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next` of the previous page.
    cursor: Option<String>,
}

/// A page of assets, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AssetPage)]
pub struct ListView {
    items: Vec<AssetView>,
    /// The cursor of the next page; null on the last.
    next: Option<String>,
}

/// Whether `reader` gets signed URLs for each private asset of `assets`,
/// asking the owners' store once for the page.
async fn signing_for(state: &SharedState, reader: &Reader, assets: &[Asset]) -> Result<Vec<bool>, ApiError> {
    let owners = match reader {
        Reader::Uploader(_) => {
            let private: Vec<&str> = assets.iter().filter(|a| a.private).map(|a| a.id.as_str()).collect();
            state.owners.of(&private).await.map_err(|e| ApiError::Internal(e.into()))?
        }
        Reader::Anyone | Reader::All => Default::default(),
    };
    Ok(assets.iter().map(|a| a.private && reader.may_sign(owners.get(&a.id))).collect())
}

/// List assets, newest first.
///
/// Anyone. A private asset's playback URLs are signed for its uploader and
/// for admins (an API key needs `assets:read`).
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(ListQuery), operation_id = "list_assets",
    security((), ("bearer" = ["assets:read"]), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of assets.", body = ListView),
        (status = 400, description = "A status, limit or cursor that is not valid.", body = ErrorBody),
    ))]
pub async fn list(
    principal: Principal,
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
    let signing = signing_for(&state, &Reader::of(&principal), &page.items).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for (asset, sign) in page.items.into_iter().zip(signing) {
        items.push(view(&state, asset, sign).await?);
    }
    Ok(Json(ListView { items, next: page.next }))
}

/// One asset.
///
/// Anyone. A private asset's playback URLs are signed for its uploader and
/// for admins (an API key needs `assets:read`).
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", operation_id = "get_asset",
    params(("id" = String, Path, description = "The asset's id.")),
    security((), ("bearer" = ["assets:read"]), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The asset.", body = AssetView),
        (status = 404, description = "No such asset.", body = ErrorBody),
    ))]
pub async fn get(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<AssetView>, ApiError> {
    let asset = state
        .metadata
        .get_asset(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    let sign = signing_for(&state, &Reader::of(&principal), std::slice::from_ref(&asset)).await?[0];
    Ok(Json(view(&state, asset, sign).await?))
}

/// Delete an asset and every object of it.
///
/// Needs role uploader and scope `assets:write`, and to be its uploader or an admin.
#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets", operation_id = "delete_asset",
    params(("id" = String, Path, description = "The asset's id.")),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, a key without `assets:write`, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such asset.", body = ErrorBody),
    ))]
pub async fn delete(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    authz::uploader(&principal)?;
    if state.metadata.get_asset(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no asset with id {id}")));
    }
    authz::may_change(&state, &principal, &id).await?;
    // The transcode first (its child is killed at once), then metadata: a
    // worker elsewhere that finds the asset gone stops publishing.
    state.running.cancel(&id);
    state.metadata.delete_asset(&id).await?;
    state.objects.delete_prefix(&keys::stream_prefix(&id)).await?;
    state.objects.delete_prefix(&format!("sources/{id}/")).await?;
    state.stream_changed(&id);
    state.content_keys.forget(&id);
    state.owners.forget_asset(&id).await.map_err(|e| ApiError::Internal(e.into()))?;
    state.announce_asset("deleted", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The form of a multipart upload.
#[derive(ToSchema)]
#[allow(dead_code)] // Read field by field in `upload`; here for the schema.
struct UploadForm {
    /// The video.
    #[schema(value_type = String, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    /// At most 500 characters.
    title: Option<String>,
    /// "true" for a private asset, played only through signed URLs.
    private: Option<String>,
    /// "true" to encrypt the asset's HLS with AES-128 and its DASH with
    /// CENC (the asset is then private too).
    encrypted: Option<String>,
}

/// Upload a video (multipart); the transcode is queued.
///
/// Streams the file to the spool, stores it as the asset's source and
/// queues the transcode. Needs role uploader and scope `assets:write`.
#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", operation_id = "upload_asset",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 201, description = "The asset, processing.", body = AssetView),
        (status = 400, description = "No `file`, an empty one, an unknown field or a malformed body.", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not an uploader, a key without `assets:write`, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 413, description = "Larger than `max_upload_bytes`.", body = ErrorBody),
    ))]
pub async fn upload(
    principal: Principal,
    State(state): State<SharedState>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<AssetView>), ApiError> {
    let uploader = authz::uploader(&principal)?;
    let limit = state.config.max_upload_bytes;
    let spool = state.spool_dir.join(format!("upload-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        let mut new = NewAsset::default();
        let mut encrypted = false;
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
                Some(name @ ("private" | "encrypted")) => {
                    let name = if name == "private" { "private" } else { "encrypted" };
                    let text = field.text().await.map_err(|e| ApiError::BadRequest(e.to_string()))?;
                    let on = match text.trim() {
                        "true" => true,
                        "false" | "" => false,
                        other => {
                            return Err(ApiError::BadRequest(format!(
                                "{name} must be true or false, not {other:?}"
                            )))
                        }
                    };
                    if name == "private" {
                        new.private = on;
                    } else {
                        encrypted = on;
                    }
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
            Some(_) => Ok((new, encrypted)),
        }
    }
    .await;
    let (new, encrypted) = match result {
        Ok(new) => new,
        Err(error) => {
            let _ = tokio::fs::remove_file(&spool).await;
            return Err(error);
        }
    };

    let asset = match create_asset(&state, uploader, new, encrypted).await {
        Ok(asset) => asset,
        Err(error) => {
            let _ = tokio::fs::remove_file(&spool).await;
            return Err(error);
        }
    };
    let asset = complete_upload(&state, &asset.id, Arrived::Spooled(&spool), "multipart").await?;
    Ok((StatusCode::CREATED, Json(view(&state, asset, true).await?)))
}

/// Follow an asset: server-sent events.
///
/// One `asset` event (the asset's record as JSON) each time its status or
/// progress changes, ending after `ready` or `errored` (or `deleted`). Anyone.
#[utoipa::path(get, path = "/api/v1/assets/{id}/events", tag = "assets", operation_id = "follow_asset",
    params(("id" = String, Path, description = "The asset's id.")),
    responses(
        (status = 200, description = "`event: asset` with `data:` the asset's record, until it is ready, errored or deleted.",
            content_type = "text/event-stream", body = String),
        (status = 404, description = "No such asset.", body = ErrorBody),
    ))]
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use cdlc_storage::{LocalStore, ObjectMeta, ObjectStore, StorageError};

    use super::*;
    use crate::published::Published;

    /// A real local store that counts the HEADs it answers.
    #[derive(Debug)]
    struct CountingHeads {
        store: LocalStore,
        heads: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ObjectStore for CountingHeads {
        async fn put(&self, key: &str, data: Bytes) -> Result<ObjectMeta, StorageError> {
            self.store.put(key, data).await
        }
        async fn put_file(&self, key: &str, path: &Path) -> Result<ObjectMeta, StorageError> {
            self.store.put_file(key, path).await
        }
        async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
            self.store.get(key).await
        }
        async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StorageError> {
            self.store.get_range(key, start, end).await
        }
        async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
            self.heads.fetch_add(1, Ordering::SeqCst);
            self.store.head(key).await
        }
        async fn delete(&self, key: &str) -> Result<bool, StorageError> {
            self.store.delete(key).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
            self.store.list(prefix).await
        }
    }

    #[tokio::test]
    async fn the_view_asks_the_store_only_for_what_it_has_not_seen() {
        let dir = tempfile::tempdir().unwrap();
        let objects =
            CountingHeads { store: LocalStore::open(dir.path()).unwrap(), heads: AtomicUsize::new(0) };
        let published = Published::default();
        let put = |name: &'static str| {
            let key = keys::stream("a1", name);
            let objects = &objects;
            async move { objects.put(&key, Bytes::from_static(b"x")).await }
        };
        let heads_for_one_view = || async {
            let before = objects.heads.load(Ordering::SeqCst);
            let found = published_objects(&published, &objects, "a1").await.unwrap();
            (found, objects.heads.load(Ordering::SeqCst) - before)
        };

        assert_eq!(heads_for_one_view().await, (0, 3), "nothing published: all three asked");
        put(cdlc_transcoder::layout::POSTER).await.unwrap();
        assert_eq!(heads_for_one_view().await, (2, 3), "the poster is found");
        put(cdlc_transcoder::layout::HLS_MASTER).await.unwrap();
        put(cdlc_transcoder::layout::STORYBOARD_INDEX).await.unwrap();
        assert_eq!(heads_for_one_view().await, (7, 2), "the poster is not asked again");
        assert_eq!(heads_for_one_view().await, (7, 0), "a ready asset costs no request");

        // A new attempt removes the stream; the view must not keep its URLs.
        objects.delete_prefix(&keys::stream_prefix("a1")).await.unwrap();
        published.forget("a1");
        assert_eq!(heads_for_one_view().await, (0, 3));
    }
}
