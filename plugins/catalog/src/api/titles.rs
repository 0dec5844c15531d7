//! Titles: browse and discover, top lists, one title with its akas, cast,
//! links and seasons, create, change, delete; the episodes of a series by
//! season; credits.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError, Tx};
use serde::{Deserialize, Deserializer};

use super::views::{
    self, AkaView, CreditView, LinkView, SeasonView, TitleView, CREDIT_SELECT, TITLE_COLUMNS,
};
use super::{
    bounded, check_id, decode_cursor, limit, page_of, require_write, words, Page, PageQuery, Query, MAX_LIMIT,
};
use crate::model::{clip, now_ms, sort_key, Kind, CATEGORIES};
use crate::ratings::WEIGHTED_SQL;
use crate::Shared;

type Shared_ = std::sync::Arc<Shared>;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new()
        .routes(routes!(browse, create))
        .routes(routes!(top))
        .routes(routes!(get_title, patch_title, delete_title))
        .routes(routes!(seasons))
        .routes(routes!(episodes))
        .routes(routes!(title_credits, add_credit))
        .routes(routes!(delete_credit))
}

/// How a page of titles is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    /// Most votes first.
    #[default]
    Popularity,
    /// Highest weighted rating first.
    Rating,
    /// Newest first.
    Year,
    /// A to Z.
    Title,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// Kinds, comma-separated (`movie,series`); without it every kind but episodes and seasons.
    kind: Option<String>,
    /// One genre (`Drama`), as IMDb spells it.
    genre: Option<String>,
    year_min: Option<i64>,
    year_max: Option<i64>,
    /// A decade (`1990` = 1990–1999).
    decade: Option<i64>,
    /// The lowest rating (0–10).
    rating_min: Option<f64>,
    /// `popularity` (default), `rating` (weighted), `year` or `title`.
    #[param(inline)]
    sort: Option<SortBy>,
    limit: Option<usize>,
    cursor: Option<String>,
    /// Only these titles, comma-separated (at most 100; any kind): one read
    /// for a page of another plugin's items (social's lists and feed).
    ids: Option<String>,
}

/// Browse and discover titles: filters and a sort, a page at a time.
#[utoipa::path(get, path = "/titles", params(BrowseQuery), responses(
    (status = 200, body = Page<TitleView>),
    (status = 400, description = "a filter, the sort or the cursor is not valid", body = ApiError),
))]
async fn browse(
    State(shared): State<Shared_>,
    Query(q): Query<BrowseQuery>,
) -> Result<Json<Page<TitleView>>, ApiError> {
    let sort = q.sort.unwrap_or_default();
    list_titles(&shared, q, sort).await.map(Json)
}

/// The top titles by weighted rating, optionally of a genre, a decade or kinds.
#[utoipa::path(get, path = "/top", params(BrowseQuery), responses(
    (status = 200, body = Page<TitleView>),
    (status = 400, description = "a filter or the cursor is not valid", body = ApiError),
))]
async fn top(
    State(shared): State<Shared_>,
    Query(q): Query<BrowseQuery>,
) -> Result<Json<Page<TitleView>>, ApiError> {
    list_titles(&shared, q, SortBy::Rating).await.map(Json)
}

