//! Custom lists: ordered or ranked, a note per entry, and who may see them
//! (public, followers, private, or whoever has the link).

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};

use super::watchlist::{count_and_last, reorder, OrderInput};
use super::{bounded, decode_cursor, page, reader, writer, Page, PageQuery, Query};
use crate::access::{self, Member, Relation, Visibility};
use crate::titles::{self, TitleSummary};
use crate::{check_id, new_id, now_ms, App};

pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(search_lists, create_list))
        .routes(routes!(get_list, patch_list, delete_list))
        .routes(routes!(list_entries, add_entry))
        .routes(routes!(edit_entry, remove_entry))
        .routes(routes!(reorder_list))
        .routes(routes!(lists_of_user))
}

/// The longest list name and description.
const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
/// The longest note on an entry.
const MAX_NOTE: usize = 2000;

/// A list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListView {
    pub id: String,
    pub owner: Member,
    pub name: String,
    pub description: Option<String>,
    /// Ranked lists number their entries; ordered ones only keep the order.
    pub ranked: bool,
    pub visibility: Visibility,
    /// The key that opens a link-only list (`?key=`): shown to the owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_key: Option<String>,
    pub entries: i64,
    pub likes: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const LIST_SELECT: &str = "SELECT l.id, l.owner_id, m.handle, l.name, l.description, l.ranked, l.visibility, l.link_key, \
     l.created_at, l.updated_at, (SELECT COUNT(*) FROM list_entries e WHERE e.list_id = l.id) AS entry_count, \
     (SELECT COUNT(*) FROM likes k WHERE k.target_kind = 'list' AND k.target_id = l.id) AS like_count \
     FROM lists l JOIN members m ON m.user_id = l.owner_id";

