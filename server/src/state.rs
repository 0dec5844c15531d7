//! What every request handler and worker shares.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cdlc_metadata::MetadataStore;
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

    /// What the last finished transcode wrote (its `TranscodeOutput` as
    /// JSON), so the manifests can be written again without it.
    pub fn package(asset: &str) -> String {
        format!("sources/{asset}/package.json")
    }

    /// The asset's text tracks (`Vec<TrackInfo>` as JSON).
    pub fn captions(asset: &str) -> String {
        format!("sources/{asset}/captions.json")
    }

    /// The text tracks the last transcode extracted from the source
    /// (`Vec<TrackInfo>` as JSON): written only by the worker, once per attempt.
    pub fn source_captions(asset: &str) -> String {
        format!("sources/{asset}/source-captions.json")
    }

    /// One text track's cues, as checked WebVTT.
    pub fn caption(asset: &str, track: &str) -> String {
        format!("sources/{asset}/captions/{track}.vtt")
    }
}

/// The state every handler, worker and report applier shares.
pub type SharedState = Arc<AppState>;

pub struct AppState {
    pub config: Config,
    pub metadata: Arc<dyn MetadataStore>,
    pub objects: Arc<dyn ObjectStore>,
    /// The same store when it is S3: direct-to-bucket uploads presign
    /// against it. `None` with local objects.
    pub bucket: Option<Arc<S3Store>>,
    /// Where uploads queue their transcode: NATS when `queue` names it,
    /// else the metadata store.
    pub queue: Arc<dyn JobQueue>,
    /// Where uploads are spooled before they become objects.
    pub spool_dir: PathBuf,
    /// The cache in front of `/streams`, with this server as its origin.
    pub edge: Arc<cdlc_edge::Edge>,
    /// What the asset view has seen of each asset's stream objects.
    pub published: crate::published::Published,
    /// The content keys of encrypted assets.
    pub content_keys: Arc<crate::content_keys::ContentKeys>,
    /// The transcodes running in this process, so a delete stops them.
    pub running: Arc<crate::running::RunningJobs>,
    /// Users, sessions, API keys; the root credential is `admin_token`.
    pub accounts: cdlc_accounts::Accounts,
    /// Who uploaded each asset.
    pub owners: crate::owners::Owners,
    /// The started plugins.
    pub plugins: Arc<cdlc_plugin_api::host::PluginHost>,
    /// Events between plugins, and the host's `assets.*` events to them.
    pub bus: Arc<dyn cdlc_plugin_api::EventBus>,
    /// Where ready and errored assets are announced; `None` without `webhook_url`.
    pub webhooks: Option<crate::webhooks::Webhooks>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// An asset's stream objects are being rewritten or removed: the edge
    /// and the asset view forget what they knew of them.
    pub fn stream_changed(&self, asset_id: &str) {
        self.edge.purge_asset(asset_id);
        self.published.forget(asset_id);
    }

    /// Tells the plugins that an asset became ready, errored or was deleted:
    /// publishes `assets.{event}` with `{"asset_id"}` on the bus.
    pub async fn announce_asset(&self, event: &str, asset_id: &str) {
        self.announce("assets", event, serde_json::json!({ "asset_id": asset_id })).await;
    }

    /// Publishes a host event `{publisher}.{event}` (`assets.uploaded`,
    /// `assets.transcoded`, `edge.counts`…) with its payload on the bus. A
    /// bus failure is logged: what the event tells is already recorded.
    pub async fn announce(&self, publisher: &str, event: &str, payload: serde_json::Value) {
        let announced = cdlc_plugin_api::Event::now(format!("{publisher}.{event}"), "host", payload);
        if let Err(error) = self.bus.publish(announced).await {
            tracing::warn!(publisher, event, %error, "cannot tell the plugins of a host event");
        }
    }