async fn list_titles(shared: &Shared, q: BrowseQuery, sort: SortBy) -> Result<Page<TitleView>, ApiError> {
    let limit = limit(q.limit)?;
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let kinds = words(q.kind.as_deref(), 6, "kind")?;
    let ids = words(q.ids.as_deref(), MAX_LIMIT, "ids")?;
    for id in &ids {
        check_id(id, "title")?;
    }
    if !ids.is_empty() {
        clauses.push(format!("id IN ({})", vec!["?"; ids.len()].join(", ")));
        values.extend(ids.into_iter().map(Value::Text));
    } else if kinds.is_empty() {
        clauses.push("kind <> 'episode' AND kind <> 'season'".into());
    } else {
        for kind in &kinds {
            Kind::parse(kind).map_err(ApiError::bad_request)?;
        }
        clauses.push(format!("kind IN ({})", vec!["?"; kinds.len()].join(", ")));
        values.extend(kinds.into_iter().map(Value::Text));
    }
    if let Some(genre) = &q.genre {
        if genre.is_empty() || genre.len() > 32 {
            return Err(ApiError::bad_request("genre must be 1-32 characters (e.g. Drama)"));
        }
        clauses.push("id IN (SELECT title_id FROM title_genres WHERE genre = ?)".into());
        values.push(Value::Text(genre.clone()));
    }
    let (mut year_min, mut year_max) = (q.year_min, q.year_max);
    if let Some(decade) = q.decade {
        if decade % 10 != 0 || !(1800..=2200).contains(&decade) {
            return Err(ApiError::bad_request(format!(
                "decade {decade} must be a year ending in 0, e.g. 1990"
            )));
        }
        year_min = Some(year_min.map_or(decade, |y| y.max(decade)));
        year_max = Some(year_max.map_or(decade + 9, |y| y.min(decade + 9)));
    }
    if let (Some(min), Some(max)) = (year_min, year_max) {
        if min > max {
            return Err(ApiError::bad_request(format!("year_min {min} is after year_max {max}")));
        }
    }
    if let Some(min) = year_min {
        clauses.push("start_year >= ?".into());
        values.push(Value::Int(min));
    }
    if let Some(max) = year_max {
        clauses.push("start_year <= ?".into());
        values.push(Value::Int(max));
    }
    if let Some(min) = q.rating_min {
        if !(0.0..=10.0).contains(&min) {
            return Err(ApiError::bad_request(format!("rating_min {min} must be 0 to 10")));
        }
        clauses.push("rating >= ?".into());
        values.push(Value::Real(min));
    }
    let (mc, m) = shared.weights().await?;
    let weighted = WEIGHTED_SQL;
    let (key, order, cursor_kinds) = match sort {
        SortBy::Popularity => ("popularity".to_owned(), "popularity DESC, id", "it"),
        SortBy::Year => ("sort_year".to_owned(), "sort_year DESC, id", "it"),
        SortBy::Title => ("sort_title".to_owned(), "sort_title, id", "tt"),
        SortBy::Rating => (weighted.to_owned(), "", "rt"),
    };
    let key_values = |values: &mut Vec<Value>| {
        if sort == SortBy::Rating {
            values.push(Value::Real(mc));
            values.push(Value::Real(m));
        }
    };
    if let Some(cursor) = &q.cursor {
        let parts = decode_cursor(cursor, cursor_kinds)?;
        let cmp = if sort == SortBy::Title { ">" } else { "<" };
        clauses.push(format!("({key} {cmp} ? OR ({key} = ? AND id > ?))"));
        // The key expression binds m·C and m before each use.
        let mut bound = Vec::new();
        key_values(&mut bound);
        bound.push(parts[0].clone());
        key_values(&mut bound);
        bound.extend([parts[0].clone(), parts[1].clone()]);
        values.extend(bound);
    }
    let order = if sort == SortBy::Rating {
        key_values(&mut values);
        format!("{weighted} DESC, id")
    } else {
        order.to_owned()
    };
    values.push(Value::Int(limit as i64 + 1));
    let sql = format!(
        "SELECT {TITLE_COLUMNS}, sort_title, sort_year, {weighted} AS weighted FROM titles WHERE {} ORDER BY {order} LIMIT ?",
        clauses.join(" AND ")
    );
    // The selected weighted column binds m·C and m first.
    let mut all = vec![Value::Real(mc), Value::Real(m)];
    all.extend(values);
    let rows = shared.ctx.db().query(&sql, &all).await?;
    let build = |row: &Row| {
        let mut title = TitleView::from_row(row)?;
        title.weighted_rating = Some(row.get("weighted")?);
        Ok(title)
    };
    Ok(page_of(&rows, limit, build, |last| {
        let key = match sort {
            SortBy::Popularity => Value::Int(last.get("popularity")?),
            SortBy::Year => Value::Int(last.get("sort_year")?),
            SortBy::Title => Value::Text(last.get("sort_title")?),
            SortBy::Rating => Value::Real(last.get("weighted")?),
        };
        Ok(vec![key, Value::Text(last.get("id")?)])
    })?)
}

