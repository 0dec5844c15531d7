//! Search as you type over titles (every aka) and people: typo-tolerant,
//! accents and case folded, ranked by relevance then popularity, with the
//! browse filters. Each hit comes with its title or person.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::State;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{routes, ApiError, FromRow, Json};
use cdlc_search::{SearchQuery, Sort, Target};
use serde::{Deserialize, Serialize};

use super::views::{PersonView, TitleView, PERSON_COLUMNS, TITLE_COLUMNS};
use super::{decode_cursor, encode_cursor, limit, words, Query};
use crate::index::IndexError;
use crate::sql::query_ids;
use crate::Shared;

type Shared_ = std::sync::Arc<Shared>;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new().routes(routes!(search))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words typed so far; the last one also matches as a prefix.
    q: Option<String>,
    /// `titles`, `people` or `all` (default).
    target: Option<String>,
    /// Kinds, comma-separated.
    kind: Option<String>,
    /// Genres, comma-separated (any of them).
    genre: Option<String>,
    year_min: Option<i32>,
    year_max: Option<i32>,
    rating_min: Option<f32>,
    /// `relevance` (default), `popularity`, `rating`, `year` or `title`.
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// One hit with what it found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub id: String,
    /// `titles` or `people`.
    pub target: String,
    /// The name that matched best (an aka, for instance).
    pub name: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<TitleView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub items: Vec<SearchHit>,
    /// Every match, not only this page.
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Searches titles and people.
#[utoipa::path(get, path = "/search", params(SearchParams), responses(
    (status = 200, body = SearchResults),
    (status = 400, description = "a filter is not valid", body = ApiError),
))]
async fn search(
    State(shared): State<Shared_>,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let limit = limit(p.limit)?;
    let offset = match &p.cursor {
        Some(cursor) => decode_cursor(cursor, "i")?[0].clone(),
        None => Value::Int(0),
    };
    let Value::Int(offset) = offset else { return Err(ApiError::bad_request("the cursor is not valid")) };
    let offset = offset.max(0) as usize;
    if offset >= cdlc_search::MAX_OFFSET {
        return Err(ApiError::bad_request(format!(
            "search pages end after {} hits: narrow the search with more words or filters",
            cdlc_search::MAX_OFFSET
        )));
    }
    let target = match p.target.as_deref() {
        None | Some("all") => Target::All,
        Some("titles") => Target::Titles,
        Some("people") => Target::People,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "target {:?} must be titles, people or all",
                crate::model::clip(other, 20)
            )))
        }
    };
    let sort = match p.sort.as_deref() {
        None | Some("relevance") => Sort::Relevance,
        Some("popularity") => Sort::Popularity,
        Some("rating") => Sort::Rating,
        Some("year") => Sort::Year,
        Some("title") => Sort::Title,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort {:?} must be relevance, popularity, rating, year or title",
                crate::model::clip(other, 20)
            )))
        }
    };
    let query = SearchQuery {
        text: p.q.unwrap_or_default(),
        target,
        kinds: words(p.kind.as_deref(), cdlc_search::MAX_FILTER_VALUES, "kind")?,
        genres: words(p.genre.as_deref(), cdlc_search::MAX_FILTER_VALUES, "genre")?,
        year_min: p.year_min,
        year_max: p.year_max,
        rating_min: p.rating_min,
        limit,
        offset,
    };
    let page = shared.index.search(query, sort).await.map_err(|e| match e {
        IndexError::Search(e) if e.is_bad_request() => ApiError::bad_request(e.to_string()),
        other => ApiError::internal(other),
    })?;
    let db = shared.ctx.db();
    let title_ids: Vec<String> =
        page.hits.iter().filter(|h| h.target == Target::Titles).map(|h| h.id.clone()).collect();
    let person_ids: Vec<String> =
        page.hits.iter().filter(|h| h.target == Target::People).map(|h| h.id.clone()).collect();
    let titles: Vec<TitleView> =
        query_ids(db, &format!("SELECT {TITLE_COLUMNS} FROM titles WHERE id IN ({{ids}})"), &title_ids)
            .await?
            .iter()
            .map(TitleView::from_row)
            .collect::<Result<_, _>>()?;
    let people: Vec<PersonView> =
        query_ids(db, &format!("SELECT {PERSON_COLUMNS} FROM people WHERE id IN ({{ids}})"), &person_ids)
            .await?
            .iter()
            .map(PersonView::from_row)
            .collect::<Result<_, _>>()?;
    let next = offset + page.hits.len();
    let next_cursor =
        (page.hits.len() == limit && (next as u64) < page.total && next < cdlc_search::MAX_OFFSET)
            .then(|| encode_cursor(&[Value::Int(next as i64)]));
    let items = page
        .hits
        .into_iter()
        .map(|hit| SearchHit {
            title: titles.iter().find(|t| t.id == hit.id).cloned(),
            person: people.iter().find(|p| p.id == hit.id).cloned(),
            target: if hit.target == Target::People { "people" } else { "titles" }.into(),
            id: hit.id,
            name: hit.name,
            score: hit.score,
        })
        .collect();
    Ok(Json(SearchResults { items, total: page.total, next_cursor }))
}
