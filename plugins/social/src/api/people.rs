//! People: profiles and search, follows and blocks, likes and comments on
//! reviews and lists.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};

use super::{bounded, decode_cursor, page, reader, writer, Page, PageQuery, Query};
use crate::access::{self, Member};
use crate::{check_id, new_id, now_ms, App};

pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(search_users))
        .routes(routes!(profile))
        .routes(routes!(follow, unfollow))
        .routes(routes!(followers))
        .routes(routes!(following))
        .routes(routes!(block, unblock))
        .routes(routes!(my_blocks))
        .routes(routes!(like, unlike))
        .routes(routes!(comments, add_comment))
        .routes(routes!(delete_comment))
}

/// The longest comment.
const MAX_COMMENT: usize = 2000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// The start of a handle (1–64 characters).
    pub q: String,
    pub limit: Option<usize>,
}

/// Members by the start of their handle (never one who blocked you or whom you blocked).
#[utoipa::path(get, path = "/users", params(UserSearch), responses(
    (status = 200, body = Vec<Member>),
    (status = 400, description = "q or limit is not valid", body = ApiError),
))]
async fn search_users(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<UserSearch>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let limit = super::limit(q.limit)?;
    if q.q.is_empty() || q.q.chars().count() > 64 {
        return Err(ApiError::bad_request("q must be 1-64 characters of a handle"));
    }
    let prefix = q.q.to_lowercase().replace(['%', '_'], "");
    let me = reader.unwrap_or_default();
    let found = app
        .db()
        .query_as(
            "SELECT user_id, handle FROM members WHERE handle_key LIKE ? \
             AND user_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?) \
             AND user_id NOT IN (SELECT blocker_id FROM blocks WHERE blocked_id = ?) ORDER BY handle_key LIMIT ?",
            params![format!("{prefix}%"), &me, &me, limit as i64],
        )
        .await?;
    Ok(Json(found))
}

/// A profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub user: Member,
    pub followers: i64,
    pub following: i64,
    /// Diary entries you may see.
    pub diary_entries: i64,
    /// Lists you may see.
    pub lists: i64,
    /// You follow them.
    pub you_follow: bool,
}

/// A member's profile: counts and whether you follow them.
#[utoipa::path(get, path = "/users/{user}", params(("user" = String, Path, description = "handle or user id")), responses(
    (status = 200, body = Profile),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn profile(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
) -> Result<Json<Profile>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (member, rel) = access::visible_member(app.db(), reader.as_deref(), &user).await?;
    let seen = rel.listed_sql();
    let rows = app
        .db()
        .query(
            &format!(
                "SELECT (SELECT COUNT(*) FROM follows WHERE followee_id = ?) AS followers, \
                 (SELECT COUNT(*) FROM follows WHERE follower_id = ?) AS following, \
                 (SELECT COUNT(*) FROM diary WHERE user_id = ? AND visibility IN {seen}) AS diary_entries, \
                 (SELECT COUNT(*) FROM lists WHERE owner_id = ? AND visibility IN {seen}) AS lists"
            ),
            params![&member.id, &member.id, &member.id, &member.id],
        )
        .await?;
    let row = rows.first().ok_or_else(|| ApiError::internal("no counts"))?;
    Ok(Json(Profile {
        followers: row.get("followers")?,
        following: row.get("following")?,
        diary_entries: row.get("diary_entries")?,
        lists: row.get("lists")?,
        you_follow: rel.follows,
        user: member,
    }))
}