/// A title with what a title page shows.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TitleDetail {
    #[serde(flatten)]
    pub title: TitleView,
    /// Every aka (at most 500).
    pub akas: Vec<AkaView>,
    /// The first credits in billing order (the rest: `/titles/{id}/credits`).
    pub credits: Vec<CreditView>,
    pub credits_next_cursor: Option<String>,
    /// The linked assets: features, trailers, extras.
    pub links: Vec<LinkView>,
    /// For a series: its seasons.
    pub seasons: Vec<SeasonView>,
}

/// One title, with its akas, first credits, links and seasons.
#[utoipa::path(get, path = "/titles/{id}", params(("id" = String, Path, description = "title id")), responses(
    (status = 200, body = TitleDetail),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn get_title(
    State(shared): State<Shared_>,
    Path(id): Path<String>,
) -> Result<Json<TitleDetail>, ApiError> {
    check_id(&id, "title")?;
    let db = shared.ctx.db();
    let title = views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    let akas = db
        .query_as("SELECT * FROM akas WHERE title_id = ? ORDER BY ordering LIMIT ?", params![&id, 500])
        .await?;
    let credits = credits_page(db, &id, None, 50).await?;
    let links = super::links::links_of(&shared, &id).await?;
    let seasons = if title.kind == Kind::Series { seasons_of(db, &id).await? } else { Vec::new() };
    Ok(Json(TitleDetail {
        title,
        akas,
        credits: credits.items,
        credits_next_cursor: credits.next_cursor,
        links,
        seasons,
    }))
}

pub(super) fn no_title(id: &str) -> ApiError {
    ApiError::not_found(format!("there is no title {:?}", clip(id, 40)))
}

