//! Posters, backdrops and photos: uploaded as the request body (a JPEG or
//! PNG, checked by its first bytes, at most `max_image_bytes`), kept in the
//! plugin's objects, served back with an ETag and Cache-Control. Each
//! upload also gets a thumbnail, a JPEG [`THUMB_WIDTH`] pixels wide made by
//! the host (`ctx.images()`), served with `?size=thumb`, so that rows of
//! posters do not download the full images. A host that makes no
//! thumbnails serves the full image there.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::body::{to_bytes, Body};
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use cdlc_plugin_api::axum::response::{IntoResponse, Response};
use cdlc_plugin_api::utoipa;
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, ImagesError, Principal, Sql};
use serde::Deserialize;

use super::{check_id, require_write, Query};
use crate::model::now_ms;
use crate::Shared;

type Shared_ = std::sync::Arc<Shared>;

/// Width of a thumbnail, in pixels (a poster in a row of cards).
pub const THUMB_WIDTH: u32 = 185;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new()
        .routes(routes!(get_poster, put_poster, delete_poster))
        .routes(routes!(get_backdrop, put_backdrop, delete_backdrop))
        .routes(routes!(get_photo, put_photo, delete_photo))
}

#[derive(Clone, Copy)]
enum Slot {
    Poster,
    Backdrop,
    Photo,
}

impl Slot {
    /// Table, key column, object key prefix, what to call the owner.
    fn parts(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Slot::Poster => ("titles", "poster_key", "posters", "title"),
            Slot::Backdrop => ("titles", "backdrop_key", "backdrops", "title"),
            Slot::Photo => ("people", "photo_key", "photos", "person"),
        }
    }
}

/// Where the thumbnail of the image at `key` is kept (`posters/tt1.png` →
/// `posters/tt1.thumb.jpg`): one per owner and slot, whatever the upload's type.
pub(super) fn thumb_of(key: &str) -> String {
    let stem = key.rsplit_once('.').map_or(key, |(stem, _)| stem);
    format!("{stem}.thumb.jpg")
}

/// `size`: `full` (the default) or `thumb`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImageQuery {
    /// `thumb` for a JPEG 185 pixels wide (the full image when no thumbnail could be made), `full` for the upload.
    size: Option<String>,
}

impl ImageQuery {
    fn thumb(&self) -> Result<bool, ApiError> {
        match self.size.as_deref() {
            None | Some("full") => Ok(false),
            Some("thumb") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "size {:?} must be thumb or full",
                crate::model::clip(other, 20)
            ))),
        }
    }
}

/// The image type by its first bytes.
pub(crate) fn sniff(data: &[u8]) -> Option<(&'static str, &'static str)> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if data.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("png", "image/png"))
    } else {
        None
    }
}

async fn current_key(shared: &Shared, slot: Slot, id: &str) -> Result<Option<Option<String>>, ApiError> {
    let (table, column, _, _) = slot.parts();
    let rows = shared
        .ctx
        .db()
        .query(&format!("SELECT {column} AS k FROM {table} WHERE id = ?"), params![id])
        .await?;
    Ok(rows.first().map(|r| r.get::<Option<String>>("k")).transpose()?)
}

fn missing(slot: Slot, id: &str) -> ApiError {
    ApiError::not_found(format!("there is no {} {id:?}", slot.parts().3))
}

async fn put(
    shared: &Shared,
    principal: &Principal,
    slot: Slot,
    id: &str,
    body: Body,
) -> Result<StatusCode, ApiError> {
    require_write(principal)?;
    check_id(id, slot.parts().3)?;
    let old = current_key(shared, slot, id).await?.ok_or_else(|| missing(slot, id))?;
    let max = shared.settings.max_image_bytes;
    let data = to_bytes(body, max).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the image must be at most {max} bytes"),
        )
    })?;
    let (ext, _) = sniff(&data).ok_or_else(|| {
        ApiError::bad_request("send a JPEG or PNG image as the body (its first bytes say it is neither)")
    })?;
    // The thumbnail first: an image GStreamer cannot decode is refused before anything is stored.
    let thumb = match shared.ctx.images().thumbnail(data.clone(), THUMB_WIDTH).await {
        Ok(thumb) => Some(thumb),
        Err(ImagesError::Unreadable(why)) => {
            return Err(ApiError::bad_request(format!(
                "the image cannot be read ({why}): send an undamaged JPEG or PNG"
            )))
        }
        Err(ImagesError::Unavailable(why)) => {
            tracing::debug!(plugin = crate::NAME, %why, "no thumbnail");
            None
        }
    };
    let (table, column, prefix, _) = slot.parts();
    let key = format!("{prefix}/{id}.{ext}");
    shared.ctx.objects().put(&key, data).await.map_err(ApiError::internal)?;
    match thumb {
        Some(thumb) => shared.ctx.objects().put(&thumb_of(&key), thumb).await.map(|_| ()),
        None => shared.ctx.objects().delete(&thumb_of(&key)).await.map(|_| ()),
    }
    .map_err(ApiError::internal)?;
    shared
        .ctx
        .db()
        .execute(
            &format!("UPDATE {table} SET {column} = ?, updated_at = ? WHERE id = ?"),
            params![&key, now_ms(), id],
        )
        .await?;
    if let Some(old) = old.filter(|old| *old != key) {
        let _ = shared.ctx.objects().delete(&old).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn get(
    shared: &Shared,
    slot: Slot,
    id: &str,
    query: &ImageQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    check_id(id, slot.parts().3)?;
    let thumb = query.thumb()?;
    let full = current_key(shared, slot, id)
        .await?
        .ok_or_else(|| missing(slot, id))?
        .ok_or_else(|| ApiError::not_found(format!("the {} {id} has no image here", slot.parts().3)))?;
    let objects = shared.ctx.objects();
    let thumb_info = match thumb {
        true => objects.head(&thumb_of(&full)).await.map_err(ApiError::internal)?,
        false => None,
    };
    let (key, info) = match thumb_info {
        Some(info) => (thumb_of(&full), info),
        None => {
            let info = objects
                .head(&full)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found("the image is gone"))?;
            (full, info)
        }
    };
    let etag = format!("\"{}\"", info.etag.trim_matches('"'));
    let mut response_headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response_headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300, must-revalidate"));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let data = objects
        .get(&key)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("the image is gone"))?;
    let content_type = sniff(&data).map_or("application/octet-stream", |(_, t)| t);
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok((StatusCode::OK, response_headers, data).into_response())
}

