//! The diary (a title watched on a date, a rewatch flag, a rating in half
//! stars, a like, tags, an optional review with a spoiler flag) and the
//! four favourites.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};

use super::{bounded, decode_cursor, page, reader, writer, Page, PageQuery, Query};
use crate::access::{self, Member, Relation, Visibility};
use crate::titles::{self, TitleSummary};
use crate::{check_id, new_id, now_ms, App};

pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(log_entry))
        .routes(routes!(get_entry, delete_entry))
        .routes(routes!(diary_of_user))
        .routes(routes!(set_favourites))
        .routes(routes!(favourites_of_user))
}

/// The most tags on an entry, and the longest tag.
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 40;
/// How many favourites a profile shows.
pub const FAVOURITES: usize = 4;

/// A diary entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiaryView {
    pub id: String,
    pub user: Member,
    pub title_id: String,
    pub title: Option<TitleSummary>,
    /// `YYYY-MM-DD`.
    pub watched_on: String,
    pub rewatch: bool,
    /// Stars, 0.5–5 in halves; absent when not rated.
    pub rating: Option<f64>,
    pub liked: bool,
    pub tags: Vec<String>,
    pub review: Option<String>,
    /// The review gives the plot away: show it behind a warning.
    pub spoiler: bool,
    pub visibility: Visibility,
    /// Likes of the review.
    pub likes: i64,
    pub comments: i64,
    pub created_at: i64,
}

pub(crate) const DIARY_SELECT: &str = "SELECT d.id, d.user_id, m.handle, d.title_id, d.watched_on, d.rewatch, d.rating, d.liked, d.tags, \
     d.review, d.spoiler, d.visibility, d.created_at, \
     (SELECT COUNT(*) FROM likes k WHERE k.target_kind = 'review' AND k.target_id = d.id) AS like_count, \
     (SELECT COUNT(*) FROM comments c WHERE c.target_kind = 'review' AND c.target_id = d.id) AS comment_count \
     FROM diary d JOIN members m ON m.user_id = d.user_id";

impl FromRow for DiaryView {
    fn from_row(row: &Row) -> Result<DiaryView, StoreError> {
        let tags: Option<String> = row.get("tags")?;
        Ok(DiaryView {
            id: row.get("id")?,
            user: Member { id: row.get("user_id")?, handle: row.get("handle")? },
            title_id: row.get("title_id")?,
            title: None,
            watched_on: row.get("watched_on")?,
            rewatch: row.get("rewatch")?,
            rating: row.get::<Option<i64>>("rating")?.map(|halves| halves as f64 / 2.0),
            liked: row.get("liked")?,
            tags: tags.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
            review: row.get("review")?,
            spoiler: row.get("spoiler")?,
            visibility: Visibility::parse(&row.get::<String>("visibility")?)?,
            likes: row.get("like_count")?,
            comments: row.get("comment_count")?,
            created_at: row.get("created_at")?,
        })
    }
}

/// Fills in the titles of `entries` with one catalog read.
pub(crate) async fn entry_views(app: &App, mut entries: Vec<DiaryView>) -> Result<Vec<DiaryView>, ApiError> {
    let ids: Vec<String> = entries.iter().map(|e| e.title_id.clone()).collect();
    let found = titles::titles(&app.ctx, &ids).await?;
    for entry in &mut entries {
        entry.title = found.get(&entry.title_id).cloned();
    }
    Ok(entries)
}

/// A rating in stars (0.5–5 in halves) as half stars (1–10).
pub(crate) fn rating_halves(stars: f64) -> Result<i64, ApiError> {
    let halves = stars * 2.0;
    if !(1.0..=10.0).contains(&halves) || halves.fract() != 0.0 {
        return Err(ApiError::bad_request(format!(
            "rating {stars} must be 0.5 to 5 stars in halves (0.5, 1, 1.5 … 5)"
        )));
    }
    Ok(halves as i64)
}