/// Follows a member (nothing changes when you already do).
#[utoipa::path(put, path = "/follows/{user}", params(("user" = String, Path, description = "handle or user id")), responses(
    (status = 204, description = "you follow them"),
    (status = 400, description = "yourself", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn follow(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let (member, rel) = access::visible_member(app.db(), Some(&who.user_id), &user).await?;
    if rel.is_owner {
        return Err(ApiError::bad_request("you cannot follow yourself"));
    }
    match app
        .db()
        .execute(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)",
            params![&who.user_id, &member.id, now_ms()],
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}

/// Stops following a member.
#[utoipa::path(delete, path = "/follows/{user}", params(("user" = String, Path, description = "handle or user id")), responses(
    (status = 204, description = "you no longer follow them"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn unfollow(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let member = access::member(app.db(), &user).await?;
    app.db()
        .execute(
            "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
            params![&who.user_id, &member.id],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member in a list of followers or follows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Follow {
    pub user: Member,
    pub since: i64,
}

struct FollowRow {
    user: Member,
    since: i64,
}

impl FromRow for FollowRow {
    fn from_row(row: &Row) -> Result<FollowRow, StoreError> {
        Ok(FollowRow { user: Member::from_row(row)?, since: row.get("created_at")? })
    }
}

/// The followers (`followee` = the user) or follows (`follower` = the user) of a member, newest first.
pub(crate) async fn follow_page(
    app: &App,
    reader: Option<&str>,
    user_id: &str,
    followers: bool,
    q: &PageQuery,
) -> Result<Page<Follow>, ApiError> {
    let limit = q.limit()?;
    let (mine, theirs) =
        if followers { ("followee_id", "follower_id") } else { ("follower_id", "followee_id") };
    let me = reader.unwrap_or_default().to_owned();
    let mut sql = format!(
        "SELECT m.user_id, m.handle, f.created_at FROM follows f JOIN members m ON m.user_id = f.{theirs} \
         WHERE f.{mine} = ? AND f.{theirs} NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?) \
         AND f.{theirs} NOT IN (SELECT blocker_id FROM blocks WHERE blocked_id = ?)"
    );
    let mut values = vec![Value::Text(user_id.to_owned()), Value::Text(me.clone()), Value::Text(me)];
    if let Some(cursor) = &q.cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(&format!(" AND (f.created_at < ? OR (f.created_at = ? AND f.{theirs} < ?))"));
        values.extend([Value::Int(at), Value::Int(at), Value::Text(id)]);
    }
    sql.push_str(&format!(" ORDER BY f.created_at DESC, f.{theirs} DESC LIMIT ?"));
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<FollowRow> = app.db().query_as(&sql, &values).await?;
    Ok(page(rows, limit, |r| (r.since, r.user.id.clone()), |r| Follow { user: r.user, since: r.since }))
}

/// A member's followers, newest first.
#[utoipa::path(get, path = "/users/{user}/followers", params(("user" = String, Path, description = "handle or user id"), PageQuery), responses(
    (status = 200, body = Page<Follow>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn followers(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Follow>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (member, _) = access::visible_member(app.db(), reader.as_deref(), &user).await?;
    Ok(Json(follow_page(&app, reader.as_deref(), &member.id, true, &q).await?))
}

/// Whom a member follows, newest first.
#[utoipa::path(get, path = "/users/{user}/following", params(("user" = String, Path, description = "handle or user id"), PageQuery), responses(
    (status = 200, body = Page<Follow>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn following(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Follow>>, ApiError> {
    let reader = reader(&app, &principal).await?;
    let (member, _) = access::visible_member(app.db(), reader.as_deref(), &user).await?;
    Ok(Json(follow_page(&app, reader.as_deref(), &member.id, false, &q).await?))
}

/// Blocks a member: follows both ways end, and neither sees the other's
/// profile, lists, diary, feed items or comments.
#[utoipa::path(put, path = "/blocks/{user}", params(("user" = String, Path, description = "handle or user id")), responses(
    (status = 204, description = "blocked"),
    (status = 400, description = "yourself", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn block(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let member = access::member(app.db(), &user).await?;
    if member.id == who.user_id {
        return Err(ApiError::bad_request("you cannot block yourself"));
    }
    app.db()
        .transaction(|tx| {
            let (me, them) = (&who.user_id, &member.id);
            async move {
                tx.execute(
                    "DELETE FROM follows WHERE (follower_id = ? AND followee_id = ?) OR (follower_id = ? AND followee_id = ?)",
                    params![me, them, them, me],
                )
                .await?;
                match tx
                    .execute(
                        "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
                        params![me, them, now_ms()],
                    )
                    .await
                {
                    Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblocks a member (follows are not restored).
#[utoipa::path(delete, path = "/blocks/{user}", params(("user" = String, Path, description = "handle or user id")), responses(
    (status = 204, description = "unblocked"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such user", body = ApiError),
))]
async fn unblock(
    State(app): State<App>,
    principal: Principal,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let member = access::member(app.db(), &user).await?;
    app.db()
        .execute(
            "DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?",
            params![&who.user_id, &member.id],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whom you blocked, newest first.
#[utoipa::path(get, path = "/blocks", params(PageQuery), responses(
    (status = 200, body = Page<Follow>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn my_blocks(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Follow>>, ApiError> {
    let who = writer(&app, &principal).await?;
    let limit = q.limit()?;
    let mut sql = "SELECT m.user_id, m.handle, b.created_at FROM blocks b JOIN members m ON m.user_id = b.blocked_id WHERE b.blocker_id = ?".to_owned();
    let mut values = vec![Value::Text(who.user_id.clone())];
    if let Some(cursor) = &q.cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(" AND (b.created_at < ? OR (b.created_at = ? AND b.blocked_id < ?))");
        values.extend([Value::Int(at), Value::Int(at), Value::Text(id)]);
    }
    sql.push_str(" ORDER BY b.created_at DESC, b.blocked_id DESC LIMIT ?");
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<FollowRow> = app.db().query_as(&sql, &values).await?;
    Ok(Json(page(rows, limit, |r| (r.since, r.user.id.clone()), |r| Follow { user: r.user, since: r.since })))
}

/// What a like or comment is on: `review` (a diary entry) or `list`.
fn check_kind(kind: &str) -> Result<&'static str, ApiError> {
    match kind {
        "review" => Ok("review"),
        "list" => Ok("list"),
        other => Err(ApiError::bad_request(format!(
            "{:?} cannot be liked or commented on: use review or list",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

/// The owner of a review or list the reader may see, else 404.
async fn visible_target(app: &App, reader: &str, kind: &str, id: &str) -> Result<String, ApiError> {
    if kind == "review" {
        let (entry, _) = super::diary::visible_entry(app, Some(reader), id).await?;
        Ok(entry.user.id)
    } else {
        let (list, _) = super::lists::visible_list(app, Some(reader), id, None).await?;
        Ok(list.owner.id)
    }
}

/// Likes a review or a list you may see.
#[utoipa::path(put, path = "/likes/{kind}/{id}", params(("kind" = String, Path, description = "review or list"), ("id" = String, Path)), responses(
    (status = 204, description = "liked"),
    (status = 400, description = "kind is not review or list", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such review or list you may see", body = ApiError),
))]
async fn like(
    State(app): State<App>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let kind = check_kind(&kind)?;
    visible_target(&app, &who.user_id, kind, &id).await?;
    match app
        .db()
        .execute(
            "INSERT INTO likes (user_id, target_kind, target_id, created_at) VALUES (?, ?, ?, ?)",
            params![&who.user_id, kind, &id, now_ms()],
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}

/// Takes a like back.
#[utoipa::path(delete, path = "/likes/{kind}/{id}", params(("kind" = String, Path, description = "review or list"), ("id" = String, Path)), responses(
    (status = 204, description = "not liked"),
    (status = 400, description = "kind is not review or list", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn unlike(
    State(app): State<App>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    let kind = check_kind(&kind)?;
    check_id("id", &id)?;
    app.db()
        .execute(
            "DELETE FROM likes WHERE user_id = ? AND target_kind = ? AND target_id = ?",
            params![&who.user_id, kind, &id],
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentView {
    pub id: String,
    pub user: Member,
    pub body: String,
    pub created_at: i64,
}

impl FromRow for CommentView {
    fn from_row(row: &Row) -> Result<CommentView, StoreError> {
        Ok(CommentView {
            id: row.get("id")?,
            user: Member::from_row(row)?,
            body: row.get("body")?,
            created_at: row.get("created_at")?,
        })
    }
}

/// The comments on a review or list you may see, oldest first (none of
/// users who blocked you or whom you blocked).
#[utoipa::path(get, path = "/comments/{kind}/{id}", params(("kind" = String, Path, description = "review or list"), ("id" = String, Path), PageQuery), responses(
    (status = 200, body = Page<CommentView>),
    (status = 400, description = "kind, limit or cursor is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such review or list you may see", body = ApiError),
))]
async fn comments(
    State(app): State<App>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<CommentView>>, ApiError> {
    let who = writer(&app, &principal).await?;
    let kind = check_kind(&kind)?;
    visible_target(&app, &who.user_id, kind, &id).await?;
    let limit = q.limit()?;
    let me = who.user_id.clone();
    let mut sql = "SELECT c.id, c.user_id, m.handle, c.body, c.created_at FROM comments c JOIN members m ON m.user_id = c.user_id \
        WHERE c.target_kind = ? AND c.target_id = ? AND c.user_id NOT IN (SELECT blocked_id FROM blocks WHERE blocker_id = ?) \
        AND c.user_id NOT IN (SELECT blocker_id FROM blocks WHERE blocked_id = ?)"
        .to_owned();
    let mut values =
        vec![Value::from(kind), Value::Text(id.clone()), Value::Text(me.clone()), Value::Text(me)];
    if let Some(cursor) = &q.cursor {
        let (at, cid) = decode_cursor(cursor)?;
        sql.push_str(" AND (c.created_at > ? OR (c.created_at = ? AND c.id > ?))");
        values.extend([Value::Int(at), Value::Int(at), Value::Text(cid)]);
    }
    sql.push_str(" ORDER BY c.created_at, c.id LIMIT ?");
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<CommentView> = app.db().query_as(&sql, &values).await?;
    Ok(Json(page(rows, limit, |c| (c.created_at, c.id.clone()), |c| c)))
}

/// A comment to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentInput {
    /// 1–2000 characters.
    pub body: String,
}

/// Comments on a review or list you may see.
#[utoipa::path(post, path = "/comments/{kind}/{id}", params(("kind" = String, Path, description = "review or list"), ("id" = String, Path)), request_body = CommentInput, responses(
    (status = 201, body = CommentView),
    (status = 400, description = "kind or body is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such review or list you may see", body = ApiError),
))]
async fn add_comment(
    State(app): State<App>,
    principal: Principal,
    Path((kind, id)): Path<(String, String)>,
    Json(input): Json<CommentInput>,
) -> Result<(StatusCode, Json<CommentView>), ApiError> {
    let who = writer(&app, &principal).await?;
    let kind = check_kind(&kind)?;
    if input.body.trim().is_empty() {
        return Err(ApiError::bad_request("the comment's body must not be empty"));
    }
    bounded(Some(&input.body), "the comment", MAX_COMMENT)?;
    visible_target(&app, &who.user_id, kind, &id).await?;
    let comment = CommentView {
        id: new_id(),
        user: Member { id: who.user_id.clone(), handle: who.handle.clone() },
        body: input.body,
        created_at: now_ms(),
    };
    app.db()
        .execute(
            "INSERT INTO comments (id, target_kind, target_id, user_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            params![&comment.id, kind, &id, &who.user_id, &comment.body, comment.created_at],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

/// Deletes a comment: its author, or the owner of the review or list.
#[utoipa::path(delete, path = "/comments/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "deleted"),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 403, description = "neither its author nor the owner of what it is on", body = ApiError),
    (status = 404, description = "no such comment", body = ApiError),
))]
async fn delete_comment(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = writer(&app, &principal).await?;
    check_id("comment", &id)?;
    let rows = app
        .db()
        .query("SELECT user_id, target_kind, target_id FROM comments WHERE id = ?", params![&id])
        .await?;
    let row = rows.first().ok_or_else(|| ApiError::not_found(format!("there is no comment {id:?}")))?;
    let author: String = row.get("user_id")?;
    if author != who.user_id {
        let (kind, target): (String, String) = (row.get("target_kind")?, row.get("target_id")?);
        let owner = visible_target(&app, &who.user_id, &kind, &target).await?;
        if owner != who.user_id {
            return Err(ApiError::forbidden(
                "only its author or the owner of what it is on may delete a comment",
            ));
        }
    }
    app.db().execute("DELETE FROM comments WHERE id = ?", params![&id]).await?;
    Ok(StatusCode::NO_CONTENT)
}
