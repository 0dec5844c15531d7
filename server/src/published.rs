//! Which of an asset's viewer-facing objects (master playlist, poster,
//! storyboard) the asset view already found in the object store.
//!
//! The view shows a URL only for what exists, and the object store is the
//! truth. Asking it on every view cost three HEADs per asset: 600 S3
//! requests for one page of 200 assets. An object, once published, stays
//! until its asset's stream is rewritten (a new attempt), removed (a failed
//! job) or deleted, and each of those passes through
//! [`crate::state::AppState::stream_changed`], which forgets the asset here.
//! So the view asks the store only for what it has not yet seen: a ready
//! asset costs no request after its first view.

use quick_cache::sync::Cache;

/// Assets remembered; beyond this the least used are asked again.
const CAPACITY: usize = 100_000;

/// One bit per object in [`OBJECTS`].
pub type Found = u8;

/// The objects the view looks for, each with its bit.
pub const OBJECTS: [(Found, &str); 3] = [
    (1, cdlc_transcoder::layout::HLS_MASTER),
    (2, cdlc_transcoder::layout::POSTER),
    (4, cdlc_transcoder::layout::STORYBOARD_INDEX),
];

pub struct Published(Cache<String, Found>);

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published").field("assets", &self.0.len()).finish()
    }
}

impl Default for Published {
    fn default() -> Self {
        Published(Cache::new(CAPACITY))
    }
}

impl Published {
    /// The objects of `asset` already seen.
    pub fn known(&self, asset: &str) -> Found {
        self.0.get(asset).unwrap_or(0)
    }

    /// Adds `found` to what is known of `asset`.
    pub fn learn(&self, asset: &str, found: Found) {
        let known = self.known(asset);
        if found & !known != 0 {
            self.0.insert(asset.to_owned(), known | found);
        }
    }

    /// Forgets `asset`: its objects are being rewritten or removed.
    pub fn forget(&self, asset: &str) {
        self.0.remove(asset);
    }
}
