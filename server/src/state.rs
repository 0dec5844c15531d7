//! What every request handler and worker shares.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cdlc_metadata::{MetadataStore, SqliteStore};
use cdlc_queue::{JobQueue, MetadataQueue};
use cdlc_storage::{LocalStore, ObjectStore, S3Store};

use crate::config::{Config, ObjectStoreSetting};

/// Object keys of an asset.
pub mod keys {
    pub fn source(asset: &str) -> String {
        format!("sources/{asset}/original")
    }

    pub fn stream_prefix(asset: &str) -> String {
        format!("streams/{asset}/")
    }

    pub fn stream(asset: &str, relative: &str) -> String {
        format!("streams/{asset}/{relative}")
    }
}

pub struct AppState {
    pub config: Config,
    pub metadata: Arc<dyn MetadataStore>,
    pub objects: Arc<dyn ObjectStore>,
    /// The same store when it is S3: direct-to-bucket uploads presign
    /// against it. `None` with local objects.
    pub bucket: Option<Arc<S3Store>>,
    /// Where uploads queue their transcode (the metadata store unless
    /// `serve` swaps in NATS).
    pub queue: Arc<dyn JobQueue>,
    pub admin_token: String,
    /// Where uploads are spooled before they become objects.
    pub spool_dir: PathBuf,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the metadata database under the data directory and the
    /// object store `objects` names (checking that an S3 bucket answers).
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let data = &config.data_dir;
        std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
        let metadata =
            SqliteStore::open(&data.join("cdlc.db")).context("cannot open the metadata database")?;
        let (objects, bucket) = open_objects(&config).await?;
        let spool_dir = data.join("spool");
        std::fs::create_dir_all(&spool_dir)
            .with_context(|| format!("cannot create {}", spool_dir.display()))?;
        let admin_token = match &config.admin_token {
            Some(token) => token.clone(),
            None => stored_or_new_token(&data.join("admin-token"))?,
        };
        let metadata: Arc<dyn MetadataStore> = Arc::new(metadata);
        let queue = Arc::new(MetadataQueue::new(metadata.clone(), config.max_attempts, crate::worker::LEASE));
        Ok(AppState { config, queue, metadata, objects, bucket, admin_token, spool_dir })
    }
}

/// The object store `objects` names, and the same store as S3 when it is
/// one (checking that the bucket answers).
pub async fn open_objects(config: &Config) -> anyhow::Result<(Arc<dyn ObjectStore>, Option<Arc<S3Store>>)> {
    Ok(match config.object_store()? {
        ObjectStoreSetting::Local(root) => {
            (Arc::new(LocalStore::open(root).context("cannot open the object store")?), None)
        }
        ObjectStoreSetting::S3(s3) => {
            let store = Arc::new(S3Store::connect(s3).await.context("cannot use the S3 object store")?);
            (store.clone(), Some(store))
        }
    })
}

/// The token kept in `path`, or a new random one written there (mode 600).
fn stored_or_new_token(path: &std::path::Path) -> anyhow::Result<String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        let token = token.trim().to_owned();
        if token.len() >= 16 {
            return Ok(token);
        }
    }
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    std::fs::write(path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    eprintln!("generated an admin token (kept in {}): {token}", path.display());
    Ok(token)
}
