//! Titles, read through the catalog's public API (`GET
//! /api/v1/catalog/titles?ids=…`, at most 100 a call), never its tables.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{ApiError, PluginContext, Principal};
use serde::{Deserialize, Serialize};

/// What social shows of a title (the catalog's `TitleView`, in part).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TitleSummary {
    pub id: String,
    pub kind: String,
    pub primary_title: String,
    pub start_year: Option<i64>,
    pub runtime_minutes: Option<i64>,
    #[serde(default)]
    pub genres: Vec<String>,
    pub poster_url: Option<String>,
}

#[derive(Deserialize)]
struct CatalogPage {
    items: Vec<TitleSummary>,
}

/// Catalog calls made by this process (GraphQL reports the difference).
static CATALOG_READS: AtomicU64 = AtomicU64::new(0);

pub fn catalog_reads() -> u64 {
    CATALOG_READS.load(Ordering::Relaxed)
}

/// The most ids one catalog call asks for.
const BATCH: usize = 100;

fn catalog_failed(error: cdlc_plugin_api::PluginError) -> ApiError {
    let text = error.to_string();
    if text.contains("is not running") {
        ApiError::unavailable(
            "the catalog plugin is not running, so titles cannot be read; enable [plugins.catalog]",
            Duration::from_secs(60),
        )
    } else {
        ApiError::internal(text)
    }
}

/// The titles of `ids` the catalog has (absent ids are left out), with as
/// few calls as `ids` has hundreds.
pub async fn titles(ctx: &PluginContext, ids: &[String]) -> Result<HashMap<String, TitleSummary>, ApiError> {
    let mut unique: Vec<&str> = ids.iter().map(String::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    let mut out = HashMap::new();
    for chunk in unique.chunks(BATCH) {
        let path = format!("/titles?limit={}&ids={}", chunk.len(), chunk.join(","));
        CATALOG_READS.fetch_add(1, Ordering::Relaxed);
        let page: Option<CatalogPage> =
            ctx.get_json("catalog", &path, &Principal::Anonymous).await.map_err(catalog_failed)?;
        for title in page.map(|p| p.items).unwrap_or_default() {
            out.insert(title.id.clone(), title);
        }
    }
    Ok(out)
}

/// The title `id`, or 404 saying the catalog has none.
pub async fn require(ctx: &PluginContext, id: &str) -> Result<TitleSummary, ApiError> {
    crate::check_id("title_id", id)?;
    titles(ctx, &[id.to_owned()]).await?.remove(id).ok_or_else(|| {
        ApiError::not_found(format!("the catalog has no title {id:?}; use an id from /api/v1/catalog/titles"))
    })
}
