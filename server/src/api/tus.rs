//! Resumable uploads, tus 1.0 (core, creation, termination) at
//! `/api/v1/uploads`. The upload id is the asset id. Bytes land in
//! `DATA_DIR/spool/tus-{id}.part`, synced after every request, so the
//! offset a HEAD reports survives a crash; the length sits beside it in
//! `tus-{id}.json`. The last byte turns the upload into the asset's source
//! and queues the transcode.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cdlc_ingest::tus::{self, TUS_VERSION};
use cdlc_metadata::NewAsset;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use cdlc_plugin_api::Principal;

use super::upload::{complete_upload, Arrived};
use super::{authz, ApiError, ErrorBody, SharedState};

/// Uploads with a PATCH in flight: a second one at the same time gets 409.
static BUSY: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

struct BusyGuard(String);

impl BusyGuard {
    fn take(id: &str) -> Option<BusyGuard> {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        busy.insert(id.to_owned()).then(|| BusyGuard(id.to_owned()))
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        BUSY.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct UploadInfo {
    length: u64,
}

fn part_path(state: &SharedState, id: &str) -> PathBuf {
    state.spool_dir.join(format!("tus-{id}.part"))
}

fn info_path(state: &SharedState, id: &str) -> PathBuf {
    state.spool_dir.join(format!("tus-{id}.json"))
}

fn tus_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

fn header_u64(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().map_err(|_| tus::TusError::NotANumber(name))?;
            Ok(Some(tus::parse_bytes(name, text)?))
        }
    }
}

fn require_tus(headers: &HeaderMap) -> Result<(), ApiError> {
    Ok(tus::check_version(headers.get("tus-resumable").and_then(|v| v.to_str().ok()))?)
}

/// The new asset as `Upload-Metadata` describes it, and whether it is to be encrypted.
fn asset_from_metadata(headers: &HeaderMap) -> Result<(NewAsset, bool), ApiError> {
    let metadata = headers.get("upload-metadata").and_then(|v| v.to_str().ok()).unwrap_or("");
    let tus::UploadMetadata { title, private, encrypted } = tus::parse_metadata(metadata)?;
    Ok((NewAsset { title, private }, encrypted))
}

impl From<tus::TusError> for ApiError {
    fn from(error: tus::TusError) -> Self {
        match error {
            tus::TusError::Version => ApiError::TusVersion,
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// tus discovery: what this server supports.
///
/// Anyone. (A browser's CORS preflight, with Access-Control-Request-Method,
/// is answered by the CORS layer instead.)
#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads", operation_id = "tus_options", responses(
    (status = 204, description = "The supported version, extensions and largest size.", headers(
        ("tus-version" = String), ("tus-extension" = String, description = "creation,termination"),
        ("tus-max-size" = u64, description = "`max_upload_bytes`"))),
))]
pub async fn options(State(state): State<SharedState>) -> Response {
    let mut response = tus_headers(StatusCode::NO_CONTENT.into_response());
    let headers = response.headers_mut();
    headers.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    headers.insert("tus-extension", HeaderValue::from_static("creation,termination"));
    if let Ok(max) = HeaderValue::from_str(&state.config.max_upload_bytes.to_string()) {
        headers.insert("tus-max-size", max);
    }
    response
}

/// tus creation: a new upload and its asset (status uploading).
///
/// Needs role uploader and scope `assets:write`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", operation_id = "tus_create",
    params(("tus-resumable" = String, Header, description = "1.0.0"),
        ("upload-length" = u64, Header, description = "The file's size in bytes."),
        ("upload-metadata" = Option<String>, Header,
            description = "tus metadata: `title` (base64), `private` and `encrypted` (base64 of true or false)."),
    ),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 201, description = "Created; PATCH the bytes to `Location`.", headers(
            ("location" = String, description = "/api/v1/uploads/{id}"),
            ("cdlc-asset-id" = String, description = "The asset's id, which is also the upload's."))),
        (status = 400, description = "No or a bad Upload-Length, a 0-byte file or bad Upload-Metadata.", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not an uploader, a key without `assets:write`, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 412, description = "Not Tus-Resumable: 1.0.0.", body = ErrorBody),
        (status = 413, description = "Larger than `max_upload_bytes`.", body = ErrorBody),
    ))]