/// Days since 1970-01-01 as (year, month, day) (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(crate) fn today() -> String {
    let (y, m, d) = civil(now_ms().div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Checks `YYYY-MM-DD`: a real day from 1870 to tomorrow.
fn check_date(text: &str) -> Result<(), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "watched_on must be a day as YYYY-MM-DD, from 1870 to today, not {:?}",
            text.chars().take(20).collect::<String>()
        ))
    };
    let parts: Vec<&str> = text.split('-').collect();
    if text.len() != 10 || parts.len() != 3 {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    let (ty, tm, td) = civil(now_ms().div_euclid(86_400_000) + 1);
    if !(1870..=2200).contains(&y) || !(1..=days).contains(&d) || (y, m, d) > (ty, tm, td) {
        return Err(bad());
    }
    Ok(())
}

/// A title to log.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiaryInput {
    pub title_id: String,
    /// `YYYY-MM-DD`; today when absent.
    pub watched_on: Option<String>,
    #[serde(default)]
    pub rewatch: bool,
    /// Stars, 0.5–5 in halves.
    pub rating: Option<f64>,
    #[serde(default)]
    pub liked: bool,
    /// At most 20 tags of at most 40 characters.
    #[serde(default)]
    pub tags: Vec<String>,
    /// At most `max_review_chars` (10 000 by default).
    pub review: Option<String>,
    #[serde(default)]
    pub spoiler: bool,
    /// `public` (default), `followers` or `private`.
    #[serde(default)]
    pub visibility: Visibility,
}

/// Logs a title in one's diary (with a rating, like, tags and review); it
/// appears in one's followers' feeds unless private.
#[utoipa::path(post, path = "/diary", request_body = DiaryInput, responses(
    (status = 201, body = DiaryView),
    (status = 400, description = "the rating, date, tags or review is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "the catalog has no such title", body = ApiError),
))]
async fn log_entry(
    State(app): State<App>,
    principal: Principal,
    Json(input): Json<DiaryInput>,
) -> Result<(StatusCode, Json<DiaryView>), ApiError> {
    let who = writer(&app, &principal).await?;
    let rating = input.rating.map(rating_halves).transpose()?;
    let watched_on = input.watched_on.clone().unwrap_or_else(today);
    check_date(&watched_on)?;
    if input.visibility == Visibility::Link {
        return Err(ApiError::bad_request(
            "a diary entry is public, followers or private (link is for lists)",
        ));
    }
    if input.tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!("give at most {MAX_TAGS} tags")));
    }
    for tag in &input.tags {
        if tag.trim().is_empty() {
            return Err(ApiError::bad_request("a tag must not be empty"));
        }
        bounded(Some(tag), "a tag", MAX_TAG)?;
    }
    bounded(input.review.as_deref(), "the review", app.settings.max_review_chars)?;
    let title = titles::require(&app.ctx, &input.title_id).await?;
    let id = new_id();
    let now = now_ms();
    let tags = serde_json::to_string(&input.tags).map_err(ApiError::internal)?;
    let review = input.review.clone().filter(|r| !r.trim().is_empty());
    app.db()
        .transaction(|tx| {
            let (id, who, title_id, watched_on, tags, review, input) =
                (&id, &who, &title.id, &watched_on, &tags, &review, &input);
            async move {
                tx.execute(
                    "INSERT INTO diary (id, user_id, title_id, watched_on, rewatch, rating, liked, tags, review, spoiler, visibility, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![id, &who.user_id, title_id, watched_on, input.rewatch, rating, input.liked, tags,
                        review.clone(), input.spoiler, input.visibility.as_str(), now],
                )
                .await?;
                crate::feed::record(&tx, &who.user_id, "diary", id, Some(title_id), input.visibility, now).await?;
                // A title rated below 2.5 stars is not a taste to recommend from.
                if rating.is_none_or(|r| r >= 5) || input.liked {
                    crate::recs::engage(&tx, &who.user_id, title_id, now).await?;
                }
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    let mut entry: DiaryView = app
        .db()
        .query_opt(&format!("{DIARY_SELECT} WHERE d.id = ?"), params![&id])
        .await?
        .ok_or_else(|| ApiError::internal("the entry just written is gone"))?;
    entry.title = Some(title);
    Ok((StatusCode::CREATED, Json(entry)))
}

/// The entry `id` if the reader may see it, else 404.
pub(crate) async fn visible_entry(
    app: &App,
    reader: Option<&str>,
    id: &str,
) -> Result<(DiaryView, Relation), ApiError> {
    check_id("diary entry", id)?;
    let missing = || ApiError::not_found(format!("there is no diary entry {id:?} you may see"));
    let entry: DiaryView = app
        .db()
        .query_opt(&format!("{DIARY_SELECT} WHERE d.id = ?"), params![id])
        .await?
        .ok_or_else(missing)?;
    let rel = access::relation(app.db(), reader, &entry.user.id).await?;
    if !rel.can_see(entry.visibility, false) {
        return Err(missing());
    }
    Ok((entry, rel))
}

/// A diary entry (and its review), if you may see it.
#[utoipa::path(get, path = "/diary/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = DiaryView),
    (status = 404, description = "no such entry, or not one you may see", body = ApiError),
))]
async fn get_entry(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DiaryView>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (entry, _) = visible_entry(&app, reader.as_deref(), &id).await?;
    Ok(Json(entry_views(&app, vec![entry]).await?.remove(0)))
}

