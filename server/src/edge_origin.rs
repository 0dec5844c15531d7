//! The origin of the edge mounted in `cdlc serve`: the object store for the
//! bytes and the metadata store for what only it knows, whether an asset is
//! private (signed URLs only) and whether it is still transcoding (its
//! manifests then change every segment and stay fresh one second).

use std::sync::Arc;

use cdlc_edge::origin::{is_manifest, read_object, IMMUTABLE, SHORT};
use cdlc_edge::{Access, Origin, OriginError, OriginObject, OriginResponse};
use cdlc_metadata::{AssetStatus, MetadataStore};
use cdlc_storage::ObjectStore;

use crate::state::keys;

pub struct ServerOrigin {
    pub metadata: Arc<dyn MetadataStore>,
    pub objects: Arc<dyn ObjectStore>,
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
        let key = keys::stream(asset_id, path);
        let (body, last_modified) =
            read_object(&*self.objects, &key, asset_id, path, self.max_object_bytes).await?;
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
