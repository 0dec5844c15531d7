//! The catalog plugin (`catalog`, routes at `/api/v1/catalog/…`): movies,
//! series → seasons → episodes, people and their credits, akas, genres,
//! images, our users' ratings beside IMDb's, titles linked to playable
//! assets, search (cdlc-search, tantivy) and the import of IMDb's datasets.
//! Built on the plugin API only.
//!
//! - `schema`: the tables; `model`: kinds, roles, IMDb's types.
//! - `imdb`: the import (also run by `cdlc catalog import`).
//! - `ratings`: user ratings and the weighted rating.
//! - `index`: the search index kept in step with the tables.
//! - `api`: the REST routes.

mod api;
pub mod imdb;
pub mod index;
pub mod model;
pub mod ratings;
pub mod schema;
mod sql;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use cdlc_plugin_api::{
    async_trait, params, ApiRouter, DeletedUser, Event, Health, Migration, Plugin, PluginContext,
    PluginError, Sql, Workload,
};
use serde::Deserialize;

pub use index::Index;

/// The `[plugins.catalog]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// m of the weighted rating (see `ratings`): the votes a title needs
    /// before its own rating outweighs the catalog's mean.
    pub weighted_min_votes: f64,
    /// The largest poster, backdrop or photo accepted, in bytes.
    pub max_image_bytes: usize,
    /// The largest upload of dataset files for one import, in bytes.
    pub max_import_bytes: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { weighted_min_votes: 1000.0, max_image_bytes: 8 << 20, max_import_bytes: 8 << 30 }
    }
}

