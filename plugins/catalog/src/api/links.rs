//! Titles that play: a title linked to video assets as its feature,
//! trailers and extras. Deleting an asset unlinks it (the plugin consumes
//! `assets.deleted`).

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, FromRow, Json, Principal, Row, Sql, StoreError};
use serde::Deserialize;

use super::require_write;
use super::titles::no_title;
use super::views::{self, LinkView, TitleView};
use crate::model::{clip, now_ms, Kind, LinkRole};
use crate::Shared;

type Shared_ = std::sync::Arc<Shared>;

/// A title has at most this many links.
const MAX_LINKS: usize = 100;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new().routes(routes!(list, link)).routes(routes!(unlink)).routes(routes!(asset_titles))
}

struct Stored {
    title_id: String,
    asset_id: String,
    role: String,
    position: i64,
    created_at: i64,
}

impl FromRow for Stored {
    fn from_row(row: &Row) -> Result<Stored, StoreError> {
        Ok(Stored {
            title_id: row.get("title_id")?,
            asset_id: row.get("asset_id")?,
            role: row.get("role")?,
            position: row.get("position")?,
            created_at: row.get("created_at")?,
        })
    }
}

/// The links of a title with each asset's state and public playback URLs.
pub(super) async fn links_of(shared: &Shared, title: &str) -> Result<Vec<LinkView>, ApiError> {
    let stored: Vec<Stored> = shared
        .ctx
        .db()
        .query_as(
            "SELECT * FROM links WHERE title_id = ? ORDER BY role, position, created_at LIMIT ?",
            params![title, MAX_LINKS as i64],
        )
        .await?;
    let assets = shared.ctx.assets();
    let mut out = Vec::with_capacity(stored.len());
    for link in stored {
        let info = assets.get(&link.asset_id).await.map_err(ApiError::internal)?;
        let playback = match &info {
            Some(_) => assets.playback(&link.asset_id).await.map_err(ApiError::internal)?,
            None => None,
        };
        out.push(LinkView {
            role: LinkRole::parse(&link.role).unwrap_or(LinkRole::Extra),
            state: info.map(|i| {
                serde_json::to_value(i.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            playback,
            title_id: link.title_id,
            asset_id: link.asset_id,
            position: link.position,
            created_at: link.created_at,
        });
    }
    Ok(out)
}

/// The assets linked to a title.
#[utoipa::path(operation_id = "list_links", get, path = "/titles/{id}/links", params(("id" = String, Path)), responses(
    (status = 200, body = Vec<LinkView>),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn list(
    State(shared): State<Shared_>,
    Path(id): Path<String>,
) -> Result<Json<Vec<LinkView>>, ApiError> {
    super::check_id(&id, "title")?;
    views::title(shared.ctx.db(), &id).await?.ok_or_else(|| no_title(&id))?;
    Ok(Json(links_of(&shared, &id).await?))
}

/// An asset to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    pub asset_id: String,
    pub role: LinkRole,
    /// Order among the links of the same role (default: after them).
    pub position: Option<i64>,
}

/// Links an asset to a title as its feature, a trailer or an extra (admin,
/// `catalog:write`). A title has one feature: linking another replaces it.
#[utoipa::path(post, path = "/titles/{id}/links", params(("id" = String, Path)), request_body = LinkInput, responses(
    (status = 201, body = LinkView),
    (status = 400, description = "no such asset, or a feature for a series or season", body = ApiError),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn link(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input): Json<LinkInput>,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    require_write(&principal)?;
    super::check_id(&id, "title")?;
    let db = shared.ctx.db();
    let title = views::title(db, &id).await?.ok_or_else(|| no_title(&id))?;
    if input.role == LinkRole::Feature && matches!(title.kind, Kind::Series | Kind::Season) {
        return Err(ApiError::bad_request(
            "a series or season has no feature: link the feature to each episode",
        ));
    }
    if input.asset_id.is_empty() || input.asset_id.len() > 64 {
        return Err(ApiError::bad_request("asset_id must be 1-64 characters"));
    }
    if !shared.ctx.assets().exists(&input.asset_id).await.map_err(ApiError::internal)? {
        return Err(ApiError::bad_request(format!(
            "there is no asset {:?}: upload it first",
            clip(&input.asset_id, 64)
        )));
    }
    if input.position.is_some_and(|p| !(0..=10_000).contains(&p)) {
        return Err(ApiError::bad_request("position must be 0 to 10000"));
    }
    let count = db.query("SELECT asset_id FROM links WHERE title_id = ?", params![&id]).await?.len();
    if count >= MAX_LINKS {
        return Err(ApiError::conflict(format!("a title has at most {MAX_LINKS} links: unlink one first")));
    }
    let (asset, role) = (input.asset_id.clone(), input.role);
    let position = input.position;
    db.transaction(|tx| {
        let (id, asset) = (id.clone(), asset.clone());
        async move {
            tx.execute("DELETE FROM links WHERE title_id = ? AND asset_id = ?", params![&id, &asset]).await?;
            if role == LinkRole::Feature {
                tx.execute("DELETE FROM links WHERE title_id = ? AND role = 'feature'", params![&id]).await?;
            }
            let position = match position {
                Some(p) => p,
                None => {
                    let rows = tx
                        .query(
                            "SELECT MAX(position) AS p FROM links WHERE title_id = ? AND role = ?",
                            params![&id, role.as_str()],
                        )
                        .await?;
                    rows.first()
                        .map(|r| r.get::<Option<i64>>("p"))
                        .transpose()?
                        .flatten()
                        .map_or(0, |p| p + 1)
                }
            };
            tx.execute(
                "INSERT INTO links (title_id, asset_id, role, position, created_at) VALUES (?, ?, ?, ?, ?)",
                params![&id, &asset, role.as_str(), position, now_ms()],
            )
            .await?;
            Ok::<_, StoreError>(())
        }
    })
    .await?;
    let links = links_of(&shared, &id).await?;
    let link = links
        .into_iter()
        .find(|l| l.asset_id == input.asset_id)
        .ok_or_else(|| ApiError::internal("the new link is gone"))?;
    shared
        .ctx
        .publish(
            "title_linked",
            serde_json::json!({ "title_id": id, "asset_id": input.asset_id, "role": role.as_str() }),
        )
        .await
        .map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// Unlinks an asset from a title (admin, `catalog:write`).
#[utoipa::path(delete, path = "/titles/{id}/links/{asset_id}", params(("id" = String, Path), ("asset_id" = String, Path)), responses(
    (status = 204, description = "unlinked"),
    (status = 404, description = "the asset is not linked to the title", body = ApiError),
))]
async fn unlink(
    State(shared): State<Shared_>,
    principal: Principal,
    Path((id, asset)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_write(&principal)?;
    match shared
        .ctx
        .db()
        .execute("DELETE FROM links WHERE title_id = ? AND asset_id = ?", params![&id, &asset])
        .await?
    {
        0 => Err(ApiError::not_found(format!(
            "the asset {:?} is not linked to the title {:?}",
            clip(&asset, 64),
            clip(&id, 40)
        ))),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// A title an asset is linked to.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AssetTitle {
    pub role: LinkRole,
    pub title: TitleView,
}

/// The titles an asset is linked to (for the asset's page).
#[utoipa::path(get, path = "/assets/{asset_id}/titles", params(("asset_id" = String, Path)), responses(
    (status = 200, body = Vec<AssetTitle>),
))]
async fn asset_titles(
    State(shared): State<Shared_>,
    Path(asset): Path<String>,
) -> Result<Json<Vec<AssetTitle>>, ApiError> {
    let db = shared.ctx.db();
    let stored: Vec<Stored> = db
        .query_as(
            "SELECT * FROM links WHERE asset_id = ? ORDER BY title_id LIMIT ?",
            params![&asset, MAX_LINKS as i64],
        )
        .await?;
    let mut out = Vec::new();
    for link in stored {
        if let Some(title) = views::title(db, &link.title_id).await? {
            out.push(AssetTitle { role: LinkRole::parse(&link.role).unwrap_or(LinkRole::Extra), title });
        }
    }
    Ok(Json(out))
}
