//! Venues, their screens and the screens' seat maps (admin writes, public reads).

use cdlc_plugin_api::axum::extract::{Path, Query, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::{params, ApiError, FromRow, Json, Principal, Role, Row, Sql, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::layout::SeatMap;
use crate::{check_id, format_time, new_id, now_ms, page_size, text, App};

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingNewVenue)]
pub struct NewVenue {
    name: String,
    city: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingVenue)]
pub struct Venue {
    id: String,
    name: String,
    city: Option<String>,
    created_at: String,
    /// Filled on `GET /venues/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    screens: Option<Vec<ScreenSummary>>,
}

impl FromRow for Venue {
    fn from_row(row: &Row) -> Result<Venue, StoreError> {
        Ok(Venue {
            id: row.get("id")?,
            name: row.get("name")?,
            city: row.get("city")?,
            created_at: format_time(row.get("created_at")?),
            screens: None,
        })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingScreenSummary)]
pub struct ScreenSummary {
    id: String,
    name: String,
    seat_count: i64,
}

impl FromRow for ScreenSummary {
    fn from_row(row: &Row) -> Result<ScreenSummary, StoreError> {
        Ok(ScreenSummary { id: row.get("id")?, name: row.get("name")?, seat_count: row.get("seat_count")? })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingVenuePage)]
pub struct VenuePage {
    items: Vec<Venue>,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1-200, default 50.
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Creates a venue (admin).
#[utoipa::path(post, path = "/venues", request_body = NewVenue, responses(
    (status = 201, body = Venue), (status = 400, description = "a field is wrong", body = ApiError), (status = 403, description = "not an admin", body = ApiError)))]
pub async fn create_venue(
    State(app): State<App>,
    principal: Principal,
    Json(body): Json<NewVenue>,
) -> Result<(StatusCode, Json<Venue>), ApiError> {
    principal.require_role(Role::Admin)?;
    let name = text("name", &body.name, 200)?;
    let city = body.city.as_deref().map(|c| text("city", c, 200)).transpose()?;
    let id = new_id();
    let at = now_ms();
    app.db()
        .execute(
            "INSERT INTO venues (id, name, city, created_at) VALUES (?, ?, ?, ?)",
            params![&id, &name, city.clone(), at],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Venue { id, name, city, created_at: format_time(at), screens: None })))
}

/// Venues, oldest first, a page at a time.
#[utoipa::path(get, path = "/venues", params(PageQuery), responses((status = 200, body = VenuePage)))]
pub async fn list_venues(
    State(app): State<App>,
    Query(query): Query<PageQuery>,
) -> Result<Json<VenuePage>, ApiError> {
    let limit = page_size(query.limit)?;
    let after = query.cursor.unwrap_or_default();
    let mut items: Vec<Venue> = app
        .db()
        .query_as("SELECT * FROM venues WHERE id > ? ORDER BY id LIMIT ?", params![after, (limit + 1) as i64])
        .await?;
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        items[limit - 1].id.clone()
    });
    Ok(Json(VenuePage { items, next_cursor }))
}

/// A venue with its screens.
#[utoipa::path(get, path = "/venues/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = Venue), (status = 404, description = "no such venue", body = ApiError)))]
pub async fn get_venue(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Venue>, ApiError> {
    check_id("the venue id", &id)?;
    let mut venue: Venue = app
        .db()
        .query_opt("SELECT * FROM venues WHERE id = ?", params![&id])
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no venue {id}")))?;
    venue.screens = Some(
        app.db()
            .query_as(
                "SELECT id, name, seat_count FROM screens WHERE venue_id = ? ORDER BY name",
                params![&id],
            )
            .await?,
    );
    Ok(Json(venue))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingNewScreen)]
pub struct NewScreen {
    name: String,
    seat_map: SeatMap,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingSeatMapChange)]
pub struct SeatMapChange {
    seat_map: SeatMap,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingScreen)]