impl Settings {
    fn check(&self) -> Result<(), String> {
        if !(self.weighted_min_votes.is_finite() && self.weighted_min_votes >= 0.0) {
            return Err("weighted_min_votes must be a number of votes, 0 or more".into());
        }
        if self.max_image_bytes < 1024 {
            return Err("max_image_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub ctx: PluginContext,
    pub index: Index,
    pub settings: Settings,
    /// The import running in this process, if any (one at a time), and where it is.
    pub running_import: std::sync::Mutex<Option<(String, imdb::Progress)>>,
    /// C of the weighted rating, recomputed at most every `MEAN_TTL`.
    pub mean_rating: std::sync::Mutex<Option<(std::time::Instant, f64)>>,
}

/// How long the catalog's mean rating (C) is reused.
pub(crate) const MEAN_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Shared {
    fn new(ctx: PluginContext, index: Index, settings: Settings) -> Shared {
        Shared {
            ctx,
            index,
            settings,
            running_import: std::sync::Mutex::new(None),
            mean_rating: std::sync::Mutex::new(None),
        }
    }

    /// m·C and m of the weighted rating.
    pub(crate) async fn weights(&self) -> Result<(f64, f64), cdlc_plugin_api::StoreError> {
        let cached = *self.mean_rating.lock().unwrap_or_else(|e| e.into_inner());
        let c = match cached {
            Some((at, c)) if at.elapsed() < MEAN_TTL => c,
            _ => {
                let c = ratings::mean_rating(self.ctx.db()).await?;
                *self.mean_rating.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((std::time::Instant::now(), c));
                c
            }
        };
        let m = self.settings.weighted_min_votes;
        Ok((m * c, m))
    }

    /// Forgets C (after an import or many ratings changed it).
    pub(crate) fn forget_mean(&self) {
        *self.mean_rating.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The catalog plugin, for the host's list of built-in plugins.
#[derive(Default)]
pub struct Catalog {
    shared: OnceLock<Arc<Shared>>,
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog::default()
    }
}

/// The name of the plugin, its store and its config section.
pub const NAME: &str = "catalog";

/// Opens the search index in `data_dir/search` (in memory without a
/// directory), recreating one of an older schema; the bool says whether it
/// must be rebuilt from the tables.
pub fn open_index(data_dir: Option<&Path>) -> Result<(Index, bool), String> {
    let Some(dir) = data_dir else {
        return cdlc_search::SearchIndex::in_memory()
            .map(|index| (Index(Arc::new(index)), true))
            .map_err(|e| e.to_string());
    };
    let dir = dir.join("search");
    match cdlc_search::SearchIndex::open(&dir) {
        Ok(index) => Ok((Index(Arc::new(index)), false)),
        Err(cdlc_search::SearchError::SchemaMismatch { .. }) => cdlc_search::SearchIndex::recreate(&dir)
            .map(|index| (Index(Arc::new(index)), true))
            .map_err(|e| e.to_string()),
        Err(cdlc_search::SearchError::Locked { .. }) => Err(format!(
            "the search index in {} is in use by another process: a cdlc serve or cdlc catalog import on the same data directory (import through POST /api/v1/catalog/imports while the server runs)",
            dir.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[async_trait]
impl Plugin for Catalog {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn migrations(&self) -> &'static [Migration] {
        schema::MIGRATIONS
    }

    /// The IMDb import loads millions of rows.
    fn workload(&self) -> Workload {
        Workload::BulkLoads
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = ctx.config()?;
        settings.check().map_err(|message| PluginError::Config { plugin: NAME.into(), message })?;
        let (index, rebuild) = open_index(ctx.data_dir()).map_err(PluginError::Failed)?;
        let empty = index.0.doc_count() == 0;
        // An import that was running when the server stopped will not finish.
        ctx.db()
            .execute(
                "UPDATE imports SET state = 'failed', error = ?, updated_at = ? WHERE state = 'running' OR state = 'queued'",
                params!["the server stopped during the import; run it again", model::now_ms()],
            )
            .await?;
        // An import stopped before it built its deferred indexes left them out.
        imdb::restore_indexes(ctx.db()).await?;
        if rebuild || empty {
            let has_rows = !ctx.db().query("SELECT id FROM titles LIMIT ?", params![1]).await?.is_empty()
                || !ctx.db().query("SELECT id FROM people LIMIT ?", params![1]).await?.is_empty();
            if has_rows {
                let (index, db) = (index.clone(), ctx.db().clone());
                tokio::spawn(async move {
                    match index.rebuild(&db).await {
                        Ok((titles, people)) => {
                            tracing::info!(plugin = NAME, titles, people, "search index rebuilt")
                        }
                        Err(error) => {
                            tracing::error!(plugin = NAME, %error, "cannot rebuild the search index")
                        }
                    }
                });
            }
        }
        let shared = Arc::new(Shared::new(ctx.clone(), index, settings));
        self.shared.set(shared).map_err(|_| PluginError::Failed("the catalog was started twice".into()))
    }

    fn router(&self, ctx: PluginContext) -> ApiRouter {
        let shared = self.shared.get().cloned().unwrap_or_else(|| {
            // `start` runs before `router`; a host that did not call it gets
            // a catalog with an in-memory index and the default settings.
            let index = open_index(None).map(|(index, _)| index).unwrap_or_else(|e| panic!("{e}"));
            Arc::new(Shared::new(ctx.clone(), index, Settings::default()))
        });
        api::router(shared)
    }

    fn consumes(&self) -> Vec<String> {
        vec!["assets.deleted".into()]
    }

    async fn on_event(&self, ctx: &PluginContext, event: Event) -> Result<(), PluginError> {
        if event.topic == "assets.deleted" {
            if let Some(asset) = event.payload["asset_id"].as_str() {
                let removed =
                    ctx.db().execute("DELETE FROM links WHERE asset_id = ?", params![asset]).await?;
                if removed > 0 {
                    tracing::info!(plugin = NAME, asset_id = asset, removed, "unlinked a deleted asset");
                }
            }
        }
        Ok(())
    }

    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError> {
        ratings::remove_user(ctx.db(), &user.user_id).await?;
        Ok(())
    }

    async fn health(&self, ctx: &PluginContext) -> Health {
        match ctx.db().query("SELECT id FROM titles LIMIT ?", params![1]).await {
            Ok(_) => Health::Ready,
            Err(error) => Health::Down(format!("the catalog's store: {error}")),
        }
    }
}
