//! What the signed-in user has of one title, in one read: the title page's
//! own state (on the watchlist, how often and when it was logged, the
//! latest rating, a like, the latest review) without paging through the
//! watchlist or the diary.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::Serialize;

use super::writer;
use crate::{check_id, App};

pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(my_title))
}

/// One's own state of a title.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyTitle {
    pub title_id: String,
    /// On one's watchlist.
    pub watchlisted: bool,
    /// Stars (0.5–5) of the newest diary entry of it that has a rating.
    pub rating: Option<f64>,
    /// Diary entries of it (each watch logged, rewatches too).
    pub logged_count: i64,
    /// The latest `watched_on` (`YYYY-MM-DD`) of those entries.
    pub last_logged_on: Option<String>,
    /// One of those entries likes it.
    pub liked: bool,
    /// The newest of those entries with a review.
    pub review_id: Option<String>,
}

/// Each part is a scalar subquery on the user's rows of the title (the
/// primary key of `watchlist`, `diary_by_user` for the diary): one statement.
const MINE_SELECT: &str = "SELECT \
     (SELECT COUNT(*) FROM watchlist w WHERE w.user_id = ? AND w.title_id = ?) AS watchlisted, \
     (SELECT COUNT(*) FROM diary d WHERE d.user_id = ? AND d.title_id = ?) AS logged_count, \
     (SELECT MAX(d.watched_on) FROM diary d WHERE d.user_id = ? AND d.title_id = ?) AS last_logged_on, \
     (SELECT COUNT(*) FROM diary d WHERE d.user_id = ? AND d.title_id = ? AND d.liked = ?) AS liked, \
     (SELECT d.rating FROM diary d WHERE d.user_id = ? AND d.title_id = ? AND d.rating IS NOT NULL \
        ORDER BY d.created_at DESC, d.id DESC LIMIT 1) AS rating, \
     (SELECT d.id FROM diary d WHERE d.user_id = ? AND d.title_id = ? AND d.review IS NOT NULL \
        ORDER BY d.created_at DESC, d.id DESC LIMIT 1) AS review_id";

struct MineRow {
    watchlisted: i64,
    logged_count: i64,
    last_logged_on: Option<String>,
    liked: i64,
    rating: Option<i64>,
    review_id: Option<String>,
}

impl FromRow for MineRow {
    fn from_row(row: &Row) -> Result<MineRow, StoreError> {
        Ok(MineRow {
            watchlisted: row.get("watchlisted")?,
            logged_count: row.get("logged_count")?,
            last_logged_on: row.get("last_logged_on")?,
            liked: row.get("liked")?,
            rating: row.get("rating")?,
            review_id: row.get("review_id")?,
        })
    }
}

/// Your own state of a title: watchlisted, logged (how often, last when),
/// rated, liked, reviewed. Any catalog id is answered (all false or absent
/// for a title you never touched).
#[utoipa::path(get, path = "/titles/{title_id}/mine", params(("title_id" = String, Path, description = "a catalog title id")), responses(
    (status = 200, body = MyTitle),
    (status = 400, description = "not a title id", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn my_title(
    State(app): State<App>,
    principal: Principal,
    Path(title_id): Path<String>,
) -> Result<Json<MyTitle>, ApiError> {
    let who = writer(&app, &principal).await?;
    check_id("title_id", &title_id)?;
    let (u, t) = (who.user_id.as_str(), title_id.as_str());
    let row: MineRow = app
        .db()
        .query_opt(MINE_SELECT, params![u, t, u, t, u, t, u, t, true, u, t, u, t])
        .await?
        .ok_or_else(|| ApiError::internal("a SELECT of subqueries gave no row"))?;
    Ok(Json(MyTitle {
        watchlisted: row.watchlisted > 0,
        rating: row.rating.map(|halves| halves as f64 / 2.0),
        logged_count: row.logged_count,
        last_logged_on: row.last_logged_on,
        liked: row.liked > 0,
        review_id: row.review_id,
        title_id,
    }))
}