async fn credits_page(
    db: &impl Sql,
    title: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<CreditView>, ApiError> {
    let mut values = vec![Value::Text(title.to_owned())];
    let mut after = String::new();
    if let Some(cursor) = cursor {
        let parts = decode_cursor(cursor, "it")?;
        after = " AND (billing > ? OR (billing = ? AND credits.id > ?))".into();
        values.extend([parts[0].clone(), parts[0].clone(), parts[1].clone()]);
    }
    values.push(Value::Int(limit as i64 + 1));
    // IMDb lists the principal directors and writers in both files: the
    // crew's copy of a credit the cast already has is left out.
    let sql = format!(
        "{CREDIT_SELECT} WHERE credits.title_id = ?{after} AND NOT (source = 'crew' AND EXISTS (SELECT 1 FROM credits c2 \
         WHERE c2.title_id = credits.title_id AND c2.person_id = credits.person_id AND c2.category = credits.category \
         AND c2.source <> 'crew')) ORDER BY billing, credits.id LIMIT ?"
    );
    let rows = db.query(&sql, &values).await?;
    Ok(page_of(&rows, limit, CreditView::from_row, |last| {
        Ok(vec![Value::Int(last.get("billing")?), Value::Text(last.get("id")?)])
    })?)
}

/// A title's credits, in billing order.
#[utoipa::path(get, path = "/titles/{id}/credits", params(("id" = String, Path), PageQuery), responses(
    (status = 200, body = Page<CreditView>),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn title_credits(
    State(shared): State<Shared_>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<CreditView>>, ApiError> {
    check_id(&id, "title")?;
    let db = shared.ctx.db();
    views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    Ok(Json(credits_page(db, &id, q.cursor.as_deref(), limit(q.limit)?).await?))
}

/// A credit to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditInput {
    pub person_id: String,
    /// `actor`, `actress`, `director`, `writer`, `producer`, `composer`…
    pub category: String,
    pub job: Option<String>,
    #[serde(default)]
    pub characters: Vec<String>,
    /// Order of billing (lower first); after the others when absent.
    pub billing: Option<i64>,
}

/// Adds a credit to a title (admin, `catalog:write`).
#[utoipa::path(post, path = "/titles/{id}/credits", params(("id" = String, Path)), request_body = CreditInput, responses(
    (status = 201, body = CreditView),
    (status = 400, description = "the category, job or characters are not valid, or there is no such person", body = ApiError),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn add_credit(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input): Json<CreditInput>,
) -> Result<(StatusCode, Json<CreditView>), ApiError> {
    require_write(&principal)?;
    check_id(&id, "title")?;
    let db = shared.ctx.db();
    views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    check_id(&input.person_id, "person").map_err(|e| ApiError::bad_request(e.message().to_owned()))?;
    if views::person(db, &input.person_id).await?.is_none() {
        return Err(ApiError::bad_request(format!(
            "there is no person {:?}: create them first",
            input.person_id
        )));
    }
    if !CATEGORIES.contains(&input.category.as_str()) {
        return Err(ApiError::bad_request(format!(
            "category {:?} must be one of {}",
            clip(&input.category, 40),
            CATEGORIES.join(", ")
        )));
    }
    bounded(&input.job, "job", 500)?;
    if input.characters.len() > 50 || input.characters.iter().any(|c| c.is_empty() || c.chars().count() > 300)
    {
        return Err(ApiError::bad_request("characters must be at most 50 names of 1-300 characters"));
    }
    let billing = match input.billing {
        Some(b) if !(0..=1_000_000).contains(&b) => {
            return Err(ApiError::bad_request("billing must be 0 to 1000000"))
        }
        Some(b) => b,
        None => {
            let rows = db
                .query(
                    "SELECT MAX(billing) AS b FROM credits WHERE title_id = ? AND billing < ?",
                    params![&id, 1000],
                )
                .await?;
            rows.first().map(|r| r.get::<Option<i64>>("b")).transpose()?.flatten().map_or(1, |b| b + 1)
        }
    };
    let credit_id = uuid::Uuid::now_v7().to_string();
    let characters =
        (!input.characters.is_empty()).then(|| serde_json::to_string(&input.characters).unwrap_or_default());
    db.execute(
        "INSERT INTO credits (id, title_id, person_id, category, job, characters, billing, source) VALUES (?, ?, ?, ?, ?, ?, ?, 'api')",
        params![&credit_id, &id, &input.person_id, &input.category, input.job, characters, billing],
    )
    .await?;
    let credit: CreditView = db
        .query_opt(&format!("{CREDIT_SELECT} WHERE credits.id = ?"), params![&credit_id])
        .await?
        .ok_or_else(|| ApiError::internal("the new credit is gone"))?;
    Ok((StatusCode::CREATED, Json(credit)))
}

