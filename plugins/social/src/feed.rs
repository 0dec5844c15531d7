//! The activity feed: what the people I follow logged, rated, reviewed and
//! listed, newest first, a cursor page at a time.
//!
//! Fan-out on read: a diary entry or list event is one `activity` row of
//! its actor; a reader's page is one indexed query over the actors they
//! follow (`activity_by_actor`), filtered by visibility and blocks at read
//! time, so a block, an unfollow or a list turned private takes effect on
//! the next read and nothing is copied per follower. See
//! docs/architecture.md, "Social".

use std::collections::HashMap;

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::State;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError, Tx};
use serde::Serialize;

use crate::access::{Member, Visibility};
use crate::api::{decode_cursor, page, writer, DiaryView, ListView, Page, PageQuery, Query};
use crate::titles::{self, TitleSummary};
use crate::{new_id, App};

pub(crate) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(feed))
}

/// Writes the feed item of a diary entry (`diary`), a new list (`list`)
/// or a title added to a list (`list_entry`).
pub(crate) async fn record(
    tx: &Tx,
    actor: &str,
    kind: &str,
    subject: &str,
    title: Option<&str>,
    visibility: Visibility,
    at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO activity (id, actor_id, kind, subject_id, title_id, visibility, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![new_id(), actor, kind, subject, title.map(str::to_owned), visibility.as_str(), at],
    )
    .await?;
    Ok(())
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Logged,
    Rated,
    Reviewed,
    /// Made a list.
    Listed,
    /// Added a title to a list.
    AddedToList,
}

/// One item of the feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedItem {
    pub id: String,
    pub verb: Verb,
    pub actor: Member,
    pub at: i64,
    pub title_id: Option<String>,
    pub title: Option<TitleSummary>,
    /// For `logged`, `rated`, `reviewed`.
    pub entry: Option<DiaryView>,
    /// For `listed`, `added_to_list`.
    pub list: Option<ListView>,
}

struct ActivityRow {
    id: String,
    actor: Member,
    kind: String,
    subject: String,
    title_id: Option<String>,
    at: i64,
}

impl FromRow for ActivityRow {
    fn from_row(row: &Row) -> Result<ActivityRow, StoreError> {
        Ok(ActivityRow {
            id: row.get("id")?,
            actor: Member { id: row.get("actor_id")?, handle: row.get("handle")? },
            kind: row.get("kind")?,
            subject: row.get("subject_id")?,
            title_id: row.get("title_id")?,
            at: row.get("created_at")?,
        })
    }
}

/// The feed query: one statement, the whole page.
pub const FEED_SQL: &str =
    "SELECT a.id, a.actor_id, m.handle, a.kind, a.subject_id, a.title_id, a.created_at \
     FROM activity a JOIN members m ON m.user_id = a.actor_id \
     WHERE a.actor_id IN (SELECT followee_id FROM follows WHERE follower_id = ?) \
     AND a.visibility IN ('public', 'followers') \
     AND a.actor_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?) \
     AND a.actor_id NOT IN (SELECT blocker_id FROM blocks WHERE blocked_id = ?) \
     AND (a.created_at < ? OR (a.created_at = ? AND a.id < ?)) \
     ORDER BY a.created_at DESC, a.id DESC LIMIT ?";

/// A page of `reader`'s feed with its entries, lists and titles: at most
/// three statements and one catalog read, whatever the page's size.
pub(crate) async fn feed_page(
    app: &App,
    reader: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<FeedItem>, ApiError> {
    let (at, id) = match cursor {
        Some(cursor) => decode_cursor(cursor)?,
        None => (i64::MAX, String::new()),
    };
    // Without a cursor every id is "less" than the sentinel at i64::MAX.
    let rows: Vec<ActivityRow> =
        app.db().query_as(FEED_SQL, params![reader, reader, reader, at, at, id, limit as i64 + 1]).await?;
    let mut page = page(rows, limit, |r| (r.at, r.id.clone()), |r| r);
    let diary_ids: Vec<Value> =
        page.items.iter().filter(|r| r.kind == "diary").map(|r| Value::Text(r.subject.clone())).collect();
    let list_ids: Vec<Value> =
        page.items.iter().filter(|r| r.kind != "diary").map(|r| Value::Text(r.subject.clone())).collect();
    let entries: HashMap<String, DiaryView> = if diary_ids.is_empty() {
        HashMap::new()
    } else {
        let sql = format!("{} WHERE d.id IN ({})", crate::api::diary_select(), marks(diary_ids.len()));
        app.db()
            .query_as::<DiaryView>(&sql, &diary_ids)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect()
    };
    let lists: HashMap<String, ListView> = if list_ids.is_empty() {
        HashMap::new()
    } else {
        let sql = format!("{} WHERE l.id IN ({})", crate::api::list_select(), marks(list_ids.len()));
        app.db().query_as::<ListView>(&sql, &list_ids).await?.into_iter().map(|l| (l.id.clone(), l)).collect()
    };
    let title_ids: Vec<String> = page.items.iter().filter_map(|r| r.title_id.clone()).collect();
    let found = titles::titles(&app.ctx, &title_ids).await?;
    let items = std::mem::take(&mut page.items)
        .into_iter()
        .filter_map(|r| {
            let title = r.title_id.as_ref().and_then(|t| found.get(t).cloned());
            let (verb, entry, list) = if r.kind == "diary" {
                let mut entry = entries.get(&r.subject)?.clone();
                entry.title = title.clone();
                let verb = if entry.review.is_some() {
                    Verb::Reviewed
                } else if entry.rating.is_some() {
                    Verb::Rated
                } else {
                    Verb::Logged
                };
                (verb, Some(entry), None)
            } else {
                let mut list = lists.get(&r.subject)?.clone();
                list.link_key = None;
                (if r.kind == "list" { Verb::Listed } else { Verb::AddedToList }, None, Some(list))
            };
            Some(FeedItem {
                id: r.id,
                verb,
                actor: r.actor,
                at: r.at,
                title_id: r.title_id,
                title,
                entry,
                list,
            })
        })
        .collect();
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub(crate) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// What the people you follow logged, rated, reviewed and listed, newest
/// first (never a private or link-only item, nor one of a blocked user).
#[utoipa::path(get, path = "/feed", params(PageQuery), responses(
    (status = 200, body = Page<FeedItem>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn feed(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<FeedItem>>, ApiError> {
    let who = writer(&app, &principal).await?;
    Ok(Json(feed_page(&app, &who.user_id, q.cursor.as_deref(), q.limit()?).await?))
}
