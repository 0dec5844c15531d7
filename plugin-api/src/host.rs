//! The host's side of the plugin API: starting the enabled plugins, mounting
//! their routes, feeding their events and calling their hooks. The server
//! uses this; plugins never do.

use std::sync::Arc;

use axum::Router;
use cdlc_plugin_store::Stores;
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::assets::{AssetInfo, Assets, AssetsError, Playback};
use crate::events::EventBus;
use crate::images::{Images, ImagesError};
use crate::objects::{check_key, ObjectInfo, Objects, ObjectsError, MAX_OBJECT_KEY};
use crate::plugin::{DeletedUser, Health, Plugin, PluginContext, PluginError, WebBundle};

mod jobs;
pub use jobs::{NoJobs, PluginJobRunner};

/// Names a plugin cannot take: the host's own paths under `/api/v1` and
/// the bounded contexts the host itself owns.
pub const RESERVED_NAMES: &[&str] = &[
    "accounts", "admin", "assets", "auth", "host", "me", "openapi", "plugins", "streams", "uploads", "users",
];

/// The images of a host that makes no thumbnails (a plugin's own tests and
/// benches): every thumbnail is [`ImagesError::Unavailable`].
pub struct NoImages;

#[async_trait::async_trait]
impl Images for NoImages {
    async fn thumbnail(&self, _image: bytes::Bytes, _width: u32) -> Result<bytes::Bytes, ImagesError> {
        Err(ImagesError::Unavailable("no image service was given to the plugin host".into()))
    }
}

/// The assets of a host that serves no media (a plugin's own tests and
/// benches on [`PluginHost`]): every asset is unknown and nothing is signed.
pub struct NoAssets;

