//! The `Plugin` trait and the context the host hands each plugin.

use std::sync::Arc;

use async_trait::async_trait;
use cdlc_plugin_store::{Db, Migration, StoreError, Workload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::assets::Assets;
use crate::events::{BusError, Event, EventBus, Subscription};
use crate::objects::Objects;
use crate::peers::{PeerResponse, Peers};

/// What `Plugin::router` returns: an axum router that also carries the
/// OpenAPI description of its routes.
pub type ApiRouter = utoipa_axum::router::OpenApiRouter;

/// Why a plugin could not start or finish a hook.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin's `[plugins.{name}]` section is wrong; the message names the field.
    #[error("[plugins.{plugin}]: {message}")]
    Config { plugin: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Assets(#[from] crate::assets::AssetsError),
    #[error(transparent)]
    Jobs(#[from] crate::jobs::JobsError),
    #[error("{0}")]
    Failed(String),
}

/// An account that was deleted: every plugin removes what it holds of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletedUser {
    pub user_id: String,
    pub handle: String,
}

/// What `health` reports, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Health {
    Ready,
    /// Serving, with a problem an operator should see.
    Degraded(String),
    /// Not able to serve.
    Down(String),
}

/// A page a plugin adds to the web UI: the host answers `path` with the
/// UI's shell, which loads `script` (a file of the bundle) and lists the page
/// in the navigation under `title`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPage {
    /// Under the site root, e.g. `/movies`; must start with the plugin's name.
    pub path: String,
    pub title: String,
    pub script: String,
}

/// A file of a plugin's web bundle, served at `/plugins/{name}/{file}`,
/// immutable (hash the name when it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebFile {
    pub name: String,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The web pages and files a plugin adds; empty for an API-only plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebBundle {
    pub pages: Vec<WebPage>,
    pub files: Vec<WebFile>,
}

/// What the host hands a plugin. Cheap to clone; handlers keep a clone as
/// their router state.
#[derive(Clone)]
pub struct PluginContext {
    name: Arc<str>,
    db: Db,
    bus: Arc<dyn EventBus>,
    assets: Arc<dyn Assets>,
    objects: Arc<dyn Objects>,
    images: Arc<dyn crate::Images>,
    config: Arc<toml::Table>,
    peers: Peers,
    data_dir: Option<Arc<std::path::Path>>,
    jobs: Arc<dyn crate::jobs::Jobs>,
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("name", &self.name)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PluginContext {
    /// For the host (and tests): the plugin's name, its own store, the bus,
    /// the assets, its own objects and its config section (without `enabled`).
    pub fn new(
        name: &str,
        db: Db,
        bus: Arc<dyn EventBus>,
        assets: Arc<dyn Assets>,
        objects: Arc<dyn Objects>,
        config: toml::Table,
    ) -> PluginContext {
        PluginContext {
            name: name.into(),
            db,
            bus,
            assets,
            objects,
            images: Arc::new(crate::host::NoImages),
            config: Arc::new(config),
            peers: Peers::default(),
            data_dir: None,
            jobs: Arc::new(crate::host::NoJobs),
        }
    }

    /// For the host (and tests): who makes thumbnails (by default nobody:
    /// [`crate::host::NoImages`]).
    pub fn with_images(mut self, images: Arc<dyn crate::Images>) -> PluginContext {
        self.images = images;
        self
    }

    /// For the host (and tests): the plugin's own local directory.
    pub fn with_data_dir(mut self, dir: std::path::PathBuf) -> PluginContext {
        self.data_dir = Some(dir.into());
        self
    }

    /// The plugin's own local directory (`DATA_DIR/plugins/{name}`, created
    /// by the host) for files that are not objects: a search index, caches.
    /// `None` when the host gives plugins none.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's own database: only its tables are in it.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn assets(&self) -> &dyn Assets {
        &*self.assets
    }

    /// Thumbnails of images (the host's GStreamer, in a child process).
    pub fn images(&self) -> &dyn crate::Images {
        &*self.images
    }

    /// The plugin's own objects (a prefix of object storage that is its alone).
    pub fn objects(&self) -> &dyn Objects {
        &*self.objects
    }