pub async fn create(
    principal: Principal,
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let uploader = authz::uploader(&principal)?;
    require_tus(&headers)?;
    let length = header_u64(&headers, "upload-length")?
        .ok_or_else(|| ApiError::BadRequest("send Upload-Length: the size of the file in bytes".into()))?;
    if length == 0 {
        return Err(ApiError::BadRequest("the file is empty (0 bytes); upload the video file again".into()));
    }
    if length > state.config.max_upload_bytes {
        return Err(ApiError::TooLarge(state.config.max_upload_bytes));
    }
    let (new, encrypted) = asset_from_metadata(&headers)?;
    let asset = super::upload::create_asset(&state, uploader, new, encrypted).await?;
    let info = serde_json::to_vec(&UploadInfo { length }).map_err(|e| ApiError::Internal(e.into()))?;
    tokio::fs::write(info_path(&state, &asset.id), info).await.map_err(|e| ApiError::Internal(e.into()))?;
    tokio::fs::File::create(part_path(&state, &asset.id)).await.map_err(|e| ApiError::Internal(e.into()))?;
    let location = format!("/api/v1/uploads/{}", asset.id);
    let mut response = tus_headers(StatusCode::CREATED.into_response());
    response
        .headers_mut()
        .insert("location", HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.into()))?);
    response
        .headers_mut()
        .insert("cdlc-asset-id", HeaderValue::from_str(&asset.id).map_err(|e| ApiError::Internal(e.into()))?);
    Ok(response)
}

async fn load(state: &SharedState, id: &str) -> Result<(UploadInfo, u64), ApiError> {
    let not_found = || ApiError::NotFound(format!("no upload {id}; create one with POST /api/v1/uploads"));
    if !cdlc_metadata::is_asset_id(id) {
        return Err(not_found());
    }
    let info = tokio::fs::read(info_path(state, id)).await.map_err(|_| not_found())?;
    let info: UploadInfo = serde_json::from_slice(&info).map_err(|e| ApiError::Internal(e.into()))?;
    let offset = tokio::fs::metadata(part_path(state, id)).await.map_err(|_| not_found())?.len();
    Ok((info, offset))
}

/// tus offset: how many bytes the server has.
///
/// Needs role uploader and scope `assets:write`, and to be the upload's
/// uploader or an admin. (A HEAD answer has no body: errors are the status.)
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "uploads", operation_id = "tus_head",
    params(("id" = String, Path, description = "The upload's (and asset's) id."), ("tus-resumable" = String, Header, description = "1.0.0"),),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"])),
    responses(
        (status = 200, description = "The offset and length.", headers(("upload-offset" = u64), ("upload-length" = u64))),
        (status = 401, description = "Not signed in."),
        (status = 403, description = "Not its uploader nor an admin."),
        (status = 404, description = "No such upload in progress."),
        (status = 412, description = "Not Tus-Resumable: 1.0.0."),
    ))]
pub async fn head(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_tus(&headers)?;
    let (info, offset) = load(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    let mut response = tus_headers(StatusCode::OK.into_response());
    response.headers_mut().insert("upload-offset", HeaderValue::from(offset));
    response.headers_mut().insert("upload-length", HeaderValue::from(info.length));
    Ok(response)
}

/// tus: append bytes at Upload-Offset; the last byte queues the transcode.
///
/// Needs role uploader and scope `assets:write`, and to be the upload's
/// uploader or an admin.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads", operation_id = "tus_patch",
    params(("id" = String, Path, description = "The upload's (and asset's) id."), ("tus-resumable" = String, Header, description = "1.0.0"),
        ("upload-offset" = u64, Header, description = "The offset HEAD answered."),
    ),
    request_body(content = inline(String), content_type = "application/offset+octet-stream",
        description = "The bytes from Upload-Offset on."),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 204, description = "Appended.", headers(("upload-offset" = u64, description = "The new offset."))),
        (status = 400, description = "No Upload-Offset, a body past Upload-Length, or a body cut off (what arrived is kept).", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such upload in progress.", body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the server's, or another PATCH is running.", body = ErrorBody),
        (status = 412, description = "Not Tus-Resumable: 1.0.0.", body = ErrorBody),
        (status = 415, description = "Not Content-Type: application/offset+octet-stream.", body = ErrorBody),
    ))]
