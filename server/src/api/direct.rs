//! Direct-to-bucket uploads at `/api/v1/direct-uploads`: a content team's
//! browser PUTs a large source in parts straight to presigned S3 URLs, so
//! the bytes never pass through this server. Only with an `s3://` object
//! store. The upload's id and announced size sit in
//! `DATA_DIR/spool/direct-{asset}.json` until it is completed or aborted.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cdlc_metadata::{AssetStatus, NewAsset};
use cdlc_storage::{S3Store, StorageError, MAX_PARTS, MIN_PART_SIZE};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::assets::{view, AssetView};
use cdlc_plugin_api::Principal;

use super::upload::{complete_upload, Arrived};
use super::{authz, ApiError, ErrorBody, SharedState};
use crate::state::keys;

/// How long the presigned part URLs stay valid.
const URL_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest file name and title accepted.
const MAX_NAME_CHARS: usize = 500;
/// Longest ETag accepted back from a client.
const MAX_ETAG_LEN: usize = 200;

/// A direct upload to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DirectUploadRequest)]
pub struct CreateRequest {
    /// The file's name, the title when none is given (1 to 500 characters).
    filename: String,
    /// Bytes the browser will upload.
    size: u64,
    title: Option<String>,
    #[serde(default)]
    private: bool,
    /// HLS AES-128 encryption (the asset is then private, without DASH).
    #[serde(default)]
    encrypted: bool,
}

/// Where to PUT one part's bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrl {
    number: u32,
    /// Presigned; keep the ETag header its PUT answers.
    url: String,
}

/// A direct upload, started.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DirectUpload)]
pub struct CreateResponse {
    /// The asset's id, which is also this upload's id.
    id: String,
    upload_id: String,
    /// Every part but the last is exactly this many bytes.
    part_size: u64,
    expires_in_seconds: u64,
    parts: Vec<PartUrl>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    upload_id: String,
    size: u64,
    part_size: u64,
}

/// Every part, with the ETag its PUT answered.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DirectUploadParts)]
pub struct CompleteRequest {
    parts: Vec<CompletedPart>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedPart {
    number: u32,
    /// The ETag header the bucket answered to the part's PUT.
    etag: String,
}

fn bucket(state: &SharedState) -> Result<&S3Store, ApiError> {
    state.bucket.as_deref().ok_or_else(|| {
        ApiError::Conflict(
            "this server keeps objects on its local disk (objects = file://…), so there is no bucket to upload \
             to: use POST /api/v1/assets or tus at /api/v1/uploads, or configure an s3:// objects store"
                .into(),
        )
    })
}

fn json<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|e| ApiError::BadRequest(format!("the JSON body is not valid: {e}")))
}

fn record_path(state: &SharedState, id: &str) -> std::path::PathBuf {
    state.spool_dir.join(format!("direct-{id}.json"))
}

async fn load(state: &SharedState, id: &str) -> Result<Record, ApiError> {
    let missing = || {
        ApiError::NotFound(format!(
            "no direct upload {id} in progress: it was completed, aborted or never created"
        ))
    };
    // The id becomes a file name: only accept what asset ids look like.
    if !cdlc_metadata::is_asset_id(id) {
        return Err(missing());
    }
    let text = tokio::fs::read(record_path(state, id)).await.map_err(|_| missing())?;
    serde_json::from_slice(&text).map_err(|e| ApiError::Internal(e.into()))
}

/// Part size for `size` bytes: the store's, grown so no more than
/// [`MAX_PARTS`] parts are needed.
fn part_size_for(store_part_size: u64, size: u64) -> u64 {
    store_part_size.max(size.div_ceil(MAX_PARTS)).max(MIN_PART_SIZE)
}

