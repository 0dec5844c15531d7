//! The watchlist: one's own titles to watch, in one's own order.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError, Tx};
use serde::{Deserialize, Serialize};

use super::{decode_cursor, page, writer, Page, PageQuery, Query};
use crate::titles::{self, TitleSummary};
use crate::{now_ms, App};

pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_watchlist, add_to_watchlist))
        .routes(routes!(remove_from_watchlist))
        .routes(routes!(reorder_watchlist))
}

/// A title on the watchlist.
#[derive(Debug, Serialize, ToSchema)]
pub struct WatchlistItem {
    pub title_id: String,
    /// 1 is the top.
    pub position: i64,
    pub added_at: i64,
    /// The catalog's title (absent when the catalog no longer has it).
    pub title: Option<TitleSummary>,
}

struct ItemRow {
    title_id: String,
    position: i64,
    added_at: i64,
}

impl FromRow for ItemRow {
    fn from_row(row: &Row) -> Result<ItemRow, StoreError> {
        Ok(ItemRow {
            title_id: row.get("title_id")?,
            position: row.get("position")?,
            added_at: row.get("added_at")?,
        })
    }
}

/// One's watchlist, top first.
#[utoipa::path(get, path = "/watchlist", params(PageQuery), responses(
    (status = 200, body = Page<WatchlistItem>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn list_watchlist(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<WatchlistItem>>, ApiError> {
    let who = writer(&app, &principal).await?;
    let limit = q.limit()?;
    let after = match &q.cursor {
        Some(c) => decode_cursor(c)?.0,
        None => 0,
    };
    let rows: Vec<ItemRow> = app
        .db()
        .query_as(
            "SELECT title_id, position, added_at FROM watchlist WHERE user_id = ? AND position > ? ORDER BY position LIMIT ?",
            params![&who.user_id, after, limit as i64 + 1],
        )
        .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.title_id.clone()).collect();
    let mut found = titles::titles(&app.ctx, &ids).await?;
    Ok(Json(page(
        rows,
        limit,
        |r| (r.position, r.title_id.clone()),
        |r| WatchlistItem {
            title: found.remove(&r.title_id),
            title_id: r.title_id,
            position: r.position,
            added_at: r.added_at,
        },
    )))
}

/// A title to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchlistInput {
    /// A catalog title id.
    pub title_id: String,
}

/// Adds a title at the bottom of one's watchlist.
#[utoipa::path(post, path = "/watchlist", request_body = WatchlistInput, responses(
    (status = 201, body = WatchlistItem),
    (status = 400, description = "the body is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "the catalog has no such title", body = ApiError),
    (status = 409, description = "already on the watchlist, or the watchlist is full", body = ApiError),
))]
async fn add_to_watchlist(
    State(app): State<App>,
    principal: Principal,
    Json(input): Json<WatchlistInput>,
) -> Result<(StatusCode, Json<WatchlistItem>), ApiError> {
    let who = writer(&app, &principal).await?;
    let title = titles::require(&app.ctx, &input.title_id).await?;
    let max = app.settings.max_watchlist as i64;
    let (user, title_id) = (who.user_id.clone(), title.id.clone());
    let now = now_ms();
    let position = app
        .db()
        .transaction(|tx| {
            let (user, title_id) = (user.clone(), title_id.clone());
            async move {
                let (count, last) = count_and_last(&tx, "watchlist", "user_id", &user).await?;
                if count >= max {
                    return Err(ApiError::conflict(format!(
                        "the watchlist holds at most {max} titles; remove some first"
                    )));
                }
                match tx
                    .execute(
                        "INSERT INTO watchlist (user_id, title_id, position, added_at) VALUES (?, ?, ?, ?)",
                        params![&user, &title_id, last + 1, now],
                    )
                    .await
                {
                    Ok(_) => Ok(last + 1),
                    Err(StoreError::Conflict(_)) => {
                        Err(ApiError::conflict(format!("{title_id} is already on your watchlist")))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WatchlistItem { title_id: title.id.clone(), position, added_at: now, title: Some(title) }),
    ))
}

/// The number of rows of `owner` in `table` and the largest position.
pub(super) async fn count_and_last(
    tx: &impl Sql,
    table: &str,
    owner_column: &str,
    owner: &str,
) -> Result<(i64, i64), StoreError> {
    let rows = tx
        .query(
            &format!("SELECT COUNT(*) AS n, MAX(position) AS last FROM {table} WHERE {owner_column} = ?"),
            params![owner],
        )
        .await?;
    let row = rows.first();
    let n = row.map(|r| r.get::<i64>("n")).transpose()?.unwrap_or(0);
    let last = row.map(|r| r.get::<Option<i64>>("last")).transpose()?.flatten().unwrap_or(0);
    Ok((n, last))
}

/// Removes a title from one's watchlist.
#[utoipa::path(delete, path = "/watchlist/{title_id}", params(("title_id" = String, Path)), responses(
    (status = 204, description = "removed"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "not on the watchlist", body = ApiError),
))]
async fn remove_from_watchlist(
    State(app): State<App>,
    principal: Principal,
    Path(title_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    crate::check_id("title_id", &title_id)?;
    let removed = app
        .db()
        .execute("DELETE FROM watchlist WHERE user_id = ? AND title_id = ?", params![&who.user_id, &title_id])
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found(format!("{title_id} is not on your watchlist")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// The titles in their new order from the top; titles left out follow
    /// in their old order.
    pub title_ids: Vec<String>,
}

/// Reorders one's watchlist.
#[utoipa::path(put, path = "/watchlist/order", request_body = OrderInput, responses(
    (status = 204, description = "reordered"),
    (status = 400, description = "a title is not on the watchlist or named twice", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn reorder_watchlist(
    State(app): State<App>,
    principal: Principal,
    Json(input): Json<OrderInput>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let max = app.settings.max_watchlist;
    let user = who.user_id.clone();
    app.db()
        .transaction(|tx| {
            let (user, ids) = (user.clone(), input.title_ids.clone());
            async move { reorder(&tx, "watchlist", "user_id", &user, &ids, max).await }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the titles of `owner` in `table` positions 1… in the order of
/// `first`, then the rest in their old order.
pub(super) async fn reorder(
    tx: &Tx,
    table: &str,
    owner_column: &str,
    owner: &str,
    first: &[String],
    max: usize,
) -> Result<(), ApiError> {
    if first.len() > max {
        return Err(ApiError::bad_request(format!("name at most {max} titles")));
    }
    let rows = tx
        .query(
            &format!("SELECT title_id FROM {table} WHERE {owner_column} = ? ORDER BY position LIMIT ?"),
            params![owner, max as i64 + 1],
        )
        .await?;
    let current = rows.iter().map(|r| r.get::<String>("title_id")).collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for id in first {
        if !current.contains(id) {
            return Err(ApiError::bad_request(format!(
                "{:?} is not in this list; reorder only what it holds",
                id.chars().take(64).collect::<String>()
            )));
        }
        if !seen.insert(id.as_str()) {
            return Err(ApiError::bad_request(format!("{id} is named twice in title_ids")));
        }
    }
    let order = first.iter().chain(current.iter().filter(|id| !seen.contains(id.as_str())));
    for (i, id) in order.enumerate() {
        tx.execute(
            &format!("UPDATE {table} SET position = ? WHERE {owner_column} = ? AND title_id = ?"),
            params![i as i64 + 1, owner, id.as_str()],
        )
        .await?;
    }
    Ok(())
}
