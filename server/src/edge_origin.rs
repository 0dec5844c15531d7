//! The origin of the edge mounted in `cdlc serve`: the object store for the
//! bytes and the metadata store for what only it knows, whether an asset is
//! private (signed URLs only) and whether it is still transcoding (its
//! manifests then change every segment and stay fresh one second).
//!
//! It also encrypts, at delivery, the HLS of an asset that asked for it (see
//! "Encryption" in docs/architecture.md): the media playlists gain an
//! `EXT-X-KEY` per segment, each media segment leaves AES-128-CBC encrypted
//! (IV: its number), [`KEY_FILE`] answers the content key, never cached, and
//! the DASH manifest is refused. The edge then caches only ciphertext.

use std::sync::Arc;

use bytes::Bytes;
use cdlc_edge::origin::{is_manifest, read_object, IMMUTABLE, SHORT};
use cdlc_edge::{Access, Origin, OriginError, OriginObject, OriginResponse};
use cdlc_metadata::{AssetStatus, MetadataStore};
use cdlc_storage::ObjectStore;

use crate::content_keys::ContentKeys;
use crate::state::keys;

/// Where an encrypted asset's content key is served, beside its master
/// playlist: `/streams/{id}/~{token}/content.key`.
pub const KEY_FILE: &str = "content.key";
/// The key URI in a media playlist, which sits one folder down.
const KEY_URI: &str = "../content.key";
/// The key may be kept by nobody: not the edge, not a shared cache.
const KEY_CACHE_CONTROL: &str = "private, no-store";

pub struct ServerOrigin {
    pub metadata: Arc<dyn MetadataStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub content_keys: Arc<ContentKeys>,
    /// Objects above this answer 502 at the edge (the edge's own limit).
    pub max_object_bytes: u64,
}

#[async_trait::async_trait]
impl Origin for ServerOrigin {
    async fn fetch(
        &self,
        asset_id: &str,
        path: &str,
        _: Option<&str>,
    ) -> Result<OriginResponse, OriginError> {
        let unavailable = |e: &dyn std::fmt::Display| OriginError::Unavailable(e.to_string());
        let asset = self
            .metadata
            .get_asset(asset_id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(|| OriginError::NotFound(format!("no asset with id {asset_id}")))?;
        let content_key = self.content_keys.of(&asset).await.map_err(|e| {
            tracing::error!(asset_id, error = %e, "cannot read the content key");
            unavailable(&e)
        })?;
        if path == KEY_FILE {
            let key = content_key.ok_or_else(|| {
                OriginError::NotFound(format!("asset {asset_id} is not encrypted: it has no key"))
            })?;
            return Ok(OriginResponse::Fetched(OriginObject {
                body: Bytes::copy_from_slice(key.bytes()),
                etag: None,
                last_modified: None,
                content_type: Some("application/octet-stream".into()),
                cache_control: Some(KEY_CACHE_CONTROL.into()),
                // An encrypted asset is private: the key only on its signed URLs.
                access: Access::Signed,
            }));
        }
        if content_key.is_some() && path.ends_with(".mpd") {
            return Err(OriginError::NotFound(format!(
                "asset {asset_id} is encrypted with HLS AES-128 and has no DASH manifest: play its HLS master \
                 playlist (master.m3u8)"
            )));
        }
        let key = keys::stream(asset_id, path);
        let (mut body, last_modified) =
            read_object(&*self.objects, &key, asset_id, path, self.max_object_bytes).await?;
        if let Some(content_key) = content_key {
            // A segment is megabytes of AES: off the runtime's threads.
            let path = path.to_owned();
            body = tokio::task::spawn_blocking(move || encrypted(&content_key, &path, body))
                .await
                .map_err(|e| unavailable(&e))?;
        }
        let final_object = !is_manifest(path) || asset.status == AssetStatus::Ready;
        Ok(OriginResponse::Fetched(OriginObject {
            body,
            // A manifest may be rewritten between head and get: the edge
            // derives the ETag from the body it got.
            etag: None,
            last_modified,
            content_type: None,
            cache_control: Some(if final_object { IMMUTABLE } else { SHORT }.to_owned()),
            access: if asset.private { Access::Signed } else { Access::Public },
        }))
    }

    fn describe(&self) -> String {
        "the object store of this server".into()
    }
}

/// Object `path` of an encrypted asset as viewers get it: media playlists
/// with their keys, media segments encrypted; the rest (master playlist,
/// init segments, WebVTT, stills) as stored.
fn encrypted(key: &crate::key_wrap::ContentKey, path: &str, body: Bytes) -> Bytes {
    let file = path.rsplit('/').next().unwrap_or(path);
    if path.ends_with(".m3u8") {
        let text = String::from_utf8_lossy(&body);
        return Bytes::from(cdlc_packager::hls::with_aes128_keys(&text, KEY_URI));
    }
    match cdlc_transcoder::layout::media_segment_number(file) {
        Some(number) => Bytes::from(key.encrypt_segment(u64::from(number), &body)),
        None => body,
    }
}