pub struct Screen {
    id: String,
    venue_id: String,
    name: String,
    seat_count: i64,
    /// Grows by one with each change of the map.
    map_version: i64,
    seat_map: SeatMap,
}

impl FromRow for Screen {
    fn from_row(row: &Row) -> Result<Screen, StoreError> {
        let layout: String = row.get("layout")?;
        Ok(Screen {
            id: row.get("id")?,
            venue_id: row.get("venue_id")?,
            name: row.get("name")?,
            seat_count: row.get("seat_count")?,
            map_version: row.get("map_version")?,
            seat_map: serde_json::from_str(&layout)
                .map_err(|e| StoreError::Decode { column: "layout".into(), message: e.to_string() })?,
        })
    }
}

/// Writes the map's seats for `screen_id`, in batches of multi-row INSERTs.
async fn insert_seats(tx: &Tx, screen_id: &str, map: &SeatMap) -> Result<(), StoreError> {
    let seats: Vec<_> = map.seats().collect();
    for batch in seats.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO seats (screen_id, seat_id, row_label, seat_label, category, blocked, is_accessible, x, y) VALUES ",
        );
        let mut values = Vec::with_capacity(batch.len() * 9);
        for (i, (row, seat)) in batch.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            });
            values.extend([
                screen_id.into(),
                seat.id.as_str().into(),
                row.label.as_str().into(),
                seat.label.as_str().into(),
                seat.category.as_str().into(),
                seat.blocked.into(),
                seat.accessible.into(),
                seat.x.unwrap_or_default().into(),
                seat.y.unwrap_or_default().into(),
            ]);
        }
        tx.execute(&sql, &values).await?;
    }
    Ok(())
}

/// Copies a screen's seats into a showtime's own (its snapshot of the map).
pub(crate) async fn copy_seats(tx: &Tx, screen_id: &str, showtime_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO showtime_seats (showtime_id, seat_id, row_label, seat_label, category, blocked, is_accessible, x, y) \
         SELECT ?, seat_id, row_label, seat_label, category, blocked, is_accessible, x, y FROM seats WHERE screen_id = ?",
        params![showtime_id, screen_id],
    )
    .await?;
    Ok(())
}

/// Adds a screen with its seat map to a venue (admin).
#[utoipa::path(post, path = "/venues/{id}/screens", params(("id" = String, Path)), request_body = NewScreen, responses(
    (status = 201, body = Screen), (status = 400, description = "the seat map is wrong", body = ApiError), (status = 404, description = "no such venue", body = ApiError)))]
pub async fn create_screen(
    State(app): State<App>,
    principal: Principal,
    Path(venue_id): Path<String>,
    Json(body): Json<NewScreen>,
) -> Result<(StatusCode, Json<Screen>), ApiError> {
    principal.require_role(Role::Admin)?;
    check_id("the venue id", &venue_id)?;
    let name = text("name", &body.name, 200)?;
    let map = body.seat_map.normalize()?;
    let layout = serde_json::to_string(&map).map_err(ApiError::internal)?;
    let id = new_id();
    let seat_count = map.seats().count() as i64;
    let (venue, screen_id, map_ref) = (&venue_id, &id, &map);
    app.db()
        .transaction(|tx| {
            let (name, layout) = (name.clone(), layout.clone());
            async move {
                let venue_exists =
                    !tx.query("SELECT id FROM venues WHERE id = ?", params![venue]).await?.is_empty();
                if !venue_exists {
                    return Err(ApiError::not_found(format!("there is no venue {venue}")));
                }
                tx.execute(
                    "INSERT INTO screens (id, venue_id, name, layout, seat_count, map_version, created_at) \
                     VALUES (?, ?, ?, ?, ?, 1, ?)",
                    params![screen_id, venue, name, layout, seat_count, now_ms()],
                )
                .await?;
                insert_seats(&tx, screen_id, map_ref).await?;
                Ok(())
            }
        })
        .await?;
    Ok((StatusCode::CREATED, Json(Screen { id, venue_id, name, seat_count, map_version: 1, seat_map: map })))
}