async fn delete(
    shared: &Shared,
    principal: &Principal,
    slot: Slot,
    id: &str,
) -> Result<StatusCode, ApiError> {
    require_write(principal)?;
    check_id(id, slot.parts().3)?;
    let key = current_key(shared, slot, id).await?.ok_or_else(|| missing(slot, id))?;
    let Some(key) = key else { return Err(ApiError::not_found("there is no image to delete")) };
    let (table, column, _, _) = slot.parts();
    shared
        .ctx
        .db()
        .execute(
            &format!("UPDATE {table} SET {column} = NULL, updated_at = ? WHERE id = ?"),
            params![now_ms(), id],
        )
        .await?;
    shared.ctx.objects().delete(&key).await.map_err(ApiError::internal)?;
    shared.ctx.objects().delete(&thumb_of(&key)).await.map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! image_routes {
    ($slot:expr, $path:literal, $what:literal, $get:ident, $put:ident, $delete:ident) => {
        #[doc = concat!("The ", $what, " (JPEG or PNG), or its thumbnail with `?size=thumb`, with an ETag; If-None-Match answers 304.")]
        #[utoipa::path(get, path = $path, summary = "The image (JPEG or PNG) or its thumbnail, with an ETag", params(("id" = String, Path), ImageQuery), responses(
            (status = 200, description = "the image", content_type = "image/jpeg"),
            (status = 304, description = "not modified"),
            (status = 400, description = "a size other than thumb or full", body = ApiError),
            (status = 404, description = "no such title or person, or no image", body = ApiError),
        ))]
        async fn $get(State(shared): State<Shared_>, Path(id): Path<String>, Query(query): Query<ImageQuery>, headers: HeaderMap) -> Result<Response, ApiError> {
            get(&shared, $slot, &id, &query, &headers).await
        }

        #[doc = concat!("Uploads the ", $what, " as the body, a JPEG or PNG (admin, `catalog:write`).")]
        #[utoipa::path(put, path = $path, summary = "Upload the image as the body, a JPEG or PNG (admin, catalog:write)", params(("id" = String, Path)), request_body(content = Vec<u8>, content_type = "image/jpeg"), responses(
            (status = 204, description = "stored"),
            (status = 400, description = "the body is not a JPEG or PNG, or cannot be decoded", body = ApiError),
            (status = 413, description = "the image is too large", body = ApiError),
        ))]
        async fn $put(State(shared): State<Shared_>, principal: Principal, Path(id): Path<String>, body: Body) -> Result<StatusCode, ApiError> {
            put(&shared, &principal, $slot, &id, body).await
        }

        #[doc = concat!("Removes the ", $what, " (admin, `catalog:write`).")]
        #[utoipa::path(delete, path = $path, summary = "Remove the image (admin, catalog:write)", params(("id" = String, Path)), responses(
            (status = 204, description = "removed"),
            (status = 404, description = "there is no image", body = ApiError),
        ))]
        async fn $delete(State(shared): State<Shared_>, principal: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
            delete(&shared, &principal, $slot, &id).await
        }
    };
}

image_routes!(Slot::Poster, "/titles/{id}/poster", "poster", get_poster, put_poster, delete_poster);
image_routes!(
    Slot::Backdrop,
    "/titles/{id}/backdrop",
    "backdrop",
    get_backdrop,
    put_backdrop,
    delete_backdrop
);
image_routes!(Slot::Photo, "/people/{id}/photo", "photo", get_photo, put_photo, delete_photo);
