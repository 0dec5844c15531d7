//! The catalog's REST routes (mounted at `/api/v1/catalog`). Reads are
//! open to anyone; writes need an admin with the `catalog:write` scope,
//! imports an admin with `catalog:import`; rating a title needs a user.
//! Every list is a page: `limit` (1–100, default 20) and the `next_cursor`
//! of the page before.

mod images;
mod imports;
mod links;
mod people;
mod rating;
mod search;
mod titles;
mod views;

use std::sync::Arc;

use cdlc_plugin_api::axum::extract::{FromRequestParts, Query as AxumQuery};
use cdlc_plugin_api::axum::http::request::Parts;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{ApiError, ApiRouter, Identity, Principal, Role, Row, Scope, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> ApiRouter {
    let max_import = shared.settings.max_import_bytes.min(usize::MAX as u64) as usize;
    OpenApiRouter::new()
        .merge(titles::routes())
        .merge(people::routes())
        .merge(links::routes())
        .merge(rating::routes())
        .merge(images::routes())
        .merge(search::routes())
        .merge(imports::routes().layer(cdlc_plugin_api::axum::extract::DefaultBodyLimit::max(max_import)))
        .with_state(shared)
}

/// Change the catalog: an admin, and an API key needs `catalog:write`.
/// A first load writes the rows of IMDb ids without reading them back
/// (`imdb::known`), so while an import runs the API neither creates a title
/// or person under an IMDb id nor deletes one: the error says to wait.
pub(crate) fn refuse_while_importing(shared: &Shared, what: &str) -> Result<(), ApiError> {
    match &*shared.running_import.lock().unwrap_or_else(|e| e.into_inner()) {
        Some((import, _)) => {
            Err(ApiError::conflict(format!("the import {import} is running: {what} once it is done")))
        }
        None => Ok(()),
    }
}

pub(crate) fn require_write(principal: &Principal) -> Result<&Identity, ApiError> {
    let write = Scope::new("catalog:write").map_err(ApiError::internal)?;
    principal.require(Role::Admin, &write)
}

/// Run an import: an admin, and an API key needs `catalog:import`.
pub(crate) fn require_import(principal: &Principal) -> Result<&Identity, ApiError> {
    principal.require(Role::Admin, &Scope::CATALOG_IMPORT)
}

/// Query parameters whose rejection is a sentence in the one error shape.
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Query<T>, ApiError> {
        match AxumQuery::<T>::from_request_parts(parts, state).await {
            Ok(AxumQuery(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "the query parameters do not fit: {}",
                rejection.body_text().trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}

/// The most items a page holds.
pub(crate) const MAX_LIMIT: usize = 100;

/// A page size: 20 by default, 1–100.
pub(crate) fn limit(requested: Option<usize>) -> Result<usize, ApiError> {
    match requested {
        None => Ok(20),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!("limit {n} must be 1 to {MAX_LIMIT}"))),
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `limit` and `cursor` of a list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// A page from rows read with `LIMIT limit + 1`: an extra row means there
/// is a next page, whose cursor is `key` of this page's last row.
pub(crate) fn page_of<T: ToSchema>(
    rows: &[Row],
    limit: usize,
    build: impl Fn(&Row) -> Result<T, StoreError>,
    key: impl Fn(&Row) -> Result<Vec<Value>, StoreError>,
) -> Result<Page<T>, StoreError> {
    let items = rows.iter().take(limit).map(build).collect::<Result<Vec<T>, StoreError>>()?;
    let next_cursor = match rows.len() > limit && limit > 0 {
        true => Some(encode_cursor(&key(&rows[limit - 1])?)),
        false => None,
    };
    Ok(Page { items, next_cursor })
}

/// A cursor: the sort key of the last item, opaque to clients.
pub(crate) fn encode_cursor(key: &[Value]) -> String {
    let json: Vec<serde_json::Value> = key
        .iter()
        .map(|v| match v {
            Value::Int(i) => serde_json::json!(i),
            Value::Real(r) => serde_json::json!(r),
            Value::Text(t) => serde_json::json!(t),
            Value::Null | Value::Blob(_) => serde_json::Value::Null,
        })
        .collect();
    hex::encode(serde_json::to_vec(&json).unwrap_or_default())
}

/// Reads a cursor back; `kinds` says what each part must be ('i', 'r', 't').
pub(crate) fn decode_cursor(cursor: &str, kinds: &str) -> Result<Vec<Value>, ApiError> {
    let bad = || ApiError::bad_request("the cursor is not one this list gave out: start again without it");
    if cursor.len() > 2048 {
        return Err(bad());
    }
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    let parts: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if parts.len() != kinds.len() {
        return Err(bad());
    }
    parts
        .iter()
        .zip(kinds.chars())
        .map(|(part, kind)| match kind {
            'i' => part.as_i64().map(Value::Int),
            'r' => part.as_f64().map(Value::Real),
            _ => part.as_str().map(|s| Value::Text(s.to_owned())),
        })
        .collect::<Option<Vec<Value>>>()
        .ok_or_else(bad)
}

/// Checks an id from a path: a title or person id is at most 36 letters,
/// digits and '-'.
pub(crate) fn check_id(id: &str, what: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 36 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::not_found(format!("there is no {what} {:?}", crate::model::clip(id, 40))));
    }
    Ok(())
}

/// A list of comma-separated words from a query parameter, at most `max`.
pub(crate) fn words(text: Option<&str>, max: usize, what: &str) -> Result<Vec<String>, ApiError> {
    let words: Vec<String> = text
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    if words.len() > max {
        return Err(ApiError::bad_request(format!("give at most {max} values of {what}")));
    }
    Ok(words)
}

/// Text fields are bounded: a sentence when one is too long.
pub(crate) fn bounded(value: &Option<String>, what: &str, max: usize) -> Result<(), ApiError> {
    match value {
        Some(text) if text.chars().count() > max => {
            Err(ApiError::bad_request(format!("{what} must be at most {max} characters")))
        }
        _ => Ok(()),
    }
}

/// Reindexes `titles` and `people` and commits; a failure is logged (the
/// tables are right, and the next write or a restart's rebuild mends it).
pub(crate) async fn reindex(shared: &Shared, titles: &[String], people: &[String]) {
    let db = shared.ctx.db();
    let result = async {
        shared.index.titles(db, titles).await?;
        shared.index.people(db, people).await?;
        shared.index.commit().await
    }
    .await;
    if let Err(error) = result {
        tracing::error!(plugin = crate::NAME, %error, "cannot update the search index");
    }
}