/// Removes a credit (admin, `catalog:write`).
#[utoipa::path(delete, path = "/credits/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "removed"),
    (status = 404, description = "no such credit", body = ApiError),
))]
async fn delete_credit(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_write(&principal)?;
    if id.len() > 64 {
        return Err(ApiError::not_found("there is no such credit"));
    }
    match shared.ctx.db().execute("DELETE FROM credits WHERE id = ?", params![&id]).await? {
        0 => Err(ApiError::not_found(format!("there is no credit {:?}", clip(&id, 64)))),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

async fn seasons_of(db: &impl Sql, series: &str) -> Result<Vec<SeasonView>, StoreError> {
    let counts = db
        .query(
            "SELECT season_number, COUNT(*) AS n FROM titles WHERE series_id = ? AND kind = 'episode' \
             GROUP BY season_number ORDER BY season_number LIMIT ?",
            params![series, 1000],
        )
        .await?;
    let own = db
        .query(
            "SELECT id, season_number FROM titles WHERE series_id = ? AND kind = 'season' LIMIT ?",
            params![series, 1000],
        )
        .await?;
    let mut seasons = Vec::new();
    for row in &counts {
        let number: Option<i64> = row.get("season_number")?;
        let title_id = own.iter().find(|r| r.get::<Option<i64>>("season_number").ok().flatten() == number);
        seasons.push(SeasonView {
            season_number: number,
            episodes: row.get("n")?,
            title_id: title_id.map(|r| r.get("id")).transpose()?,
        });
    }
    for row in &own {
        let number: Option<i64> = row.get("season_number")?;
        if !seasons.iter().any(|s| s.season_number == number) {
            seasons.push(SeasonView { season_number: number, episodes: 0, title_id: Some(row.get("id")?) });
        }
    }
    seasons.sort_by_key(|s| s.season_number);
    Ok(seasons)
}

/// The seasons of a series, with their episode counts.
#[utoipa::path(get, path = "/titles/{id}/seasons", params(("id" = String, Path)), responses(
    (status = 200, body = Vec<SeasonView>),
    (status = 404, description = "no such series", body = ApiError),
))]
async fn seasons(
    State(shared): State<Shared_>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SeasonView>>, ApiError> {
    check_id(&id, "series")?;
    let db = shared.ctx.db();
    series(db, &id).await?;
    Ok(Json(seasons_of(db, &id).await?))
}

async fn series(db: &impl Sql, id: &str) -> Result<TitleView, ApiError> {
    match views::title(db, id).await? {
        Some(title) if title.kind == Kind::Series => Ok(title),
        Some(_) => Err(ApiError::not_found(format!("the title {id} is not a series"))),
        None => Err(no_title(id)),
    }
}

/// The episodes of one season of a series, in episode order (season `none`
/// for episodes without a season).
#[utoipa::path(get, path = "/titles/{id}/seasons/{season}/episodes", params(
    ("id" = String, Path), ("season" = String, Path, description = "season number, or none"), PageQuery), responses(
    (status = 200, body = Page<TitleView>),
    (status = 404, description = "no such series", body = ApiError),
))]
async fn episodes(
    State(shared): State<Shared_>,
    Path((id, season)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<TitleView>>, ApiError> {
    check_id(&id, "series")?;
    let db = shared.ctx.db();
    series(db, &id).await?;
    let limit = limit(q.limit)?;
    let mut values = vec![Value::Text(id.clone())];
    let season_clause = if season == "none" {
        "season_number IS NULL".to_owned()
    } else {
        let n: i64 = season.parse().map_err(|_| {
            ApiError::bad_request(format!("season {:?} must be a number or none", clip(&season, 20)))
        })?;
        values.push(Value::Int(n));
        "season_number = ?".to_owned()
    };
    let mut after = String::new();
    if let Some(cursor) = &q.cursor {
        let parts = decode_cursor(cursor, "it")?;
        after =
            " AND (COALESCE(episode_number, -1) > ? OR (COALESCE(episode_number, -1) = ? AND id > ?))".into();
        values.extend([parts[0].clone(), parts[0].clone(), parts[1].clone()]);
    }
    values.push(Value::Int(limit as i64 + 1));
    let sql = format!(
        "SELECT {TITLE_COLUMNS} FROM titles WHERE series_id = ? AND kind = 'episode' AND {season_clause}{after} \
         ORDER BY COALESCE(episode_number, -1), id LIMIT ?"
    );
    let rows = db.query(&sql, &values).await?;
    Ok(Json(page_of(&rows, limit, TitleView::from_row, |last| {
        let episode: Option<i64> = last.get("episode_number")?;
        Ok(vec![Value::Int(episode.unwrap_or(-1)), Value::Text(last.get("id")?)])
    })?))
}

/// A title's name in a region or language, as written.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AkaInput {
    pub title: String,
    pub region: Option<String>,
    pub language: Option<String>,
}

/// A new title.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TitleInput {
    pub kind: Kind,
    pub primary_title: String,
    pub original_title: Option<String>,
    /// `tt…`: the title becomes that IMDb title (its id), so an import updates it.
    pub imdb_id: Option<String>,
    #[serde(default)]
    pub is_adult: bool,
    pub start_year: Option<i64>,
    pub end_year: Option<i64>,
    pub runtime_minutes: Option<i64>,
    #[serde(default)]
    pub genres: Vec<String>,
    pub synopsis: Option<String>,
    pub certificate: Option<String>,
    /// An episode's or season's series.
    pub series_id: Option<String>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
    #[serde(default)]
    pub akas: Vec<AkaInput>,
}

fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a title: a field left out stays, `null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TitlePatch {
    pub kind: Option<Kind>,
    pub primary_title: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub original_title: Option<Option<String>>,
    pub is_adult: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub start_year: Option<Option<i64>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub end_year: Option<Option<i64>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub runtime_minutes: Option<Option<i64>>,
    pub genres: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub synopsis: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub certificate: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub series_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub season_number: Option<Option<i64>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub episode_number: Option<Option<i64>>,
    /// Replaces every aka.
    pub akas: Option<Vec<AkaInput>>,
}

fn year(value: Option<i64>, what: &str) -> Result<(), ApiError> {
    match value {
        Some(y) if !(1800..=2200).contains(&y) => {
            Err(ApiError::bad_request(format!("{what} {y} must be 1800 to 2200")))
        }
        _ => Ok(()),
    }
}

async fn check_title(db: &impl Sql, id: Option<&str>, t: &TitleInput) -> Result<(), ApiError> {
    let name = t.primary_title.trim();
    if name.is_empty() || name.chars().count() > 1000 {
        return Err(ApiError::bad_request("primary_title must be 1-1000 characters"));
    }
    bounded(&t.original_title, "original_title", 1000)?;
    bounded(&t.synopsis, "synopsis", 20_000)?;
    bounded(&t.certificate, "certificate", 32)?;
    year(t.start_year, "start_year")?;
    year(t.end_year, "end_year")?;
    if let (Some(start), Some(end)) = (t.start_year, t.end_year) {
        if end < start {
            return Err(ApiError::bad_request(format!("end_year {end} is before start_year {start}")));
        }
    }
    if t.runtime_minutes.is_some_and(|r| !(0..=100_000).contains(&r)) {
        return Err(ApiError::bad_request("runtime_minutes must be 0 to 100000"));
    }
    if t.genres.len() > 16 || t.genres.iter().any(|g| g.is_empty() || g.len() > 32 || g.contains(',')) {
        return Err(ApiError::bad_request(
            "genres must be at most 16 names of 1-32 characters without commas",
        ));
    }
    if t.akas.len() > 500
        || t.akas.iter().any(|a| a.title.trim().is_empty() || a.title.chars().count() > 1000)
        || t.akas.iter().any(|a| {
            a.region.as_ref().is_some_and(|r| r.len() > 8) || a.language.as_ref().is_some_and(|l| l.len() > 8)
        })
    {
        return Err(ApiError::bad_request("akas must be at most 500, each a title of 1-1000 characters with a region and language of at most 8"));
    }
    for n in [t.season_number, t.episode_number].into_iter().flatten() {
        if !(0..=100_000).contains(&n) {
            return Err(ApiError::bad_request("season_number and episode_number must be 0 to 100000"));
        }
    }
    match (t.kind, &t.series_id) {
        (Kind::Episode | Kind::Season, Some(series_id)) => {
            if Some(series_id.as_str()) == id {
                return Err(ApiError::bad_request("a title cannot be its own series"));
            }
            check_id(series_id, "series").map_err(|e| ApiError::bad_request(e.message().to_owned()))?;
            match views::title(db, series_id).await? {
                Some(s) if s.kind == Kind::Series => {}
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "series_id {series_id:?} is not a series of the catalog"
                    )))
                }
            }
        }
        (Kind::Season, None) => return Err(ApiError::bad_request("a season needs series_id")),
        (Kind::Episode, None) => {}
        (_, Some(_)) => return Err(ApiError::bad_request("only an episode or a season has a series_id")),
        (_, None) => {}
    }
    if t.kind == Kind::Season && t.season_number.is_none() {
        return Err(ApiError::bad_request("a season needs season_number"));
    }
    Ok(())
}

async fn write_title(tx: &Tx, id: &str, t: &TitleInput, new: bool) -> Result<(), StoreError> {
    let now = now_ms();
    let genres = t.genres.join(",");
    let values = params![
        t.kind.as_str(),
        t.primary_title.trim(),
        t.original_title.clone(),
        sort_key(&t.primary_title),
        t.is_adult,
        t.start_year,
        t.end_year,
        t.start_year.unwrap_or(0),
        t.runtime_minutes,
        genres,
        t.synopsis.clone(),
        t.certificate.clone(),
        t.series_id.clone(),
        t.season_number,
        t.episode_number,
        now,
        id
    ];
    if new {
        tx.execute(
            "INSERT INTO titles (kind, primary_title, original_title, sort_title, is_adult, start_year, end_year, sort_year, \
             runtime_minutes, genres, synopsis, certificate, series_id, season_number, episode_number, updated_at, id, \
             imdb_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[values, params![id.starts_with("tt").then_some(id), now]].concat(),
        )
        .await?;
    } else {
        tx.execute(
            "UPDATE titles SET kind = ?, primary_title = ?, original_title = ?, sort_title = ?, is_adult = ?, start_year = ?, \
             end_year = ?, sort_year = ?, runtime_minutes = ?, genres = ?, synopsis = ?, certificate = ?, series_id = ?, \
             season_number = ?, episode_number = ?, updated_at = ? WHERE id = ?",
            values,
        )
        .await?;
    }
    tx.execute("DELETE FROM title_genres WHERE title_id = ?", params![id]).await?;
    let mut seen = Vec::new();
    for genre in &t.genres {
        if !seen.contains(genre) {
            tx.execute("INSERT INTO title_genres (title_id, genre) VALUES (?, ?)", params![id, genre])
                .await?;
            seen.push(genre.clone());
        }
    }
    Ok(())
}

async fn write_akas(tx: &Tx, id: &str, akas: &[AkaInput]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM akas WHERE title_id = ?", params![id]).await?;
    for (i, aka) in akas.iter().enumerate() {
        tx.execute(
            "INSERT INTO akas (title_id, ordering, title, region, language, is_original) VALUES (?, ?, ?, ?, ?, FALSE)",
            params![id, i as i64 + 1, aka.title.trim(), aka.region.clone(), aka.language.clone()],
        )
        .await?;
    }
    Ok(())
}

/// Creates a title (admin, `catalog:write`).
#[utoipa::path(operation_id = "create_titles", post, path = "/titles", request_body = TitleInput, responses(
    (status = 201, body = TitleView),
    (status = 400, description = "a field is not valid", body = ApiError),
    (status = 409, description = "the IMDb id is taken, or an import is running", body = ApiError),
))]
async fn create(
    State(shared): State<Shared_>,
    principal: Principal,
    Json(input): Json<TitleInput>,
) -> Result<(StatusCode, Json<TitleView>), ApiError> {
    require_write(&principal)?;
    let db = shared.ctx.db();
    check_title(db, None, &input).await?;
    let id = match &input.imdb_id {
        Some(imdb) => {
            crate::imdb::datasets::parse_id(imdb, "tt").map_err(ApiError::bad_request)?;
            super::refuse_while_importing(&shared, "create a title with an IMDb id")?;
            imdb.clone()
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let input = std::sync::Arc::new(input);
    let outcome = db
        .transaction(|tx| {
            let (id, input) = (id.clone(), input.clone());
            async move {
                write_title(&tx, &id, &input, true).await?;
                write_akas(&tx, &id, &input.akas).await
            }
        })
        .await;
    match outcome {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(format!("the title {id} exists already")))
        }
        other => other?,
    }
    super::reindex(&shared, std::slice::from_ref(&id), &[]).await;
    let title = views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    Ok((StatusCode::CREATED, Json(title)))
}

/// Changes a title (admin, `catalog:write`): the fields given.
#[utoipa::path(patch, path = "/titles/{id}", params(("id" = String, Path)), request_body = TitlePatch, responses(
    (status = 200, body = TitleView),
    (status = 400, description = "a field is not valid", body = ApiError),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn patch_title(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
    Json(patch): Json<TitlePatch>,
) -> Result<Json<TitleView>, ApiError> {
    require_write(&principal)?;
    check_id(&id, "title")?;
    let db = shared.ctx.db();
    let current = views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    let replace_akas = patch.akas.is_some();
    let merged = TitleInput {
        kind: patch.kind.unwrap_or(current.kind),
        primary_title: patch.primary_title.unwrap_or(current.primary_title),
        original_title: patch.original_title.unwrap_or(current.original_title),
        imdb_id: None,
        is_adult: patch.is_adult.unwrap_or(current.is_adult),
        start_year: patch.start_year.unwrap_or(current.start_year),
        end_year: patch.end_year.unwrap_or(current.end_year),
        runtime_minutes: patch.runtime_minutes.unwrap_or(current.runtime_minutes),
        genres: patch.genres.unwrap_or(current.genres),
        synopsis: patch.synopsis.unwrap_or(current.synopsis),
        certificate: patch.certificate.unwrap_or(current.certificate),
        series_id: patch.series_id.unwrap_or(current.series_id),
        season_number: patch.season_number.unwrap_or(current.season_number),
        episode_number: patch.episode_number.unwrap_or(current.episode_number),
        akas: patch.akas.unwrap_or_default(),
    };
    check_title(db, Some(&id), &merged).await?;
    if current.kind == Kind::Series && merged.kind != Kind::Series && has_episodes(db, &id).await? {
        return Err(ApiError::conflict("the series has episodes or seasons: it must stay a series"));
    }
    let merged = std::sync::Arc::new(merged);
    db.transaction(|tx| {
        let (id, merged) = (id.clone(), merged.clone());
        async move {
            write_title(&tx, &id, &merged, false).await?;
            if replace_akas {
                write_akas(&tx, &id, &merged.akas).await?;
            }
            Ok::<_, StoreError>(())
        }
    })
    .await?;
    super::reindex(&shared, std::slice::from_ref(&id), &[]).await;
    Ok(Json(views::title(db, &id).await?.ok_or_else(|| no_title(&id))?))
}

async fn has_episodes(db: &impl Sql, id: &str) -> Result<bool, StoreError> {
    Ok(!db.query("SELECT id FROM titles WHERE series_id = ? LIMIT ?", params![id, 1]).await?.is_empty())
}

/// Deletes a title with its akas, credits, links, ratings and images
/// (admin, `catalog:write`); a series must lose its episodes first.
#[utoipa::path(delete, path = "/titles/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 404, description = "no such title", body = ApiError),
    (status = 409, description = "a series that still has episodes or seasons, or an imported title while an import runs", body = ApiError),
))]
async fn delete_title(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_write(&principal)?;
    check_id(&id, "title")?;
    if crate::imdb::datasets::parse_id(&id, "tt").is_ok() {
        super::refuse_while_importing(&shared, "delete an imported title")?;
    }
    let db = shared.ctx.db();
    views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    if has_episodes(db, &id).await? {
        return Err(ApiError::conflict("the series still has episodes or seasons: delete them first"));
    }
    let keys = db.query("SELECT poster_key, backdrop_key FROM titles WHERE id = ?", params![&id]).await?;
    db.transaction(|tx| {
        let id = id.clone();
        async move {
            for table in ["akas", "title_genres", "credits", "links", "user_ratings"] {
                tx.execute(&format!("DELETE FROM {table} WHERE title_id = ?"), params![&id]).await?;
            }
            tx.execute("DELETE FROM titles WHERE id = ?", params![&id]).await?;
            Ok::<_, StoreError>(())
        }
    })
    .await?;
    for row in &keys {
        for column in ["poster_key", "backdrop_key"] {
            if let Some(key) = row.get::<Option<String>>(column)? {
                for key in [super::images::thumb_of(&key), key] {
                    if let Err(error) = shared.ctx.objects().delete(&key).await {
                        tracing::warn!(plugin = crate::NAME, %error, "cannot delete a title's image");
                    }
                }
            }
        }
    }
    if let Err(error) = shared.index.delete(id.clone()).await {
        tracing::error!(plugin = crate::NAME, %error, "cannot remove a title from the search index");
    }
    super::reindex(&shared, &[], &[]).await;
    Ok(StatusCode::NO_CONTENT)
}
