//! The origin of the edge mounted in `cdlc serve`: the object store for the
//! bytes and the metadata store for what only it knows, whether an asset is
//! private (signed URLs only) and whether it is still transcoding (its
//! manifests then change every segment and stay fresh one second).
//!
//! It also encrypts, at delivery, the streams of an asset that asked for it
//! (see "Encryption" in docs/architecture.md). HLS: the media playlists
//! gain an `EXT-X-KEY` per segment, each media segment leaves AES-128-CBC
//! encrypted (IV: its number), [`KEY_FILE`] answers the content key. DASH:
//! the MPD gains `ContentProtection` and points at `cenc/{rendition}/…`,
//! the same stored segments encrypted with CENC (`cdlc_packager::cenc`), and
//! [`LICENSE_FILE`] answers the ClearKey licence. The same CENC segments
//! play as HLS from [`CENC_MASTER`] (SAMPLE-AES-CTR, ClearKey). Neither key
//! is ever cached; the edge caches only ciphertext.

use std::sync::Arc;

use bytes::Bytes;
use cdlc_edge::origin::{is_manifest, read_object, IMMUTABLE, SHORT};
use cdlc_edge::{Access, Origin, OriginError, OriginObject, OriginResponse};
use cdlc_metadata::{AssetStatus, MetadataStore};
use cdlc_storage::ObjectStore;

use cdlc_transcoder::layout::{self, INIT_SEGMENT};

use crate::content_keys::ContentKeys;
use crate::key_wrap::ContentKey;
use crate::state::keys;

/// Where an encrypted asset's content key is served, beside its master
/// playlist: `/streams/{id}/~{token}/content.key`.
pub const KEY_FILE: &str = "content.key";
/// The key URI in a media playlist, which sits one folder down.
const KEY_URI: &str = "../content.key";
/// The HLS master playlist of the CENC set, whose media playlists sit one
/// folder further down.
pub const CENC_MASTER: &str = "cenc/master.m3u8";
const CENC_KEY_URI: &str = "../../content.key";
/// Where an encrypted asset's ClearKey licence is served, beside its MPD:
/// `/streams/{id}/~{token}/clearkey.json` (GET: every key; POST with a W3C
/// ClearKey licence request: the keys asked for, see `cdlc_edge::clearkey`).
pub const LICENSE_FILE: &str = cdlc_edge::clearkey::LICENSE_FILE;
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
        if path == KEY_FILE || path == LICENSE_FILE {
            let key = content_key.ok_or_else(|| {
                OriginError::NotFound(format!("asset {asset_id} is not encrypted: it has no key"))
            })?;
            let (body, content_type) = if path == KEY_FILE {
                (Bytes::copy_from_slice(key.bytes()), "application/octet-stream")
            } else {
                (Bytes::from(license(&key)), "application/json")
            };
            return Ok(OriginResponse::Fetched(OriginObject {
                body,
                etag: None,
                last_modified: None,
                content_type: Some(content_type.into()),
                cache_control: Some(KEY_CACHE_CONTROL.into()),
                // An encrypted asset is private: the key only on its signed URLs.
                access: Access::Signed,
            }));
        }
        let cenc_path = path.strip_prefix(cdlc_packager::dash::CENC_DIR);
        if cenc_path.is_some() && content_key.is_none() {
            return Err(OriginError::NotFound(format!(
                "asset {asset_id} is not encrypted: play its segments without the {} prefix",
                cdlc_packager::dash::CENC_DIR
            )));
        }
        let stored = cenc_path.unwrap_or(path);
        let key = keys::stream(asset_id, stored);
        let (mut body, last_modified) =
            read_object(&*self.objects, &key, asset_id, path, self.max_object_bytes).await?;
        if let Some(content_key) = content_key {
            // The rendition's clear init segment says how its samples are laid out.
            let init = match cenc_path.and_then(|p| p.split_once('/')) {
                Some((rendition, file)) if layout::media_segment_number(file).is_some() => {
                    let init_key = keys::stream(asset_id, &layout::init_segment(rendition));
                    Some(
                        read_object(&*self.objects, &init_key, asset_id, path, self.max_object_bytes)
                            .await?
                            .0,
                    )
                }
                _ => None,
            };
            // A segment is megabytes of AES: off the runtime's threads.
            let (path, asset) = (path.to_owned(), asset_id.to_owned());
            body = tokio::task::spawn_blocking(move || encrypted(&content_key, &path, body, init))
                .await
                .map_err(|e| unavailable(&e))?
                .map_err(|e| {
                    tracing::error!(asset_id = %asset, error = %e, "cannot encrypt a stream object");
                    OriginError::Unavailable(e.to_string())
                })?;
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

/// Object `path` of an encrypted asset as viewers get it: HLS media
/// playlists with their keys, media segments AES-128-CBC encrypted; the MPD
/// protected and pointing at `cenc/`. Under `cenc/`, the one CENC set for
/// both protocols: the init and media segments with CENC (`init`: the
/// rendition's clear init segment, for a media segment), and the HLS
/// playlists that name them (`cenc/master.m3u8` as stored, its media
/// playlists with a SAMPLE-AES-CTR ClearKey key). The rest (the stored
/// master, WebVTT, stills) as stored.
fn encrypted(
    key: &ContentKey,
    path: &str,
    body: Bytes,
    init: Option<Bytes>,
) -> Result<Bytes, cdlc_packager::cenc::CencError> {
    use cdlc_packager::{cenc, hls};
    let file = path.rsplit('/').next().unwrap_or(path);
    let text = || String::from_utf8_lossy(&body).into_owned();
    let cenc_key = key.cenc();
    if let Some(stored) = path.strip_prefix(cdlc_packager::dash::CENC_DIR) {
        if path.ends_with(".m3u8") {
            return Ok(Bytes::from(hls::with_cenc_key(&text(), &cenc_key.kid, CENC_KEY_URI)));
        }
        let rendition = stored.split('/').next().unwrap_or_default();
        return match (init, layout::media_segment_number(file)) {
            (Some(init), Some(number)) => {
                let (_, tracks) = cenc::protect_init(&init, &cenc_key.kid)?;
                let place = cenc::SegmentPlace { rendition, number };
                Ok(Bytes::from(cenc::encrypt_segment(&body, &tracks, &cenc_key, &place)?))
            }
            _ if file == INIT_SEGMENT => Ok(Bytes::from(cenc::protect_init(&body, &cenc_key.kid)?.0)),
            // WebVTT and the rest stay clear under cenc/ too.
            _ => Ok(body),
        };
    }
    if path.ends_with(".m3u8") {
        return Ok(Bytes::from(hls::with_aes128_keys(&text(), KEY_URI)));
    }
    if path == layout::DASH_MANIFEST {
        return Ok(Bytes::from(cdlc_packager::dash::with_cenc(&text(), &cenc_key.kid, LICENSE_FILE)));
    }
    Ok(match layout::media_segment_number(file) {
        Some(number) => Bytes::from(key.encrypt_segment(u64::from(number), &body)),
        None => body,
    })
}

/// The W3C ClearKey licence of `key` (its JSON Web Key Set, base64url
/// without padding), which the edge narrows to the key ids a player asks for.
fn license(key: &ContentKey) -> Vec<u8> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let cenc = key.cenc();
    let set = serde_json::json!({
        "keys": [{ "kty": "oct", "kid": URL_SAFE_NO_PAD.encode(cenc.kid), "k": URL_SAFE_NO_PAD.encode(cenc.key) }],
        "type": "temporary",
    });
    set.to_string().into_bytes()
}