/// Deletes one's diary entry, its likes, comments and feed item.
#[utoipa::path(delete, path = "/diary/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your entry", body = ApiError),
    (status = 404, description = "no such entry", body = ApiError),
))]
async fn delete_entry(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let (_, rel) = visible_entry(&app, Some(&who.user_id), &id).await?;
    if !rel.is_owner {
        return Err(ApiError::forbidden("only its author may delete a diary entry"));
    }
    app.db()
        .transaction(|tx| {
            let id = &id;
            async move {
                for sql in [
                    "DELETE FROM likes WHERE target_kind = 'review' AND target_id = ?",
                    "DELETE FROM comments WHERE target_kind = 'review' AND target_id = ?",
                    "DELETE FROM activity WHERE subject_id = ?",
                    "DELETE FROM diary WHERE id = ?",
                ] {
                    tx.execute(sql, params![id]).await?;
                }
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's diary entries that you may see, newest first.
#[utoipa::path(get, path = "/users/{user}/diary", params(("user" = String, Path, description = "handle or user id"), PageQuery), responses(
    (status = 200, body = Page<DiaryView>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn diary_of_user(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<DiaryView>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (owner, rel) = access::visible_member(app.db(), reader.as_deref(), &user).await?;
    let page_ = user_diary(&app, &owner.id, rel, q.cursor.as_deref(), q.limit()?).await?;
    Ok(Json(Page { items: entry_views(&app, page_.items).await?, next_cursor: page_.next_cursor }))
}

/// The diary of `owner` that a reader of `rel` may see, newest first (titles not filled in).
pub(crate) async fn user_diary(
    app: &App,
    owner: &str,
    rel: Relation,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<DiaryView>, ApiError> {
    let mut sql = format!("{DIARY_SELECT} WHERE d.user_id = ? AND d.visibility IN {}", rel.listed_sql());
    let mut values = vec![Value::Text(owner.to_owned())];
    if let Some(cursor) = cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(" AND (d.created_at < ? OR (d.created_at = ? AND d.id < ?))");
        values.extend([Value::Int(at), Value::Int(at), Value::Text(id)]);
    }
    sql.push_str(" ORDER BY d.created_at DESC, d.id DESC LIMIT ?");
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<DiaryView> = app.db().query_as(&sql, &values).await?;
    Ok(page(rows, limit, |d| (d.created_at, d.id.clone()), |d| d))
}

/// One's favourites.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FavouritesInput {
    /// At most four catalog title ids, in order; `[]` clears them.
    pub title_ids: Vec<String>,
}

/// A favourite.
#[derive(Debug, Serialize, ToSchema)]
pub struct Favourite {
    pub position: i64,
    pub title_id: String,
    pub title: Option<TitleSummary>,
}

/// Sets one's four favourites.
#[utoipa::path(put, path = "/favourites", request_body = FavouritesInput, responses(
    (status = 200, body = Vec<Favourite>),
    (status = 400, description = "more than four, or a title twice", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "the catalog has no such title", body = ApiError),
))]
async fn set_favourites(
    State(app): State<App>,
    principal: Principal,
    Json(input): Json<FavouritesInput>,
) -> Result<Json<Vec<Favourite>>, ApiError> {
    let who = writer(&app, &principal).await?;
    if input.title_ids.len() > FAVOURITES {
        return Err(ApiError::bad_request(format!("choose at most {FAVOURITES} favourites")));
    }
    for (i, id) in input.title_ids.iter().enumerate() {
        check_id("title_id", id)?;
        if input.title_ids[..i].contains(id) {
            return Err(ApiError::bad_request(format!("{id} is named twice")));
        }
    }
    let mut found = titles::titles(&app.ctx, &input.title_ids).await?;
    if let Some(missing) = input.title_ids.iter().find(|id| !found.contains_key(*id)) {
        return Err(ApiError::not_found(format!("the catalog has no title {missing:?}")));
    }
    app.db()
        .transaction(|tx| {
            let (who, ids) = (&who, &input.title_ids);
            async move {
                tx.execute("DELETE FROM favourites WHERE user_id = ?", params![&who.user_id]).await?;
                for (i, id) in ids.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO favourites (user_id, position, title_id) VALUES (?, ?, ?)",
                        params![&who.user_id, i as i64 + 1, id.as_str()],
                    )
                    .await?;
                }
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    Ok(Json(
        input
            .title_ids
            .iter()
            .enumerate()
            .map(|(i, id)| Favourite {
                position: i as i64 + 1,
                title_id: id.clone(),
                title: found.remove(id),
            })
            .collect(),
    ))
}

/// A user's favourites.
#[utoipa::path(get, path = "/users/{user}/favourites", params(("user" = String, Path, description = "handle or user id")), responses(
    (status = 200, body = Vec<Favourite>),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn favourites_of_user(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
) -> Result<Json<Vec<Favourite>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (owner, _) = access::visible_member(app.db(), reader.as_deref(), &user).await?;
    let rows = app
        .db()
        .query(
            "SELECT position, title_id FROM favourites WHERE user_id = ? ORDER BY position LIMIT ?",
            params![&owner.id, FAVOURITES as i64],
        )
        .await?;
    let ids = rows.iter().map(|r| r.get::<String>("title_id")).collect::<Result<Vec<_>, _>>()?;
    let mut found = titles::titles(&app.ctx, &ids).await?;
    let mut out = Vec::new();
    for row in &rows {
        let title_id: String = row.get("title_id")?;
        out.push(Favourite { position: row.get("position")?, title: found.remove(&title_id), title_id });
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_half_stars() {
        assert_eq!(rating_halves(0.5).unwrap(), 1);
        assert_eq!(rating_halves(5.0).unwrap(), 10);
        assert_eq!(rating_halves(3.5).unwrap(), 7);
        for bad in [0.0, 5.5, 3.3, -1.0, f64::NAN] {
            assert!(rating_halves(bad).unwrap_err().message().contains("0.5 to 5"), "{bad}");
        }
    }

    #[test]
    fn dates_are_real_days() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        check_date("2024-02-29").unwrap();
        for bad in ["2023-02-29", "2024-13-01", "1869-12-31", "3000-01-01", "2024-1-1", "yesterday"] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
    }
}