    /// The same objects as a shared handle, for a library that keeps one
    /// (the analytics query engine's object store).
    pub fn shared_objects(&self) -> Arc<dyn Objects> {
        self.objects.clone()
    }

    /// The `[plugins.{name}]` section as the plugin's settings type; a field
    /// missing from the file takes the type's serde default.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        settings(&self.name, &self.config)
    }

    /// Queues the plugin's job `job` with argument `key` (1-128 letters,
    /// digits and `-_.:`): a worker of the farm runs the plugin's `run_job`,
    /// then the host calls `job_ended` here. Returns the job's id.
    pub async fn enqueue_job(&self, job: &str, key: &str) -> Result<String, PluginError> {
        let subject = crate::jobs::JobSubject::new(&self.name, job, key)?;
        Ok(self.jobs.enqueue(&subject).await?)
    }

    /// What this plugin's jobs run with.
    pub(crate) fn job_context(&self) -> crate::jobs::JobContext {
        crate::jobs::JobContext::new(&self.name, self.objects.clone(), (*self.config).clone())
    }

    pub(crate) fn set_jobs(&mut self, jobs: Arc<dyn crate::jobs::Jobs>) {
        self.jobs = jobs;
    }

    /// Publishes `{name}.{event}`: a plugin publishes only under its own name.
    pub async fn publish(&self, event: &str, payload: impl Serialize) -> Result<(), PluginError> {
        let payload =
            serde_json::to_value(payload).map_err(|e| PluginError::Failed(format!("event payload: {e}")))?;
        self.bus
            .publish(Event::now(format!("{}.{event}", self.name), self.name.to_string(), payload))
            .await?;
        Ok(())
    }

    /// Calls another plugin's public REST API in process, as `principal`
    /// (pass on the request's, or `Principal::Anonymous` for public reads):
    /// `ctx.call_plugin("catalog", Method::GET, "/titles/tt0068646", &p, None)`.
    /// The path is under the plugin's prefix; its authorization applies.
    pub async fn call_plugin(
        &self,
        plugin: &str,
        method: axum::http::Method,
        path_and_query: &str,
        principal: &crate::Principal,
        body: Option<serde_json::Value>,
    ) -> Result<PeerResponse, PluginError> {
        self.peers.call(plugin, method, path_and_query, principal, body).await
    }

    /// A public read of another plugin's JSON: `None` when it answers 404,
    /// an error for any other status than 200.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        plugin: &str,
        path_and_query: &str,
        principal: &crate::Principal,
    ) -> Result<Option<T>, PluginError> {
        let response =
            self.call_plugin(plugin, axum::http::Method::GET, path_and_query, principal, None).await?;
        match response.status {
            axum::http::StatusCode::OK => response.json().map(Some),
            axum::http::StatusCode::NOT_FOUND => Ok(None),
            other => Err(PluginError::Failed(format!(
                "{plugin} answered GET {path_and_query} with {other}: {}",
                String::from_utf8_lossy(&response.body[..response.body.len().min(300)])
            ))),
        }
    }

    pub(crate) fn share_peers(&mut self, peers: &Peers) {
        self.peers = peers.clone();
    }

    /// Subscribes to any topic. Plugins usually name topics in `consumes`
    /// and let the host call `on_event`; this is for a plugin that wants its
    /// own loop.
    pub async fn subscribe(&self, topic: &str) -> Result<Subscription, PluginError> {
        Ok(self.bus.subscribe(topic, &self.name).await?)
    }
}

