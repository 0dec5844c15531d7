//! A user's own rating of a title: read, set or change, remove.

use cdlc_plugin_api::axum;
use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{params, routes, ApiError, Json, Principal, Role, Sql};
use serde::{Deserialize, Serialize};

use super::titles::no_title;
use crate::{ratings, Shared};

type Shared_ = std::sync::Arc<Shared>;

pub(super) fn routes() -> OpenApiRouter<Shared_> {
    OpenApiRouter::new().routes(routes!(mine, rate, unrate))
}

/// A user's rating.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyRating {
    /// 1 to 10 in steps of 0.5; absent when the user has not rated the title.
    pub rating: Option<f64>,
}

/// The signed-in user's rating of a title.
#[utoipa::path(get, path = "/titles/{id}/rating", params(("id" = String, Path)), responses(
    (status = 200, body = MyRating),
    (status = 401, description = "not signed in", body = ApiError),
))]
async fn mine(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<MyRating>, ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    let rows = shared
        .ctx
        .db()
        .query(
            "SELECT rating FROM user_ratings WHERE user_id = ? AND title_id = ?",
            params![&user.user_id, &id],
        )
        .await?;
    Ok(Json(MyRating { rating: rows.first().map(|r| r.get("rating")).transpose()? }))
}

/// Rates a title, or changes the rating (any signed-in user).
#[utoipa::path(put, path = "/titles/{id}/rating", params(("id" = String, Path)), request_body = MyRating, responses(
    (status = 200, body = MyRating),
    (status = 400, description = "the rating is not 1-10 in steps of 0.5", body = ApiError),
    (status = 404, description = "no such title", body = ApiError),
))]
async fn rate(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<MyRating>,
) -> Result<Json<MyRating>, ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    super::check_id(&id, "title")?;
    let rating = body.rating.ok_or_else(|| ApiError::bad_request("give a rating, e.g. {\"rating\": 8}"))?;
    ratings::check(rating).map_err(ApiError::bad_request)?;
    if !ratings::set(shared.ctx.db(), &user.user_id, &id, rating).await? {
        return Err(no_title(&id));
    }
    shared.forget_mean();
    super::reindex(&shared, std::slice::from_ref(&id), &[]).await;
    Ok(Json(MyRating { rating: Some(rating) }))
}

/// Removes the signed-in user's rating of a title.
#[utoipa::path(delete, path = "/titles/{id}/rating", params(("id" = String, Path)), responses(
    (status = 204, description = "removed"),
    (status = 404, description = "the user had not rated the title", body = ApiError),
))]
async fn unrate(
    State(shared): State<Shared_>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    if !ratings::remove(shared.ctx.db(), &user.user_id, &id).await? {
        return Err(ApiError::not_found("you have not rated this title"));
    }
    shared.forget_mean();
    super::reindex(&shared, std::slice::from_ref(&id), &[]).await;
    Ok(StatusCode::NO_CONTENT)
}
