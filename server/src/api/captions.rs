//! `/api/v1/assets/{id}/captions`: an asset's subtitles and captions.
//! A sidecar (SRT or WebVTT) is checked, stored as WebVTT with the asset's
//! source, and — once the asset is ready — published into its stream and
//! manifests at once, without transcoding again (see `crate::captions`).

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use cdlc_captions::{Kind, TrackInfo, MAX_FILE_BYTES};
use cdlc_plugin_api::Principal;

use utoipa::ToSchema;

use super::{authz, ApiError, ErrorBody, SharedState};
use crate::captions::{self, CaptionsError};

impl From<CaptionsError> for ApiError {
    fn from(error: CaptionsError) -> ApiError {
        match error {
            CaptionsError::TooMany => ApiError::Conflict(error.to_string()),
            other => ApiError::Internal(other.into()),
        }
    }
}

async fn existing(state: &SharedState, id: &str) -> Result<(), ApiError> {
    if state.metadata.get_asset(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no asset with id {id}")));
    }
    Ok(())
}

/// The asset's text tracks (subtitles, captions, forced), in the order added.
#[utoipa::path(get, path = "/api/v1/assets/{id}/captions", tag = "assets", operation_id = "list_captions",
    params(("id" = String, Path, description = "The asset's id.")),
    responses(
        (status = 200, description = "The text tracks.", body = Vec<TrackInfo>),
        (status = 404, description = "No such asset.", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<TrackInfo>>, ApiError> {
    existing(&state, &id).await?;
    Ok(Json(captions::tracks(&state, &id).await?))
}

/// The form of a text track.
#[derive(ToSchema)]
#[allow(dead_code)] // Read field by field in `add`; here for the schema.
struct CaptionForm {
    /// SRT or WebVTT, UTF-8, at most 4 MiB.
    #[schema(value_type = String, content_media_type = "text/vtt")]
    file: Vec<u8>,
    /// A BCP 47 tag: `en`, `fr`, `pt-BR`.
    language: String,
    /// What the player's menu shows; the language when absent.
    label: Option<String>,
    /// `subtitles` (the default), `captions` or `forced`.
    kind: Option<String>,
}

/// Add a text track, or replace the one of the same language and kind; a
/// ready asset's manifests name it at once, without transcoding again.
#[utoipa::path(post, path = "/api/v1/assets/{id}/captions", tag = "assets", operation_id = "add_caption",
    params(("id" = String, Path, description = "The asset's id.")),
    request_body(content = CaptionForm, content_type = "multipart/form-data"),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 201, description = "Added.", body = TrackInfo),
        (status = 200, description = "Replaced the track of the same language and kind.", body = TrackInfo),
        (status = 400, description = "Not SRT or WebVTT, not UTF-8, a bad cue time, over 4 MiB, or a bad language or label.", body = ErrorBody),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, a key without `assets:write`, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such asset.", body = ErrorBody),
        (status = 409, description = "The asset already has 32 text tracks.", body = ErrorBody),
    ))]
pub async fn add(
    principal: Principal,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<TrackInfo>), ApiError> {
    authz::uploader(&principal)?;
    existing(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    let (mut file, mut language, mut label, mut kind) = (None::<Vec<u8>>, None, None, Kind::Subtitles);
    let malformed = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("the multipart body is malformed: {e}"))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        // Every field is read within a bound: the file's, or 1 KiB for a setting.
        let limit = if name == "file" { MAX_FILE_BYTES } else { 1024 };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::BadRequest(match name.as_str() {
                    "file" => "the captions file is larger than 4 MiB".to_owned(),
                    other => format!("the field {other} is longer than 1 KiB"),
                }));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || {
            String::from_utf8(bytes.clone())
                .map_err(|_| ApiError::BadRequest(format!("the field {name} is not UTF-8")))
        };
        match name.as_str() {
            "file" => file = Some(bytes),
            "language" => language = Some(text()?),
            "label" => label = Some(text()?),
            "kind" => kind = Kind::parse(text()?.trim()).map_err(ApiError::BadRequest)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown field {other:?}: send file, language, label and kind"
                )))
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::BadRequest("send the captions file in the field file".into()))?;
    let language = language.ok_or_else(|| ApiError::BadRequest("send the field language, e.g. en".into()))?;
    let (_, cues) = cdlc_captions::parse(&file).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let label = label.unwrap_or_else(|| language.clone());
    let track = TrackInfo::new(&language, &label, kind, cues.len()).map_err(ApiError::BadRequest)?;
    let replaced = captions::put(&state, &id, track.clone(), &cues).await?;
    tracing::info!(asset_id = %id, track = %track.id, cues = cues.len(), replaced, "text track stored");
    Ok((if replaced { StatusCode::OK } else { StatusCode::CREATED }, Json(track)))
}

/// Remove a text track from the asset and its manifests.
#[utoipa::path(delete, path = "/api/v1/assets/{id}/captions/{track}", tag = "assets", operation_id = "delete_caption",
    params(
        ("id" = String, Path, description = "The asset's id."),
        ("track" = String, Path, description = "The track's id: `en`, `en-cc`, `en-forced`, or `src0-en` for one from the source."),
    ),
    security(("bearer" = ["uploader", "assets:write"]), ("session_cookie" = ["uploader"], "csrf" = [])),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "Not signed in.", body = ErrorBody),
        (status = 403, description = "Not its uploader nor an admin, a key without `assets:write`, or a cookie write without the CSRF header.", body = ErrorBody),
        (status = 404, description = "No such asset or track.", body = ErrorBody),
    ))]
pub async fn remove(
    principal: Principal,
    State(state): State<SharedState>,
    Path((id, track)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authz::uploader(&principal)?;
    existing(&state, &id).await?;
    authz::may_change(&state, &principal, &id).await?;
    if captions::remove(&state, &id, &track).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("the asset {id} has no text track {track}")))
    }
}