impl FromRow for ListView {
    fn from_row(row: &Row) -> Result<ListView, StoreError> {
        Ok(ListView {
            id: row.get("id")?,
            owner: Member { id: row.get("owner_id")?, handle: row.get("handle")? },
            name: row.get("name")?,
            description: row.get("description")?,
            ranked: row.get("ranked")?,
            visibility: Visibility::parse(&row.get::<String>("visibility")?)?,
            link_key: Some(row.get("link_key")?),
            entries: row.get("entry_count")?,
            likes: row.get("like_count")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

impl ListView {
    /// Drops what only the owner sees.
    fn for_reader(mut self, reader: Option<&str>) -> ListView {
        if reader != Some(self.owner.id.as_str()) {
            self.link_key = None;
        }
        self
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// The link key of a link-only list.
    pub key: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The list `id` if the reader may see it, else 404 (a hidden list does
/// not exist to those who may not see it).
pub(crate) async fn visible_list(
    app: &App,
    reader: Option<&str>,
    id: &str,
    key: Option<&str>,
) -> Result<(ListView, Relation), ApiError> {
    check_id("list", id)?;
    let missing = || ApiError::not_found(format!("there is no list {id:?} you may see"));
    let list: ListView = app
        .db()
        .query_opt(&format!("{LIST_SELECT} WHERE l.id = ?"), params![id])
        .await?
        .ok_or_else(missing)?;
    let rel = access::relation(app.db(), reader, &list.owner.id).await?;
    let link_ok = key.is_some() && key == list.link_key.as_deref();
    if !rel.can_see(list.visibility, link_ok) {
        return Err(missing());
    }
    Ok((list.for_reader(reader), rel))
}

/// One's own list `id` (to change it), else 404 or 403.
async fn own_list(app: &App, owner: &str, id: &str) -> Result<ListView, ApiError> {
    let (list, rel) = visible_list(app, Some(owner), id, None).await?;
    if !rel.is_owner {
        return Err(ApiError::forbidden("only the list's owner may change it"));
    }
    Ok(list)
}

/// A list to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// 1–200 characters.
    pub name: String,
    /// At most 5000 characters.
    pub description: Option<String>,
    #[serde(default)]
    pub ranked: bool,
    #[serde(default)]
    pub visibility: Visibility,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("name must not be empty"));
    }
    bounded(Some(name), "name", MAX_NAME)
}

/// Creates a list.
#[utoipa::path(post, path = "/lists", request_body = ListInput, responses(
    (status = 201, body = ListView),
    (status = 400, description = "the body is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn create_list(
    State(app): State<App>,
    principal: Principal,
    Json(input): Json<ListInput>,
) -> Result<(StatusCode, Json<ListView>), ApiError> {
    let who = writer(&app, &principal).await?;
    check_name(&input.name)?;
    bounded(input.description.as_deref(), "description", MAX_DESCRIPTION)?;
    let id = new_id();
    let now = now_ms();
    let link_key = uuid::Uuid::new_v4().simple().to_string();
    let name = input.name.trim().to_owned();
    app.db()
        .transaction(|tx| {
            let (id, who, name, link_key, input) = (&id, &who, &name, &link_key, &input);
            async move {
                tx.execute(
                    "INSERT INTO lists (id, owner_id, name, name_key, description, ranked, visibility, link_key, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params![id, &who.user_id, name, name.to_lowercase(), input.description.clone(), input.ranked,
                        input.visibility.as_str(), link_key, now, now],
                )
                .await?;
                crate::feed::record(&tx, &who.user_id, "list", id, None, input.visibility, now).await?;
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    let (list, _) = visible_list(&app, Some(&who.user_id), &id, None).await?;
    Ok((StatusCode::CREATED, Json(list)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListSearch {
    /// Words of the name (1–100 characters); without it the newest lists.
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Public lists by name, newest first (never a private, followers-only or
/// link-only list, nor one of a user who blocked you or whom you blocked).
#[utoipa::path(get, path = "/lists", params(ListSearch), responses(
    (status = 200, body = Page<ListView>),
    (status = 400, description = "the query, limit or cursor is not valid", body = ApiError),
))]
async fn search_lists(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<ListSearch>,
) -> Result<Json<Page<ListView>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let limit = super::limit(q.limit)?;
    let mut sql = format!("{LIST_SELECT} WHERE l.visibility = 'public'");
    let mut values: Vec<Value> = Vec::new();
    if let Some(words) = &q.q {
        if words.trim().is_empty() || words.chars().count() > 100 {
            return Err(ApiError::bad_request("q must be 1-100 characters"));
        }
        sql.push_str(" AND l.name_key LIKE ?");
        let pattern = words.to_lowercase().replace(['%', '_'], "");
        values.push(Value::Text(format!("%{pattern}%")));
    }
    if let Some(me) = &reader {
        sql.push_str(
            " AND l.owner_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?) \
              AND l.owner_id NOT IN (SELECT blocker_id FROM blocks WHERE blocked_id = ?)",
        );
        values.extend([Value::Text(me.clone()), Value::Text(me.clone())]);
    }
    if let Some(cursor) = &q.cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(" AND (l.created_at < ? OR (l.created_at = ? AND l.id < ?))");
        values.extend([Value::Int(at), Value::Int(at), Value::Text(id)]);
    }
    sql.push_str(" ORDER BY l.created_at DESC, l.id DESC LIMIT ?");
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<ListView> = app.db().query_as(&sql, &values).await?;
    let reader = reader.as_deref();
    Ok(Json(page(rows, limit, |l| (l.created_at, l.id.clone()), |l| l.for_reader(reader))))
}

/// A user's lists that you may see, newest first.
#[utoipa::path(get, path = "/users/{user}/lists", params(("user" = String, Path, description = "handle or user id"), PageQuery), responses(
    (status = 200, body = Page<ListView>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn lists_of_user(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ListView>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (owner, rel) = access::visible_member(app.db(), reader.as_deref(), &user).await?;
    let limit = q.limit()?;
    let page_ = user_lists(&app, &owner.id, rel, q.cursor.as_deref(), limit).await?;
    let reader = reader.as_deref();
    Ok(Json(Page { items: page_.items.into_iter().map(|l| l.for_reader(reader)).collect(), ..page_ }))
}

/// The lists of `owner` that a reader of `rel` may see, newest first.
pub(crate) async fn user_lists(
    app: &App,
    owner: &str,
    rel: Relation,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<ListView>, ApiError> {
    let mut sql = format!("{LIST_SELECT} WHERE l.owner_id = ? AND l.visibility IN {}", rel.listed_sql());
    let mut values = vec![Value::Text(owner.to_owned())];
    if let Some(cursor) = cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(" AND (l.created_at < ? OR (l.created_at = ? AND l.id < ?))");
        values.extend([Value::Int(at), Value::Int(at), Value::Text(id)]);
    }
    sql.push_str(" ORDER BY l.created_at DESC, l.id DESC LIMIT ?");
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<ListView> = app.db().query_as(&sql, &values).await?;
    Ok(page(rows, limit, |l| (l.created_at, l.id.clone()), |l| l))
}

/// A list, if you may see it (`?key=` for a link-only list).
#[utoipa::path(get, path = "/lists/{id}", params(("id" = String, Path), KeyQuery), responses(
    (status = 200, body = ListView),
    (status = 404, description = "no such list, or not one you may see", body = ApiError),
))]
async fn get_list(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Result<Json<ListView>, ApiError> {
    let reader = reader(&app, &principal).await?;
    Ok(Json(visible_list(&app, reader.as_deref(), &id, q.key.as_deref()).await?.0))
}

/// What to change of a list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub ranked: Option<bool>,
    pub visibility: Option<Visibility>,
}

/// Changes one's list.
#[utoipa::path(patch, path = "/lists/{id}", params(("id" = String, Path)), request_body = ListPatch, responses(
    (status = 200, body = ListView),
    (status = 400, description = "the body is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your list", body = ApiError),
    (status = 404, description = "no such list", body = ApiError),
))]
async fn patch_list(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Json(patch): Json<ListPatch>,
) -> Result<Json<ListView>, ApiError> {
    let who = writer(&app, &principal).await?;
    let list = own_list(&app, &who.user_id, &id).await?;
    if let Some(name) = &patch.name {
        check_name(name)?;
    }
    bounded(patch.description.as_deref(), "description", MAX_DESCRIPTION)?;
    let name = patch.name.as_deref().map(str::trim).unwrap_or(&list.name).to_owned();
    let visibility = patch.visibility.unwrap_or(list.visibility);
    let description = patch.description.clone().or(list.description.clone());
    let ranked = patch.ranked.unwrap_or(list.ranked);
    app.db()
        .transaction(|tx| {
            let (id, name, description) = (&id, &name, &description);
            async move {
                tx.execute(
                    "UPDATE lists SET name = ?, name_key = ?, description = ?, ranked = ?, visibility = ?, updated_at = ? WHERE id = ?",
                    params![name, name.to_lowercase(), description.clone(), ranked, visibility.as_str(), now_ms(), id],
                )
                .await?;
                tx.execute("UPDATE activity SET visibility = ? WHERE subject_id = ?", params![visibility.as_str(), id])
                    .await?;
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    Ok(Json(visible_list(&app, Some(&who.user_id), &id, None).await?.0))
}

/// Deletes one's list, its entries, likes, comments and feed items.
#[utoipa::path(delete, path = "/lists/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your list", body = ApiError),
    (status = 404, description = "no such list", body = ApiError),
))]
async fn delete_list(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    own_list(&app, &who.user_id, &id).await?;
    app.db()
        .transaction(|tx| {
            let id = &id;
            async move {
                for sql in [
                    "DELETE FROM list_entries WHERE list_id = ?",
                    "DELETE FROM likes WHERE target_kind = 'list' AND target_id = ?",
                    "DELETE FROM comments WHERE target_kind = 'list' AND target_id = ?",
                    "DELETE FROM activity WHERE subject_id = ?",
                    "DELETE FROM lists WHERE id = ?",
                ] {
                    tx.execute(sql, params![id]).await?;
                }
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An entry of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryView {
    pub title_id: String,
    /// 1 is the top (the rank of a ranked list).
    pub position: i64,
    pub note: Option<String>,
    pub added_at: i64,
    pub title: Option<TitleSummary>,
}

pub struct EntryRow {
    pub title_id: String,
    pub position: i64,
    pub note: Option<String>,
    pub added_at: i64,
}

impl FromRow for EntryRow {
    fn from_row(row: &Row) -> Result<EntryRow, StoreError> {
        Ok(EntryRow {
            title_id: row.get("title_id")?,
            position: row.get("position")?,
            note: row.get("note")?,
            added_at: row.get("added_at")?,
        })
    }
}

/// The entries of a list you may see, top first.
#[utoipa::path(get, path = "/lists/{id}/entries", params(("id" = String, Path), KeyQuery), responses(
    (status = 200, body = Page<EntryView>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 404, description = "no such list, or not one you may see", body = ApiError),
))]
async fn list_entries(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Result<Json<Page<EntryView>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    visible_list(&app, reader.as_deref(), &id, q.key.as_deref()).await?;
    let limit = super::limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => decode_cursor(c)?.0,
        None => 0,
    };
    let rows: Vec<EntryRow> = app
        .db()
        .query_as(
            "SELECT title_id, position, note, added_at FROM list_entries WHERE list_id = ? AND position > ? ORDER BY position LIMIT ?",
            params![&id, after, limit as i64 + 1],
        )
        .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.title_id.clone()).collect();
    let mut found = titles::titles(&app.ctx, &ids).await?;
    Ok(Json(page(
        rows,
        limit,
        |r| (r.position, r.title_id.clone()),
        |r| EntryView {
            title: found.remove(&r.title_id),
            title_id: r.title_id,
            position: r.position,
            note: r.note,
            added_at: r.added_at,
        },
    )))
}