    /// Opens the metadata store `metadata` names (SQLite in the data
    /// directory by default) and the object store `objects` names (checking
    /// that an S3 bucket answers). Jobs go to `nats` when given (`queue =
    /// nats://…`), else to the metadata store.
    pub async fn open(config: Config, nats: Option<cdlc_queue::NatsQueue>) -> anyhow::Result<AppState> {
        let data = &config.data_dir;
        std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
        let metadata = cdlc_metadata::open(&config.metadata_url())
            .await
            .context("cannot open the metadata store (setting metadata, CDLC_METADATA)")?;
        let (objects, bucket) = open_objects(&config).await?;
        let spool_dir = data.join("spool");
        std::fs::create_dir_all(&spool_dir)
            .with_context(|| format!("cannot create {}", spool_dir.display()))?;
        let admin_token = match &config.admin_token {
            Some(token) => token.clone(),
            None => stored_or_new_secret(&data.join("admin-token"), "", "admin token", new_token, true)?,
        };
        let signing_keys = match &config.signing_keys {
            Some(keys) => keys.clone(),
            None => stored_or_new_secret(&data.join("signing-keys"), "k1:", "signing key", new_token, false)?,
        };
        let signing_keys =
            cdlc_edge::SigningKeys::parse(&signing_keys).context("signing_keys is not valid")?;
        let master_key = match &config.encryption_master_key {
            Some(key) => key.clone(),
            None => {
                let path = data.join("encryption-master-key");
                let new_key = || crate::key_wrap::MasterKey::generate_hex().unwrap_or_default();
                stored_or_new_secret(&path, "", "new encryption master key", new_key, false)?
            }
        };
        let masters =
            crate::key_wrap::MasterKeys::parse(&master_key, &config.encryption_previous_master_keys)
                .context(
                    "the encryption master key (encryption_master_key or DATA_DIR/encryption-master-key)",
                )?;
        let content_keys = Arc::new(crate::content_keys::ContentKeys::new(masters, objects.clone()));
        let settings = config.edge_settings(Some(signing_keys), Some(admin_token.clone()));
        let origin = crate::edge_origin::ServerOrigin {
            metadata: metadata.clone(),
            objects: objects.clone(),
            content_keys: content_keys.clone(),
            max_object_bytes: settings.max_object_bytes,
        };
        let edge =
            cdlc_edge::Edge::new(settings, Arc::new(origin)).context("the edge settings are not valid")?;
        // With a NATS queue, the plugins' events go over the same NATS, so
        // the servers sharing it share them.
        let (queue, bus): (Arc<dyn JobQueue>, Arc<dyn cdlc_plugin_api::EventBus>) = match nats {
            Some(nats) => {
                let bus = Arc::new(crate::bus::NatsBus::new(nats.client()));
                (Arc::new(nats), bus)
            }
            None => (
                Arc::new(MetadataQueue::new(metadata.clone(), config.max_attempts, crate::config::LEASE)),
                Arc::new(cdlc_plugin_api::InProcessBus::new()),
            ),
        };
        let published = crate::published::Published::default();
        let running = Arc::default();
        let (accounts, owners, plugins) =
            open_accounts_and_plugins(&config, &admin_token, &metadata, &objects, &bus, &edge, &queue)
                .await?;
        let webhooks = crate::webhooks::Webhooks::from_config(&config).context("cannot set up webhooks")?;
        Ok(AppState {
            config,
            queue,
            metadata,
            objects,
            bucket,
            spool_dir,
            edge,
            published,
            content_keys,
            running,
            accounts,
            owners,
            plugins,
            bus,
            webhooks,
        })
    }
}

/// Opens the stores directory, starts the plugins (their stores, migrations,
/// routes, events), then accounts with `admin_token` as the root credential
/// and a hook that tells the host and every plugin of a deleted user.
async fn open_accounts_and_plugins(
    config: &Config,
    admin_token: &str,
    metadata: &Arc<dyn MetadataStore>,
    objects: &Arc<dyn ObjectStore>,
    bus: &Arc<dyn cdlc_plugin_api::EventBus>,
    edge: &Arc<cdlc_edge::Edge>,
    queue: &Arc<dyn JobQueue>,
) -> anyhow::Result<(cdlc_accounts::Accounts, crate::owners::Owners, Arc<cdlc_plugin_api::host::PluginHost>)>
{
    use cdlc_plugin_api::host::{HostServices, PluginHost};
    let stores = cdlc_plugin_store::Stores::open(&config.stores_url())
        .context("cannot open the stores of accounts and plugins (setting stores, CDLC_STORES)")?;
    let assets = crate::plugin_assets::HostAssets {
        metadata: metadata.clone(),
        edge: edge.clone(),
        max_signed: std::time::Duration::from_secs(config.signed_url_seconds),
    };
    let services = HostServices {
        stores: stores.clone(),
        bus: bus.clone(),
        assets: Arc::new(assets),
        objects: objects.clone(),
        images: Arc::new(crate::plugin_images::HostImages::new()),
        data_dir: Some(config.data_dir.join("plugins")),
        jobs: Some(Arc::new(crate::plugin_jobs::QueueJobs { queue: queue.clone() })),
    };
    let plugins = PluginHost::start(
        crate::plugins::built_in(),
        &crate::plugins::with_defaults(&config.plugins),
        services,
    )
    .await
    .context("the plugins cannot start")?;
    let plugins = Arc::new(plugins);
    let owners = crate::owners::Owners::open(stores.db("assets").await?)
        .await
        .context("cannot open the asset owners' store")?;
    let hook = crate::plugins::DeletedUsers { plugins: plugins.clone(), owners: owners.clone() };
    let accounts = cdlc_accounts::Accounts::open(
        stores.db("accounts").await.context("cannot open the accounts store")?,
        config.accounts.accounts_config(admin_token.to_owned()),
        Some(Arc::new(hook)),
    )
    .await
    .context("cannot open accounts")?;
    Ok((accounts, owners, plugins))
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

/// 64 random hex digits.
fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The secret kept in `path`, or a new one (`prefix` then `generate()`)
/// written there (mode 600); a new one is printed only when `print`.
fn stored_or_new_secret(
    path: &std::path::Path,
    prefix: &str,
    what: &str,
    generate: impl FnOnce() -> String,
    print: bool,
) -> anyhow::Result<String> {
    if let Ok(token) = std::fs::read_to_string(path) {
        let token = token.trim().to_owned();
        if token.len() >= 16 + prefix.len() {
            return Ok(token);
        }
    }
    let token = format!("{prefix}{}", generate());
    std::fs::write(path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    if print {
        eprintln!("generated an {what} (kept in {}): {token}", path.display());
    } else {
        // A key is never printed.
        eprintln!("generated a {what} (kept in {})", path.display());
    }
    Ok(token)
}