/// Direct-to-bucket upload (S3 object stores only).
///
/// Creates the asset (uploading) and a multipart upload of its source, with
/// a presigned PUT URL per part, valid 1 h. PUT each part's bytes to its URL
/// and keep the ETag response header. Needs role uploader and scope
/// `assets:write`.
#[utoipa::path(post, path = "/api/v1/direct-uploads", tag = "uploads", operation_id = "direct_create", request_body = CreateRequest,
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 201, description = "Started.", body = CreateResponse),
        (status = 400, description = "A size of 0, a filename or title out of bounds, or a malformed body.", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not an uploader, a key without `assets:write`, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 409, description = "The objects are on local disk: there is no bucket.", body = ErrorBody),
        (status = 413, description = "Larger than `max_upload_bytes`.", body = ErrorBody),
    ))]
pub async fn create(
    principal: Principal,
    State(state): State<SharedState>,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CreateResponse>), ApiError> {
    let uploader = authz::uploader(&principal)?;
    let request = json(body)?;
    let store = bucket(&state)?;
    let limit = state.config.max_upload_bytes;
    if request.size == 0 {
        return Err(ApiError::BadRequest("size is 0: the file is empty; choose the video file again".into()));
    }
    if request.size > limit {
        return Err(ApiError::TooLarge(limit));
    }
    if request.filename.trim().is_empty() || request.filename.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::BadRequest(format!("filename must have 1 to {MAX_NAME_CHARS} characters")));
    }
    if request.title.as_ref().is_some_and(|t| t.chars().count() > MAX_NAME_CHARS) {
        return Err(ApiError::BadRequest(format!("title must be at most {MAX_NAME_CHARS} characters")));
    }
    let part_size = part_size_for(store.config().part_size, request.size);
    let part_count = request.size.div_ceil(part_size);

    let title = request.title.filter(|t| !t.trim().is_empty()).unwrap_or(request.filename);
    let new = NewAsset { title: Some(title), private: request.private };
    let asset = super::upload::create_asset(&state, uploader, new, request.encrypted).await?;
    let key = keys::source(&asset.id);
    let prepared = async {
        let upload_id = store.create_multipart(&key).await?;
        let record = Record { upload_id: upload_id.clone(), size: request.size, part_size };
        let text = serde_json::to_vec(&record).map_err(|e| ApiError::Internal(e.into()))?;
        tokio::fs::write(record_path(&state, &asset.id), text)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let mut parts = Vec::with_capacity(part_count as usize);
        for number in 1..=part_count as u32 {
            let url = store.presign_part(&key, &upload_id, number as i32, URL_LIFETIME).await?;
            parts.push(PartUrl { number, url });
        }
        Ok::<_, ApiError>(CreateResponse {
            id: asset.id.clone(),
            upload_id,
            part_size,
            expires_in_seconds: URL_LIFETIME.as_secs(),
            parts,
        })
    }
    .await;
    match prepared {
        Ok(response) => Ok((StatusCode::CREATED, Json(response))),
        Err(error) => {
            if let Ok(record) = load(&state, &asset.id).await {
                let _ = store.abort_multipart(&key, &record.upload_id).await;
            }
            let _ = tokio::fs::remove_file(record_path(&state, &asset.id)).await;
            let _ = super::upload::discard_upload(&state, &asset.id).await;
            Err(error)
        }
    }
}

/// Join the uploaded parts into the source, check its size and queue the transcode.
///
/// Needs role uploader and scope `assets:write`, and to be its uploader or an admin.
#[utoipa::path(post, path = "/api/v1/direct-uploads/{id}/complete", tag = "uploads", operation_id = "direct_complete", request_body = CompleteRequest,
    params(("id" = String, Path, description = "The upload's (and asset's) id.")),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 200, description = "The asset, processing.", body = AssetView),
        (status = 400, description = "Parts missing, repeated or out of range, ETags wrong, or a size unlike the announced one.", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such direct upload in progress.", body = ErrorBody),
        (status = 409, description = "The objects are on local disk: there is no bucket.", body = ErrorBody),
    ))]