/// A screen and its seat map.
#[utoipa::path(get, path = "/screens/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = Screen), (status = 404, description = "no such screen", body = ApiError)))]
pub async fn get_screen(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Screen>, ApiError> {
    check_id("the screen id", &id)?;
    app.db()
        .query_opt("SELECT * FROM screens WHERE id = ?", params![&id])
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("there is no screen {id}")))
}

/// Replaces a screen's seat map (admin). Refused while a showtime on the
/// screen that has not ended has sold or held seats; the showtimes that
/// have not ended take the new map, the past ones keep theirs.
#[utoipa::path(put, path = "/screens/{id}/seat-map", params(("id" = String, Path)), request_body = SeatMapChange, responses(
    (status = 200, body = Screen), (status = 400, description = "the seat map is wrong", body = ApiError),
    (status = 409, description = "seats of its showtimes are sold or held", body = ApiError)))]
pub async fn put_seat_map(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<SeatMapChange>,
) -> Result<Json<Screen>, ApiError> {
    principal.require_role(Role::Admin)?;
    check_id("the screen id", &id)?;
    let map = body.seat_map.normalize()?;
    let layout = serde_json::to_string(&map).map_err(ApiError::internal)?;
    let seat_count = map.seats().count() as i64;
    let sold = map.sold_categories();
    let (screen_id, map_ref, sold_ref) = (&id, &map, &sold);
    app.db()
        .transaction(|tx| {
            let layout = layout.clone();
            async move {
                let now = now_ms();
                let showtimes = tx
                    .query("SELECT id FROM showtimes WHERE screen_id = ? AND ends_at > ?", params![screen_id, now])
                    .await?;
                let mut showtime_ids = Vec::new();
                for row in &showtimes {
                    let showtime: String = row.get("id")?;
                    tx.execute(
                        "DELETE FROM seat_claims WHERE showtime_id = ? AND state = 'held' AND expires_at < ?",
                        params![&showtime, now],
                    )
                    .await?;
                    let taken = tx
                        .query("SELECT COUNT(*) AS n FROM seat_claims WHERE showtime_id = ?", params![&showtime])
                        .await?[0]
                        .get::<i64>("n")?;
                    if taken > 0 {
                        return Err(ApiError::conflict(format!(
                            "the showtime {showtime} on this screen has {taken} seats sold or held; the seat map \
                             can change once no showtime that has not ended has any"
                        )));
                    }
                    let priced = tx
                        .query("SELECT category FROM showtime_prices WHERE showtime_id = ?", params![&showtime])
                        .await?
                        .iter()
                        .map(|r| r.get::<String>("category"))
                        .collect::<Result<Vec<_>, _>>()?;
                    if let Some(missing) = sold_ref.iter().find(|c| !priced.iter().any(|p| p == *c)) {
                        return Err(ApiError::conflict(format!(
                            "the showtime {showtime} on this screen has no price for the category {missing}; \
                             give every category of the new map a price there first, or drop the category"
                        )));
                    }
                    showtime_ids.push(showtime);
                }
                let changed = tx
                    .execute(
                        "UPDATE screens SET layout = ?, seat_count = ?, map_version = map_version + 1 WHERE id = ?",
                        params![layout, seat_count, screen_id],
                    )
                    .await?;
                if changed == 0 {
                    return Err(ApiError::not_found(format!("there is no screen {screen_id}")));
                }
                tx.execute("DELETE FROM seats WHERE screen_id = ?", params![screen_id]).await?;
                insert_seats(&tx, screen_id, map_ref).await?;
                for showtime in &showtime_ids {
                    // The claims' foreign key makes this fail, not orphan a
                    // claim, should a seat be taken after the count above.
                    tx.execute("DELETE FROM showtime_seats WHERE showtime_id = ?", params![showtime]).await?;
                    copy_seats(&tx, screen_id, showtime).await?;
                }
                Ok(())
            }
        })
        .await?;
    get_screen(State(app), Path(id)).await
}
