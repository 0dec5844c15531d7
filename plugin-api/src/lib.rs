//! The plugin API: what a plugin (catalog, social, booking…) implements and
//! what the host hands it. A plugin depends on this crate only: never on
//! server code, never on another plugin.
//!
//! - `Plugin`: the trait, each hook saying when it runs.
//! - `PluginContext`: the plugin's own `Db`, its own part of object storage
//!   (`Objects`), the event bus, read access to assets, thumbnails of its
//!   images (`Images`), its `[plugins.{name}]` config section and the job
//!   queue (`enqueue_job`; workers call the plugin's `run_job`, see `jobs`).
//! - `Principal` (an extractor), `Role`, `Scope`: who is asking and the
//!   checks a handler makes (`require_role`, `require_scope`).
//! - `ApiError` and `Json`: the one error shape `{"error":{"code","message"}}`.
//! - `host`: the host's side (starting, mounting, events, hooks).

pub mod assets;
mod error;
pub mod events;
pub mod host;
pub mod images;
pub mod jobs;
mod json;
pub mod objects;
pub mod peers;
mod plugin;
mod principal;

pub use assets::{AssetInfo, AssetState, Assets, AssetsError, Playback};
pub use cdlc_plugin_store as store;
pub use cdlc_plugin_store::{params, Db, FromRow, Migration, Row, Sql, StoreError, Tx, Workload};
pub use error::ApiError;
pub use events::{BusError, Event, EventBus, InProcessBus, Subscription};
pub use images::{Images, ImagesError};
pub use jobs::{JobContext, JobEnded, JobError, JobSubject, Jobs, JobsError, PluginJob};
pub use json::Json;
pub use objects::{ObjectInfo, Objects, ObjectsError};
pub use peers::PeerResponse;
pub use plugin::{
    ApiRouter, DeletedUser, Health, Plugin, PluginContext, PluginError, WebBundle, WebFile, WebPage,
};
pub use principal::{Credential, Identity, Principal, Role, Scope};

pub use async_trait::async_trait;
/// Re-exported so plugins build routers with the host's axum version.
pub use axum;
/// Re-exported so plugins describe their routes with the host's OpenAPI
/// version (`#[utoipa::path]`, `ToSchema`, `routes!`).
pub use utoipa;
pub use utoipa_axum;
pub use utoipa_axum::routes;
