//! The REST routes (mounted at `/api/v1/social`). Reads of public things
//! are open to anyone; every write and every read of one's own things
//! needs a signed-in user (`viewer` or above). Every list is a page:
//! `limit` (1–100, default 20) and the `next_cursor` of the page before.

mod diary;
mod lists;
mod mine;
mod people;
mod progress;
mod watchlist;

use cdlc_plugin_api::axum::extract::{FromRequestParts, Query as AxumQuery};
use cdlc_plugin_api::axum::http::request::Parts;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{ApiError, ApiRouter, Identity, Principal, Role};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::App;

pub(crate) use diary::DiaryView;
pub(crate) use lists::{visible_list, EntryRow, ListView};
pub(crate) use people::follow_page;

pub(crate) fn diary_select() -> &'static str {
    diary::DIARY_SELECT
}

pub(crate) fn list_select() -> &'static str {
    lists::LIST_SELECT
}

pub(crate) fn router(app: App) -> ApiRouter {
    OpenApiRouter::new()
        .merge(watchlist::routes())
        .merge(lists::routes())
        .merge(mine::routes())
        .merge(diary::routes())
        .merge(people::routes())
        .merge(progress::routes())
        .merge(crate::feed::routes())
        .merge(crate::recs::routes())
        .merge(crate::graphql::routes())
        .with_state(app)
}

/// A signed-in user who may write here (any role), remembered as a member.
pub(crate) async fn writer(app: &App, principal: &Principal) -> Result<Identity, ApiError> {
    let who = principal.require_role(Role::Viewer)?.clone();
    app.remember(&who).await?;
    Ok(who)
}

/// The reader's user id, if signed in (remembered as a member).
pub(crate) async fn reader(app: &App, principal: &Principal) -> Result<Option<String>, ApiError> {
    match principal.identity() {
        Some(who) => {
            app.remember(who).await?;
            Ok(Some(who.user_id.clone()))
        }
        None => Ok(None),
    }
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

/// A page of a list: `limit` and the `next_cursor` of the page before.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<usize, ApiError> {
        limit(self.limit)
    }
}

/// A page size: 20 by default, 1–100.
pub(crate) fn limit(requested: Option<usize>) -> Result<usize, ApiError> {
    match requested {
        None => Ok(20),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!("limit {n} must be 1 to {MAX_LIMIT}"))),
    }
}

/// A page of items and the cursor of the next page (`None` at the end).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A cursor: the sort key of the last item (a number and an id), opaque.
pub(crate) fn encode_cursor(key: i64, id: &str) -> String {
    hex::encode(format!("{key}/{id}"))
}

/// Reads a cursor back.
pub(crate) fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad_request("the cursor is not one this list gave out: start again without it");
    if cursor.len() > 300 {
        return Err(bad());
    }
    let text = String::from_utf8(hex::decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let (key, id) = text.split_once('/').ok_or_else(bad)?;
    Ok((key.parse().map_err(|_| bad())?, id.to_owned()))
}

/// The page of `rows` (fetched `limit + 1`): its items and the next cursor.
pub(crate) fn page<T, R>(
    mut rows: Vec<R>,
    limit: usize,
    key: impl Fn(&R) -> (i64, String),
    build: impl FnMut(R) -> T,
) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(&key).map(|(k, id)| encode_cursor(k, &id)) } else { None };
    Page { items: rows.into_iter().map(build).collect(), next_cursor }
}

/// Free text is bounded: a sentence when it is too long.
pub(crate) fn bounded(text: Option<&str>, what: &str, max: usize) -> Result<(), ApiError> {
    match text {
        Some(text) if text.chars().count() > max => Err(ApiError::bad_request(format!(
            "{what} is {} characters; it must be at most {max}",
            text.chars().count()
        ))),
        _ => Ok(()),
    }
}