pub async fn patch(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_tus(&headers)?;
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/offset+octet-stream") {
        return Err(ApiError::UnsupportedMediaType(
            "send Content-Type: application/offset+octet-stream".into(),
        ));
    }
    authz::uploader(&principal)?;
    let _guard = BusyGuard::take(&id).ok_or_else(|| conflict("another PATCH to this upload is running"))?;
    let (info, offset) = load(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    let claimed = header_u64(&headers, "upload-offset")?
        .ok_or_else(|| ApiError::BadRequest("send Upload-Offset: the offset from HEAD".into()))?;
    if claimed != offset {
        return Err(conflict(&format!(
            "Upload-Offset is {claimed} but the server has {offset} bytes; HEAD and resume"
        )));
    }

    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(part_path(&state, &id))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut written = offset;
    let mut stream = body.into_data_stream();
    let mut cut_off = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if written + chunk.len() as u64 > info.length {
                    cut_off = Some(ApiError::BadRequest(format!(
                        "the body goes past Upload-Length ({})",
                        info.length
                    )));
                    break;
                }
                file.write_all(&chunk).await.map_err(|e| ApiError::Internal(e.into()))?;
                written += chunk.len() as u64;
            }
            Err(e) => {
                // A dropped connection: keep what arrived; the client resumes.
                cut_off = Some(ApiError::BadRequest(format!("the upload was cut off: {e}")));
                break;
            }
        }
    }
    file.sync_all().await.map_err(|e| ApiError::Internal(e.into()))?;
    drop(file);
    if let Some(error) = cut_off {
        return Err(error);
    }
    if written == info.length {
        finish(&state, &id).await?;
    }
    let mut response = tus_headers(StatusCode::NO_CONTENT.into_response());
    response.headers_mut().insert("upload-offset", HeaderValue::from(written));
    Ok(response)
}

fn conflict(message: &str) -> ApiError {
    ApiError::Conflict(message.to_owned())
}

/// The whole file is here: it becomes the source and the transcode is queued.
async fn finish(state: &SharedState, id: &str) -> Result<(), ApiError> {
    let _ = tokio::fs::remove_file(info_path(state, id)).await;
    complete_upload(state, id, Arrived::Spooled(&part_path(state, id)), "tus").await?;
    Ok(())
}

/// tus termination: abandon the upload and its asset.
///
/// Needs role uploader and scope `assets:write`, and to be the upload's
/// uploader or an admin.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", operation_id = "tus_terminate",
    params(("id" = String, Path, description = "The upload's (and asset's) id."), ("tus-resumable" = String, Header, description = "1.0.0"),),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 204, description = "Abandoned."),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such upload in progress.", body = ErrorBody),
        (status = 409, description = "A PATCH to it is running.", body = ErrorBody),
        (status = 412, description = "Not Tus-Resumable: 1.0.0.", body = ErrorBody),
    ))]
pub async fn terminate(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_tus(&headers)?;
    authz::uploader(&principal)?;
    let _guard = BusyGuard::take(&id).ok_or_else(|| conflict("a PATCH to this upload is running"))?;
    load(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    let _ = tokio::fs::remove_file(part_path(&state, &id)).await;
    let _ = tokio::fs::remove_file(info_path(&state, &id)).await;
    super::upload::discard_upload(&state, &id).await?;
    state.announce_asset("deleted", &id).await;
    Ok(tus_headers(StatusCode::NO_CONTENT.into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tus_errors_answer_as_the_protocol_says() {
        let mut headers = HeaderMap::new();
        headers.insert("upload-metadata", "private eWVz".parse().expect("header"));
        let message = match asset_from_metadata(&headers) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("private yes must be refused, got {other:?}"),
        };
        assert!(message.contains("true or false"), "{message}");
        headers.insert("tus-resumable", "0.2.2".parse().expect("header"));
        assert!(matches!(require_tus(&headers), Err(ApiError::TusVersion)), "412 with Tus-Version");
    }
}