#[async_trait::async_trait]
impl Assets for NoAssets {
    async fn get(&self, _asset_id: &str) -> Result<Option<AssetInfo>, AssetsError> {
        Ok(None)
    }
    async fn playback(&self, _asset_id: &str) -> Result<Option<Playback>, AssetsError> {
        Ok(None)
    }
    async fn signed_playback(
        &self,
        _asset_id: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<Playback>, AssetsError> {
        Err(AssetsError::SigningDisabled)
    }
}

/// What the host shares with every plugin.
#[derive(Clone)]
pub struct HostServices {
    /// Where plugin stores live; each plugin gets `stores.db(name)`.
    pub stores: Stores,
    pub bus: Arc<dyn EventBus>,
    pub assets: Arc<dyn Assets>,
    /// Object storage; each plugin gets the keys under `plugins/{name}/`.
    pub objects: Arc<dyn cdlc_storage::ObjectStore>,
    /// Thumbnails of the plugins' images ([`NoImages`] makes none).
    pub images: Arc<dyn Images>,
    /// A local directory for plugins' own files (a search index, caches):
    /// each plugin gets `{data_dir}/{name}`, created before `start`. `None`
    /// gives plugins no directory (`PluginContext::data_dir` is `None`).
    pub data_dir: Option<std::path::PathBuf>,
    /// The job queue the plugins' `enqueue_job` uses (the server's, whose
    /// workers run `run_job`); `None` runs each job on a task of this
    /// process instead (a plugin's own tests and benches).
    pub jobs: Option<Arc<dyn crate::jobs::Jobs>>,
}

struct Mounted {
    plugin: Arc<dyn Plugin>,
    ctx: PluginContext,
    router: Router,
    openapi: utoipa::openapi::OpenApi,
    web: WebBundle,
}

/// The started plugins.
pub struct PluginHost {
    mounted: Vec<Mounted>,
    dispatchers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("plugins", &self.names()).finish()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let shaped = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !shaped {
        return Err(format!(
            "the plugin name {name:?} must be 1-32 lower-case letters, digits or '_', starting with a letter"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("the plugin name {name:?} is one of the host's own paths"));
    }
    Ok(())
}

fn config_error(plugin: &str, message: impl Into<String>) -> PluginError {
    PluginError::Config { plugin: plugin.to_owned(), message: message.into() }
}

/// The plugin's `[plugins.{name}]` section without `enabled`; `None` when
/// it says `enabled = false`.
fn enabled_section(config: &toml::Table, name: &str) -> Result<Option<toml::Table>, PluginError> {
    let mut section = match config.get(name) {
        None => toml::Table::new(),
        Some(toml::Value::Table(table)) => table.clone(),
        Some(_) => return Err(config_error(name, "must be a table")),
    };
    match section.remove("enabled") {
        None | Some(toml::Value::Boolean(true)) => Ok(Some(section)),
        Some(toml::Value::Boolean(false)) => Ok(None),
        Some(_) => Err(config_error(name, "enabled must be true or false")),
    }
}

/// Refuses a section naming a plugin this build does not have (a typo
/// would otherwise go unnoticed).
fn check_sections(available: &[Arc<dyn Plugin>], config: &toml::Table) -> Result<(), PluginError> {
    for section in config.keys() {
        if !available.iter().any(|p| p.name() == section) {
            let known: Vec<&str> = available.iter().map(|p| p.name()).collect();
            return Err(config_error(
                section,
                format!("no plugin of this name is built in (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

impl PluginHost {
    /// Starts each plugin of `available` that `config` (the `[plugins]`
    /// table) does not disable with `enabled = false`: opens its store,
    /// applies its migrations, calls `start`, takes its router and web
    /// bundle, and subscribes it to the topics it consumes. A section naming
    /// a plugin this build does not have is an error (a typo would otherwise
    /// go unnoticed), as is any plugin failing to start.
    pub async fn start(
        available: Vec<Arc<dyn Plugin>>,
        config: &toml::Table,
        services: HostServices,
    ) -> Result<PluginHost, PluginError> {
        for (i, plugin) in available.iter().enumerate() {
            let name = plugin.name();
            check_name(name).map_err(PluginError::Failed)?;
            if available[..i].iter().any(|p| p.name() == name) {
                return Err(PluginError::Failed(format!("two plugins are named {name:?}")));
            }
        }
        check_sections(&available, config)?;

        let mut host = PluginHost { mounted: Vec::new(), dispatchers: Vec::new() };
        // Every context shares one table of the started plugins' routers,
        // filled once all are mounted (so a plugin may call one started after it).
        let peers = crate::peers::Peers::default();
        // Without the server's queue, jobs run here, once every plugin started.
        let in_process = jobs::InProcessJobs::default();
        let queue: Arc<dyn crate::jobs::Jobs> = match &services.jobs {
            Some(queue) => queue.clone(),
            None => Arc::new(in_process.clone()),
        };
        for plugin in available {
            let name = plugin.name();
            let Some(section) = enabled_section(config, name)? else {
                tracing::info!(plugin = name, "disabled by config");
                continue;
            };
            let db = services.stores.db_for(name, plugin.workload()).await?;
            db.migrate(plugin.migrations()).await?;
            let objects: Arc<dyn Objects> = Arc::new(PrefixedObjects::new(services.objects.clone(), name));
            let mut ctx =
                PluginContext::new(name, db, services.bus.clone(), services.assets.clone(), objects, section)
                    .with_images(services.images.clone());
            ctx.share_peers(&peers);
            ctx.set_jobs(queue.clone());
            if let Some(root) = &services.data_dir {
                let dir = root.join(name);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    PluginError::Failed(format!("plugin {name}: cannot create {}: {e}", dir.display()))
                })?;
                ctx = ctx.with_data_dir(dir);
            }
            plugin.start(&ctx).await?;
            let (router, openapi) = plugin.router(ctx.clone()).split_for_parts();
            let web = plugin.web();
            for page in &web.pages {
                if !page.path.starts_with(&format!("/{name}")) {
                    return Err(PluginError::Failed(format!(
                        "plugin {name}: the web page {:?} must be under /{name}",
                        page.path
                    )));
                }
            }
            let mut subscriptions = Vec::new();
            for topic in plugin.consumes() {
                subscriptions.push(ctx.subscribe(&topic).await?.into_stream());
            }
            if !subscriptions.is_empty() {
                host.dispatchers.push(spawn_dispatcher(plugin.clone(), ctx.clone(), subscriptions));
            }
            tracing::info!(plugin = name, version = plugin.version(), "plugin started");
            host.mounted.push(Mounted { plugin, ctx, router, openapi, web });
        }
        peers.set(host.mounted.iter().map(|m| (m.plugin.name(), m.router.clone())).collect());
        in_process.set(host.mounted.iter().map(|m| (m.plugin.clone(), m.ctx.clone())).collect());
        Ok(host)
    }

    /// What runs the started plugins' jobs on this process's workers.
    pub fn job_runner(&self) -> PluginJobRunner {
        PluginJobRunner::of(self.mounted.iter().map(|m| (m.plugin.clone(), m.ctx.job_context())).collect())
    }

    /// Tells the plugin how its job ended (its `job_ended`); a plugin that
    /// is not started here, or fails, is logged.
    pub async fn job_ended(&self, plugin: &str, ended: &crate::jobs::JobEnded) {
        let Some(m) = self.mounted.iter().find(|m| m.plugin.name() == plugin) else {
            tracing::warn!(plugin, job_id = %ended.id, "a job ended for a plugin that is not started here");
            return;
        };
        if let Err(error) = m.plugin.job_ended(&m.ctx, ended).await {
            tracing::error!(plugin, job_id = %ended.id, %error, "job_ended failed");
        }
    }

    /// The started plugins' names, in start order.
    pub fn names(&self) -> Vec<&'static str> {
        self.mounted.iter().map(|m| m.plugin.name()).collect()
    }

    /// Every started plugin's routes, each nested at `/api/v1/{name}`.
    pub fn router(&self) -> Router {
        self.mounted.iter().fold(Router::new(), |router, m| {
            router.nest(&format!("/api/v1/{}", m.plugin.name()), m.router.clone())
        })
    }

    /// The OpenAPI description of every started plugin's routes: each
    /// plugin's paths under `/api/v1/{name}`, every operation tagged with
    /// the plugin's name, its schemas merged in.
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        let mut all = utoipa::openapi::OpenApi::default();
        for m in &self.mounted {
            let name = m.plugin.name();
            let mut own = m.openapi.clone();
            for item in own.paths.paths.values_mut() {
                for operation in operations(item) {
                    let tags = operation.tags.get_or_insert_with(Vec::new);
                    if !tags.iter().any(|t| t == name) {
                        tags.push(name.to_owned());
                    }
                }
            }
            // Composed as axum nests: a plugin's `/` is the prefix itself.
            all = all.nest_with_path_composer(format!("/api/v1/{name}"), own, |prefix, path| match path {
                "" | "/" => prefix.to_owned(),
                _ => format!("{prefix}{path}"),
            });
        }
        all
    }

    /// Each started plugin's web bundle.
    pub fn web(&self) -> Vec<(&'static str, &WebBundle)> {
        self.mounted.iter().map(|m| (m.plugin.name(), &m.web)).collect()
    }

    /// Calls every started plugin's `user_deleted` (all of them, even after
    /// one fails); the failures, by plugin name.
    pub async fn user_deleted(&self, user: &DeletedUser) -> Vec<(&'static str, PluginError)> {
        let mut failures = Vec::new();
        for m in &self.mounted {
            let name = m.plugin.name();
            if let Err(error) = m.plugin.user_deleted(&m.ctx, user).await {
                tracing::error!(plugin = name, user_id = %user.user_id, %error, "user_deleted failed");
                failures.push((name, error));
            }
        }
        failures
    }

    /// Each started plugin's health.
    pub async fn health(&self) -> Vec<(&'static str, Health)> {
        let mut out = Vec::new();
        for m in &self.mounted {
            out.push((m.plugin.name(), m.plugin.health(&m.ctx).await));
        }
        out
    }

    /// Stops event delivery, then calls every plugin's `stop`.
    pub async fn stop(mut self) {
        for dispatcher in self.dispatchers.drain(..) {
            dispatcher.abort();
        }
        for m in &self.mounted {
            m.plugin.stop(&m.ctx).await;
        }
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        for dispatcher in &self.dispatchers {
            dispatcher.abort();
        }
    }
}

/// The operations of an OpenAPI path, whatever their method.
pub fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn spawn_dispatcher(
    plugin: Arc<dyn Plugin>,
    ctx: PluginContext,
    subscriptions: Vec<std::pin::Pin<Box<dyn futures_util::Stream<Item = crate::Event> + Send>>>,
) -> JoinHandle<()> {
    let name = plugin.name();
    let mut events = futures_util::stream::select_all(subscriptions);
    tokio::spawn(
        async move {
            while let Some(event) = events.next().await {
                let topic = event.topic.clone();
                if let Err(error) = plugin.on_event(&ctx, event).await {
                    tracing::warn!(topic, %error, "a plugin failed to handle an event; it is dropped");
                }
            }
        }
        .instrument(tracing::info_span!("plugin_events", plugin = name)),
    )
}

/// The host's `Objects` for one plugin: the keys of object storage under
/// `plugins/{name}/`.
pub struct PrefixedObjects {
    store: Arc<dyn cdlc_storage::ObjectStore>,
    prefix: String,
}

impl PrefixedObjects {
    pub fn new(store: Arc<dyn cdlc_storage::ObjectStore>, plugin: &str) -> PrefixedObjects {
        PrefixedObjects { store, prefix: format!("plugins/{plugin}/") }
    }

    fn key(&self, key: &str) -> Result<String, ObjectsError> {
        check_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }

    fn info(&self, meta: cdlc_storage::ObjectMeta) -> ObjectInfo {
        ObjectInfo {
            key: meta.key.strip_prefix(&self.prefix).unwrap_or(&meta.key).to_owned(),
            size: meta.size,
            etag: meta.etag,
            modified_ms: meta.modified_ms,
        }
    }
}

fn storage_error(error: cdlc_storage::StorageError) -> ObjectsError {
    ObjectsError::Unavailable(error.to_string())
}

#[async_trait::async_trait]
impl Objects for PrefixedObjects {
    async fn put(&self, key: &str, data: bytes::Bytes) -> Result<ObjectInfo, ObjectsError> {
        let meta = self.store.put(&self.key(key)?, data).await.map_err(storage_error)?;
        Ok(self.info(meta))
    }

    async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<ObjectInfo, ObjectsError> {
        let meta = self.store.put_file(&self.key(key)?, path).await.map_err(storage_error)?;
        Ok(self.info(meta))
    }

    async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, ObjectsError> {
        match self.store.get(&self.key(key)?).await {
            Ok(data) => Ok(Some(data)),
            Err(cdlc_storage::StorageError::NotFound(_)) => Ok(None),
            Err(error) => Err(storage_error(error)),
        }
    }

    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<bytes::Bytes>, ObjectsError> {
        match self.store.get_range(&self.key(key)?, start, end).await {
            Ok(data) => Ok(Some(data)),
            Err(cdlc_storage::StorageError::NotFound(_)) => Ok(None),
            Err(cdlc_storage::StorageError::BadRange { start, end, size, .. }) => {
                Err(ObjectsError::BadRange { key: key.to_owned(), start, end, size })
            }
            Err(error) => Err(storage_error(error)),
        }
    }

    async fn download_to(&self, key: &str, path: &std::path::Path) -> Result<Option<u64>, ObjectsError> {
        match self.store.download_to(&self.key(key)?, path).await {
            Ok(size) => Ok(Some(size)),
            Err(cdlc_storage::StorageError::NotFound(_)) => Ok(None),
            Err(error) => Err(storage_error(error)),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, ObjectsError> {
        Ok(self.store.head(&self.key(key)?).await.map_err(storage_error)?.map(|m| self.info(m)))
    }

    async fn delete(&self, key: &str) -> Result<bool, ObjectsError> {
        self.store.delete(&self.key(key)?).await.map_err(storage_error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectsError> {
        if prefix.len() > MAX_OBJECT_KEY || prefix.contains("..") {
            return Err(ObjectsError::BadKey {
                key: prefix.chars().take(80).collect(),
                reason: "is not a valid prefix",
            });
        }
        let listed = self.store.list(&format!("{}{prefix}", self.prefix)).await.map_err(storage_error)?;
        Ok(listed.into_iter().map(|m| self.info(m)).collect())
    }
}
