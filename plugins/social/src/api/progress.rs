//! Continue watching: the player's position beacons (throttled), the
//! resume point on any device, and "watched" at 90 %, which logs the
//! asset's titles in the viewer's diary (privately) and feeds the
//! recommendations.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};

use super::{decode_cursor, page, writer, Page, PageQuery, Query};
use crate::access::Visibility;
use crate::{check_id, new_id, now_ms, App};

pub(super) fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(report_position, resume_point)).routes(routes!(continue_watching))
}

/// The share of an asset after which it counts as watched.
pub const WATCHED_AT: f64 = 0.9;
/// The longest asset a position is accepted for (24 h).
const MAX_DURATION_MS: i64 = 24 * 3600 * 1000;

/// Where a viewer is in an asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub asset_id: String,
    pub position_ms: i64,
    pub duration_ms: i64,
    /// Reached 90 % at least once.
    pub watched: bool,
    pub updated_at: i64,
}

impl FromRow for ProgressView {
    fn from_row(row: &Row) -> Result<ProgressView, StoreError> {
        Ok(ProgressView {
            asset_id: row.get("asset_id")?,
            position_ms: row.get("position_ms")?,
            duration_ms: row.get("duration_ms")?,
            watched: row.get("watched")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

/// A beacon.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionInput {
    pub position_ms: i64,
    pub duration_ms: i64,
}

/// What a beacon did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeaconAnswer {
    /// False when it came sooner than `beacon_interval_ms` after the last
    /// stored one and was dropped.
    pub stored: bool,
    pub progress: ProgressView,
}

const SELECT: &str = "SELECT asset_id, position_ms, duration_ms, watched, updated_at FROM progress";

/// The player's position beacon: stored at most every `beacon_interval_ms`
/// per viewer and asset (and always when it reaches 90 %).
#[utoipa::path(put, path = "/progress/{asset_id}", params(("asset_id" = String, Path)), request_body = PositionInput, responses(
    (status = 200, body = BeaconAnswer),
    (status = 400, description = "the position or duration is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no such asset", body = ApiError),
))]
async fn report_position(
    State(app): State<App>,
    principal: Principal,
    Path(asset_id): Path<String>,
    Json(input): Json<PositionInput>,
) -> Result<Json<BeaconAnswer>, ApiError> {
    let who = writer(&app, &principal).await?;
    check_id("asset", &asset_id)?;
    if !(1..=MAX_DURATION_MS).contains(&input.duration_ms) {
        return Err(ApiError::bad_request("duration_ms must be 1 to 86400000 (24 hours)"));
    }
    if !(0..=input.duration_ms).contains(&input.position_ms) {
        return Err(ApiError::bad_request("position_ms must be 0 to duration_ms"));
    }
    let now = now_ms();
    let before: Option<ProgressView> = app
        .db()
        .query_opt(&format!("{SELECT} WHERE user_id = ? AND asset_id = ?"), params![&who.user_id, &asset_id])
        .await?;
    let reaches = input.position_ms as f64 >= WATCHED_AT * input.duration_ms as f64;
    let newly_watched = reaches && !before.as_ref().is_some_and(|b| b.watched);
    if let Some(before) = before {
        if now - before.updated_at < app.settings.beacon_interval_ms && !newly_watched {
            return Ok(Json(BeaconAnswer { stored: false, progress: before }));
        }
        app.db()
            .execute(
                "UPDATE progress SET position_ms = ?, duration_ms = ?, watched = ?, updated_at = ? WHERE user_id = ? AND asset_id = ?",
                params![input.position_ms, input.duration_ms, before.watched || reaches, now, &who.user_id, &asset_id],
            )
            .await?;
    } else {
        if !app.ctx.assets().exists(&asset_id).await.map_err(ApiError::internal)? {
            return Err(ApiError::not_found(format!("there is no asset {asset_id:?}")));
        }
        match app
            .db()
            .execute(
                "INSERT INTO progress (user_id, asset_id, position_ms, duration_ms, watched, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                params![&who.user_id, &asset_id, input.position_ms, input.duration_ms, reaches, now],
            )
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if newly_watched {
        watched(&app, &who.user_id, &asset_id, now).await?;
    }
    let progress = app
        .db()
        .query_opt(&format!("{SELECT} WHERE user_id = ? AND asset_id = ?"), params![&who.user_id, &asset_id])
        .await?
        .ok_or_else(|| ApiError::internal("the position just written is gone"))?;
    Ok(Json(BeaconAnswer { stored: true, progress }))
}

#[derive(Deserialize)]
struct AssetTitle {
    title: AssetTitleRef,
}

#[derive(Deserialize)]
struct AssetTitleRef {
    id: String,
}

/// The titles the catalog links `asset_id` to go into the diary (private)
/// and the viewer's engagements.
async fn watched(app: &App, user: &str, asset_id: &str, now: i64) -> Result<(), ApiError> {
    let path = format!("/assets/{asset_id}/titles");
    let linked: Vec<AssetTitle> = match app.ctx.get_json("catalog", &path, &Principal::Anonymous).await {
        Ok(found) => found.unwrap_or_default(),
        Err(error) => {
            // The position is kept; only the diary misses this one.
            tracing::warn!(plugin = crate::NAME, asset_id, %error, "cannot read the asset's titles");
            Vec::new()
        }
    };
    let today = super::diary::today();
    for title in linked.into_iter().take(10) {
        let title_id = title.title.id;
        app.db()
            .transaction(|tx| {
                let (title_id, today) = (&title_id, &today);
                async move {
                    let id = new_id();
                    tx.execute(
                        "INSERT INTO diary (id, user_id, title_id, watched_on, rewatch, rating, liked, tags, review, spoiler, visibility, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        params![&id, user, title_id, today, false, Value::Null, false, "[]", Value::Null, false,
                            Visibility::Private.as_str(), now],
                    )
                    .await?;
                    crate::feed::record(&tx, user, "diary", &id, Some(title_id), Visibility::Private, now).await?;
                    crate::recs::engage(&tx, user, title_id, now).await?;
                    Ok::<_, StoreError>(())
                }
            })
            .await?;
    }
    Ok(())
}