/// A config section as a plugin's settings type.
pub(crate) fn settings<T: DeserializeOwned>(plugin: &str, section: &toml::Table) -> Result<T, PluginError> {
    toml::Value::Table(section.clone()).try_into().map_err(|e: toml::de::Error| PluginError::Config {
        plugin: plugin.to_owned(),
        message: e.message().to_owned(),
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A plugin: a bounded context (catalog, social, booking…) the host mounts.
/// It sees the host only through this trait and its `PluginContext`, and
/// owns only the tables of its own store.
///
/// The host calls, in order: `name`/`version` when collecting plugins;
/// `migrations` (applied to the plugin's store), `start`, then `consumes` and
/// `router` once at start-up; then `on_event`, `user_deleted`, `job_ended`
/// and `health` as they happen; `stop` at shutdown. `run_job` runs on
/// workers, which may be other processes.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Runs when the host collects plugins. The plugin's identity: its URL
    /// prefix (`/api/v1/{name}`), its store's name, its config section
    /// (`[plugins.{name}]`) and its topic prefix. Lower-case letters, digits
    /// and `_`, starting with a letter, at most 32; never change it once
    /// shipped.
    fn name(&self) -> &'static str;

    /// Runs when the host collects plugins; reported by `/readyz` and logs.
    fn version(&self) -> &'static str;

    /// Runs before `start`, once at every start-up: the migrations of the
    /// tables the plugin owns, applied by the host in order to the plugin's
    /// own store (each once; see `cdlc_plugin_store::Migration`).
    fn migrations(&self) -> &'static [Migration] {
        &[]
    }

    /// Read when the host first opens the plugin's store: how the plugin
    /// mostly writes it (see `Workload`), which lays out a new SQLite file.
    /// Many small transactions unless the plugin says otherwise.
    fn workload(&self) -> Workload {
        Workload::Transactions
    }

    /// Runs once at start-up, after the migrations and before any request
    /// or event: read and check the config here, so a mistake stops the
    /// server with a sentence instead of failing a request later.
    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Runs once at start-up, after `start`: the plugin's routes, which the
    /// host mounts at `/api/v1/{name}` behind its authentication (so
    /// handlers extract `Principal`), its access log and its body limits.
    /// Keep `ctx` as the router's state. Add each route with
    /// `.routes(routes!(handler))` on a handler annotated with
    /// `#[utoipa::path]`: the host puts the plugin's paths, under
    /// `/api/v1/{name}` and tagged with its name, into `/api/v1/openapi.json`.
    fn router(&self, ctx: PluginContext) -> ApiRouter;

    /// Runs once at start-up, after `router`: the topics whose events the
    /// host hands to `on_event`. Subscriptions start before the server
    /// accepts requests, so no event published by a request is missed.
    fn consumes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Runs for each event of a topic in `consumes`, one event at a time per
    /// plugin, in publication order per topic. An error is logged with the
    /// plugin's name and the event dropped: keep what must not be lost in
    /// the plugin's own tables.
    async fn on_event(&self, ctx: &PluginContext, event: Event) -> Result<(), PluginError> {
        let _ = (ctx, event);
        Ok(())
    }

    /// Runs once at start-up: the pages and files the plugin adds to the web UI.
    fn web(&self) -> WebBundle {
        WebBundle::default()
    }

    /// Runs when an account is deleted, after the account, its sessions and
    /// keys are gone and before the deletion is answered: remove (or
    /// anonymize) everything the plugin holds of the user. Required, so no
    /// plugin forgets it; an error is reported to the one deleting and the
    /// hook may run again for the same user, so it must be idempotent.
    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError>;

    /// Runs on each `/readyz`: whether the plugin can serve. Keep it cheap.
    async fn health(&self, ctx: &PluginContext) -> Health {
        let _ = ctx;
        Health::Ready
    }

    /// Runs on a worker for each job the plugin queued with
    /// `ctx.enqueue_job`: in `cdlc serve` or in a `cdlc worker` of the farm,
    /// so possibly in another process than the one that queued it, with the
    /// plugin's objects and config but no store and no `start` before it.
    /// It may run again for the same job (a retryable error, a worker that
    /// died), so make it idempotent. What it returns reaches `job_ended`; a
    /// retryable error is tried again while attempts remain.
    async fn run_job(
        &self,
        ctx: &crate::jobs::JobContext,
        job: &crate::jobs::PluginJob,
    ) -> Result<serde_json::Value, crate::jobs::JobError> {
        let _ = ctx;
        Err(crate::jobs::JobError::permanent(format!("the plugin has no job named {:?}", job.job)))
    }

    /// Runs on the serving process (where the plugin's store is) once a job
    /// of this plugin ended: succeeded with `run_job`'s output, or failed for
    /// good. An error is logged.
    async fn job_ended(&self, ctx: &PluginContext, ended: &crate::jobs::JobEnded) -> Result<(), PluginError> {
        let _ = (ctx, ended);
        Ok(())
    }

    /// Runs once at shutdown, after the server stopped taking requests.
    async fn stop(&self, ctx: &PluginContext) {
        let _ = ctx;
    }
}
