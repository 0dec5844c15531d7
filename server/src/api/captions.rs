//! `/api/v1/assets/{id}/captions`: an asset's subtitles and captions.
//! A sidecar (SRT or WebVTT) is checked, stored as WebVTT with the asset's
//! source, and — once the asset is ready — published into its stream and
//! manifests at once, without transcoding again (see `crate::captions`).

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use cdlc_captions::{Kind, TrackInfo, MAX_FILE_BYTES};
use cdlc_plugin_api::Principal;

use super::{authz, ApiError, SharedState};
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

/// `GET …/captions`: the asset's text tracks.
pub async fn list(State(state): State<SharedState>, Path(id): Path<String>) -> Result<Json<Vec<TrackInfo>>, ApiError> {
    existing(&state, &id).await?;
    Ok(Json(captions::tracks(&state, &id).await?))
}

/// `POST …/captions`, multipart: `file` (SRT or WebVTT, UTF-8, at most
/// 4 MiB), `language` (BCP 47), `label` (what the menu shows; the language
/// when absent) and `kind` (`subtitles`, `captions` or `forced`). A track of
/// the same language and kind is replaced (200), else added (201).
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
            String::from_utf8(bytes.clone()).map_err(|_| ApiError::BadRequest(format!("the field {name} is not UTF-8")))
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

/// `DELETE …/captions/{track}`: removes the track from the asset and its manifests.
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