/// An entry to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    pub title_id: String,
    /// At most 2000 characters.
    pub note: Option<String>,
}

/// Adds a title at the bottom of one's list (each title once).
#[utoipa::path(post, path = "/lists/{id}/entries", params(("id" = String, Path)), request_body = EntryInput, responses(
    (status = 201, body = EntryView),
    (status = 400, description = "the body is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your list", body = ApiError),
    (status = 404, description = "no such list or title", body = ApiError),
    (status = 409, description = "the title is already on the list, or the list is full", body = ApiError),
))]
async fn add_entry(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input): Json<EntryInput>,
) -> Result<(StatusCode, Json<EntryView>), ApiError> {
    let who = writer(&app, &principal).await?;
    let list = own_list(&app, &who.user_id, &id).await?;
    bounded(input.note.as_deref(), "note", MAX_NOTE)?;
    let title = titles::require(&app.ctx, &input.title_id).await?;
    let max = app.settings.max_list_entries as i64;
    let now = now_ms();
    let position = app
        .db()
        .transaction(|tx| {
            let (id, title_id, note, who) = (&id, &title.id, &input.note, &who);
            async move {
                let (count, last) = count_and_last(&tx, "list_entries", "list_id", id).await?;
                if count >= max {
                    return Err(ApiError::conflict(format!("a list holds at most {max} titles")));
                }
                match tx
                    .execute(
                        "INSERT INTO list_entries (list_id, title_id, position, note, added_at) VALUES (?, ?, ?, ?, ?)",
                        params![id, title_id, last + 1, note.clone(), now],
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(StoreError::Conflict(_)) => {
                        return Err(ApiError::conflict(format!(
                            "{title_id} is already on this list; each title appears once"
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
                tx.execute("UPDATE lists SET updated_at = ? WHERE id = ?", params![now, id]).await?;
                crate::feed::record(&tx, &who.user_id, "list_entry", id, Some(title_id), list.visibility, now)
                    .await?;
                Ok(last + 1)
            }
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EntryView {
            title_id: title.id.clone(),
            position,
            note: input.note,
            added_at: now,
            title: Some(title),
        }),
    ))
}

/// What to change of an entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryPatch {
    /// At most 2000 characters; `null` or blank removes the note.
    pub note: Option<String>,
}

/// Changes the note of an entry of one's list.
#[utoipa::path(patch, path = "/lists/{id}/entries/{title_id}", params(("id" = String, Path), ("title_id" = String, Path)), request_body = EntryPatch, responses(
    (status = 200, body = EntryView),
    (status = 400, description = "the note is too long", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your list", body = ApiError),
    (status = 404, description = "no such list, or the title is not on it", body = ApiError),
))]
async fn edit_entry(
    State(app): State<App>,
    principal: Principal,
    Path((id, title_id)): Path<(String, String)>,
    Json(patch): Json<EntryPatch>,
) -> Result<Json<EntryView>, ApiError> {
    let who = writer(&app, &principal).await?;
    own_list(&app, &who.user_id, &id).await?;
    check_id("title_id", &title_id)?;
    bounded(patch.note.as_deref(), "note", MAX_NOTE)?;
    let note = patch.note.filter(|n| !n.trim().is_empty());
    // Read first: MySQL counts an UPDATE that changes nothing as no row.
    let row: EntryRow = app
        .db()
        .query_opt(
            "SELECT title_id, position, note, added_at FROM list_entries WHERE list_id = ? AND title_id = ?",
            params![&id, &title_id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{title_id} is not on this list")))?;
    app.db()
        .transaction(|tx| {
            let (id, title_id, note) = (&id, &title_id, &note);
            async move {
                tx.execute(
                    "UPDATE list_entries SET note = ? WHERE list_id = ? AND title_id = ?",
                    params![note.clone(), id, title_id],
                )
                .await?;
                tx.execute("UPDATE lists SET updated_at = ? WHERE id = ?", params![now_ms(), id]).await?;
                Ok::<_, StoreError>(())
            }
        })
        .await?;
    let title = titles::titles(&app.ctx, std::slice::from_ref(&title_id)).await?.remove(&title_id);
    Ok(Json(EntryView {
        title_id: row.title_id,
        position: row.position,
        note,
        added_at: row.added_at,
        title,
    }))
}

/// Removes a title from one's list.
#[utoipa::path(delete, path = "/lists/{id}/entries/{title_id}", params(("id" = String, Path), ("title_id" = String, Path)), responses(
    (status = 204, description = "removed"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your list", body = ApiError),
    (status = 404, description = "no such list, or the title is not on it", body = ApiError),
))]
async fn remove_entry(
    State(app): State<App>,
    principal: Principal,
    Path((id, title_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    own_list(&app, &who.user_id, &id).await?;
    check_id("title_id", &title_id)?;
    let removed = app
        .db()
        .execute("DELETE FROM list_entries WHERE list_id = ? AND title_id = ?", params![&id, &title_id])
        .await?;
    if removed == 0 {
        return Err(ApiError::not_found(format!("{title_id} is not on this list")));
    }
    app.db()
        .execute(
            "DELETE FROM activity WHERE subject_id = ? AND kind = 'list_entry' AND title_id = ?",
            params![&id, &title_id],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reorders (or re-ranks) one's list.
#[utoipa::path(put, path = "/lists/{id}/order", params(("id" = String, Path)), request_body = OrderInput, responses(
    (status = 204, description = "reordered"),
    (status = 400, description = "a title is not on the list or named twice", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "not your list", body = ApiError),
    (status = 404, description = "no such list", body = ApiError),
))]
async fn reorder_list(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input): Json<OrderInput>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    own_list(&app, &who.user_id, &id).await?;
    let max = app.settings.max_list_entries;
    app.db()
        .transaction(|tx| {
            let (id, ids) = (&id, &input.title_ids);
            async move { reorder(&tx, "list_entries", "list_id", id, ids, max).await }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