pub async fn complete(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    body: Result<Json<CompleteRequest>, JsonRejection>,
) -> Result<Json<AssetView>, ApiError> {
    let store = bucket(&state)?;
    authz::uploader(&principal)?;
    let record = load(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    let request = json(body)?;
    let expected_parts = record.size.div_ceil(record.part_size);
    if request.parts.len() as u64 != expected_parts {
        return Err(ApiError::BadRequest(format!(
            "send all {expected_parts} parts (number and etag), not {}",
            request.parts.len()
        )));
    }
    let mut parts = Vec::with_capacity(request.parts.len());
    for part in request.parts {
        if part.number == 0 || u64::from(part.number) > expected_parts {
            return Err(ApiError::BadRequest(format!(
                "part numbers run from 1 to {expected_parts}, not {}",
                part.number
            )));
        }
        if part.etag.is_empty() || part.etag.len() > MAX_ETAG_LEN {
            return Err(ApiError::BadRequest(format!(
                "part {} needs the ETag its PUT answered",
                part.number
            )));
        }
        parts.push((part.number as i32, part.etag));
    }
    parts.sort_by_key(|(number, _)| *number);
    if parts.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err(ApiError::BadRequest("each part number may appear once".into()));
    }

    let key = keys::source(&id);
    let stored = match store.complete_multipart(&key, &record.upload_id, &parts).await {
        Ok(stored) => stored,
        // The bucket refuses missing parts, wrong ETags, undersized parts.
        Err(StorageError::Rejected { message, .. }) => {
            return Err(ApiError::BadRequest(format!(
                "the parts could not be joined; check that every part was uploaded and its ETag sent back ({message})"
            )))
        }
        Err(other) => return Err(other.into()),
    };
    let _ = tokio::fs::remove_file(record_path(&state, &id)).await;
    if stored.size != record.size {
        let reason = format!(
            "the uploaded parts hold {} bytes but {} were announced; upload the file again",
            stored.size, record.size
        );
        let _ = state.objects.delete(&key).await;
        let asset = state.metadata.set_status(&id, AssetStatus::Errored, Some(&reason)).await?;
        state.metadata.append_event(&id, "asset.errored", serde_json::json!({ "error": reason })).await?;
        crate::webhooks::notify(&state, "asset.errored", &asset.id);
        return Err(ApiError::BadRequest(reason));
    }
    let asset = complete_upload(&state, &id, Arrived::Stored, "direct").await?;
    Ok(Json(view(&state, asset, true).await?))
}

/// Abort a direct upload: its parts and its asset are removed.
///
/// Needs role uploader and scope `assets:write`, and to be its uploader or an admin.
#[utoipa::path(delete, path = "/api/v1/direct-uploads/{id}", tag = "uploads", operation_id = "direct_abort",
    params(("id" = String, Path, description = "The upload's (and asset's) id.")),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 204, description = "Aborted."),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such direct upload in progress.", body = ErrorBody),
        (status = 409, description = "The objects are on local disk: there is no bucket.", body = ErrorBody),
    ))]
pub async fn abort(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = bucket(&state)?;
    authz::uploader(&principal)?;
    let record = load(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    match store.abort_multipart(&keys::source(&id), &record.upload_id).await {
        Ok(()) | Err(StorageError::NotFound(_)) => {}
        Err(other) => return Err(other.into()),
    }
    let _ = tokio::fs::remove_file(record_path(&state, &id)).await;
    super::upload::discard_upload(&state, &id).await?;
    state.announce_asset("deleted", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_within_the_s3_limits() {
        assert_eq!(part_size_for(16 << 20, 1), 16 << 20, "small files: one part of the store's size");
        assert_eq!(part_size_for(1, 1), MIN_PART_SIZE, "never below S3's minimum");
        for size in [16 << 20, (16 << 20) + 1, 200 << 30, 5 << 40] {
            let part = part_size_for(16 << 20, size);
            assert!(size.div_ceil(part) <= MAX_PARTS, "{size} bytes need {} parts", size.div_ceil(part));
        }
        assert!(part_size_for(16 << 20, 200 << 30) > 16 << 20, "a 200 GiB film grows the parts");
    }
}