/// Where to resume an asset (on any device).
#[utoipa::path(get, path = "/progress/{asset_id}", params(("asset_id" = String, Path)), responses(
    (status = 200, body = ProgressView),
    (status = 401, description = "not signed in", body = ApiError),
    (status = 404, description = "no position for this asset", body = ApiError),
))]
async fn resume_point(
    State(app): State<App>,
    principal: Principal,
    Path(asset_id): Path<String>,
) -> Result<Json<ProgressView>, ApiError> {
    let who = writer(&app, &principal).await?;
    check_id("asset", &asset_id)?;
    let found = app
        .db()
        .query_opt(&format!("{SELECT} WHERE user_id = ? AND asset_id = ?"), params![&who.user_id, &asset_id])
        .await?;
    found.map(Json).ok_or_else(|| ApiError::not_found(format!("you have no position in {asset_id:?}")))
}

/// Continue watching: assets started and not yet watched, latest first.
#[utoipa::path(get, path = "/progress", params(PageQuery), responses(
    (status = 200, body = Page<ProgressView>),
    (status = 400, description = "the limit or cursor is not valid", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn continue_watching(
    State(app): State<App>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<ProgressView>>, ApiError> {
    let who = writer(&app, &principal).await?;
    let limit = q.limit()?;
    let mut sql = format!("{SELECT} WHERE user_id = ? AND watched = ?");
    let mut values = vec![Value::Text(who.user_id.clone()), Value::from(false)];
    if let Some(cursor) = &q.cursor {
        let (at, id) = decode_cursor(cursor)?;
        sql.push_str(" AND (updated_at < ? OR (updated_at = ? AND asset_id < ?))");
        values.extend([Value::Int(at), Value::Int(at), Value::Text(id)]);
    }
    sql.push_str(" ORDER BY updated_at DESC, asset_id DESC LIMIT ?");
    values.push(Value::Int(limit as i64 + 1));
    let rows: Vec<ProgressView> = app.db().query_as(&sql, &values).await?;
    Ok(Json(page(rows, limit, |p| (p.updated_at, p.asset_id.clone()), |p| p)))
}
