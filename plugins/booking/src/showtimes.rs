//! Showtimes of catalog titles on screens, their prices per category and
//! their seats' availability.

use std::collections::BTreeMap;

use cdlc_plugin_api::axum::extract::{Path, Query, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::{params, ApiError, FromRow, Json, Principal, Role, Row, Sql, StoreError};
use serde::{Deserialize, Serialize};

use crate::layout::{category_ok, SeatMap};
use crate::{check_id, format_time, money, new_id, now_ms, page_size, parse_time, text, App};

pub const MAX_RUNTIME_MINUTES: i64 = 1_000;

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingNewShowtime)]
pub struct NewShowtime {
    /// The catalog title shown.
    title_id: String,
    screen_id: String,
    /// RFC 3339, e.g. `2026-12-01T20:00:00+01:00`.
    starts_at: String,
    /// Taken from the catalog when it runs; required when it does not.
    runtime_minutes: Option<i64>,
    /// Spoken language, a BCP 47 tag (`en`, `pt-BR`).
    language: Option<String>,
    /// Subtitle language, a BCP 47 tag.
    subtitles: Option<String>,
    /// `2D`, `3D`, `IMAX`…
    format: Option<String>,
    /// ISO 4217, e.g. `EUR`.
    currency: String,
    /// Category id → price in minor units; every category with seats for sale needs one.
    prices: BTreeMap<String, i64>,
}

#[derive(Serialize, ToSchema, Clone)]
#[schema(as = BookingPrice)]
pub struct Price {
    category: String,
    name: String,
    /// Minor units of the showtime's currency.
    amount: i64,
}

impl FromRow for Price {
    fn from_row(row: &Row) -> Result<Price, StoreError> {
        Ok(Price { category: row.get("category")?, name: row.get("name")?, amount: row.get("amount")? })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingShowtime)]
pub struct Showtime {
    pub id: String,
    pub title_id: String,
    pub title_name: Option<String>,
    pub venue_id: String,
    pub screen_id: String,
    pub starts_at: String,
    pub ends_at: String,
    pub runtime_minutes: i64,
    pub language: Option<String>,
    pub subtitles: Option<String>,
    pub format: Option<String>,
    pub currency: String,
    pub prices: Vec<Price>,
    #[serde(skip)]
    pub starts_at_ms: i64,
}

impl FromRow for Showtime {
    fn from_row(row: &Row) -> Result<Showtime, StoreError> {
        let starts_at_ms: i64 = row.get("starts_at")?;
        Ok(Showtime {
            id: row.get("id")?,
            title_id: row.get("title_id")?,
            title_name: row.get("title_name")?,
            venue_id: row.get("venue_id")?,
            screen_id: row.get("screen_id")?,
            starts_at: format_time(starts_at_ms),
            ends_at: format_time(row.get("ends_at")?),
            runtime_minutes: row.get("runtime_minutes")?,
            language: row.get("language")?,
            subtitles: row.get("subtitles")?,
            format: row.get("format")?,
            currency: row.get("currency")?,
            prices: Vec::new(),
            starts_at_ms,
        })
    }
}

fn language_tag(field: &str, tag: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(tag) = tag else { return Ok(None) };
    let ok = (2..=16).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(Some(tag.to_owned()))
    } else {
        Err(ApiError::bad_request(format!("{field} must be a language tag such as en or pt-BR, not {tag:?}")))
    }
}

/// The fields booking reads of the catalog's `GET /titles/{id}` (its
/// `TitleDetail`, which flattens `TitleView`): the names are the catalog's
/// own, so a rename there fails booking's host test instead of quietly
/// reading nothing.
#[derive(Deserialize)]
struct CatalogTitle {
    primary_title: String,
    runtime_minutes: Option<i64>,
}

/// What the catalog says of a title: its runtime and name.
async fn catalog_title(
    app: &App,
    title_id: &str,
    principal: &Principal,
) -> Result<(Option<i64>, Option<String>), ApiError> {
    match app.ctx.get_json::<CatalogTitle>("catalog", &format!("/titles/{title_id}"), principal).await {
        Ok(Some(title)) => Ok((title.runtime_minutes, Some(title.primary_title))),
        Ok(None) => Err(ApiError::bad_request(format!("the catalog has no title {title_id}"))),
        // The catalog is optional: without it the runtime comes with the request.
        Err(error) => {
            tracing::debug!(plugin = "booking", %error, "the catalog cannot be read; using the request's runtime");
            Ok((None, None))
        }
    }
}

pub(crate) async fn load(app: &App, id: &str) -> Result<Showtime, ApiError> {
    check_id("the showtime id", id)?;
    let mut showtime: Showtime = app
        .db()
        .query_opt("SELECT * FROM showtimes WHERE id = ?", params![id])
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no showtime {id}")))?;
    showtime.prices = app
        .db()
        .query_as(
            "SELECT category, name, amount FROM showtime_prices WHERE showtime_id = ? ORDER BY amount",
            params![id],
        )
        .await?;
    Ok(showtime)
}

/// Schedules a showtime of a title on a screen (admin). Its end is its
/// start plus the title's runtime; it may not overlap another on the screen.
#[utoipa::path(post, path = "/showtimes", request_body = NewShowtime, responses(
    (status = 201, body = Showtime), (status = 400, description = "a field is wrong", body = ApiError),
    (status = 409, description = "it overlaps another showtime on the screen", body = ApiError)))]
pub async fn create_showtime(
    State(app): State<App>,
    principal: Principal,
    Json(body): Json<NewShowtime>,
) -> Result<(StatusCode, Json<Showtime>), ApiError> {
    principal.require_role(Role::Admin)?;
    check_id("title_id", &body.title_id)?;
    check_id("screen_id", &body.screen_id)?;
    let starts_at = parse_time("starts_at", &body.starts_at)?;
    let currency = money::currency(&body.currency)?;
    let language = language_tag("language", body.language.as_deref())?;
    let subtitles = language_tag("subtitles", body.subtitles.as_deref())?;
    let format = body.format.as_deref().map(|f| text("format", f, 32)).transpose()?;
    for (category, amount) in &body.prices {
        if !category_ok(category) {
            return Err(ApiError::bad_request(format!(
                "the price category {category:?} is not a category id"
            )));
        }
        money::price(&format!("the category {category}"), *amount)?;
    }
    let (catalog_runtime, title_name) = catalog_title(&app, &body.title_id, &principal).await?;
    let runtime = catalog_runtime.or(body.runtime_minutes).ok_or_else(|| {
        ApiError::bad_request(
            "give runtime_minutes: the catalog does not know this title's runtime (or is not running)",
        )
    })?;
    if !(1..=MAX_RUNTIME_MINUTES).contains(&runtime) {
        return Err(ApiError::bad_request(format!(
            "runtime_minutes must be 1..={MAX_RUNTIME_MINUTES}, not {runtime}"
        )));
    }
    let ends_at = starts_at + runtime * 60_000;
    let id = new_id();
    let (body_ref, id_ref) = (&body, &id);
    let (currency_ref, language_ref, subtitles_ref, format_ref, name_ref) =
        (&currency, &language, &subtitles, &format, &title_name);
    app.db()
        .transaction(|tx| async move {
            let screen = tx
                .query("SELECT venue_id, layout FROM screens WHERE id = ?", params![&body_ref.screen_id])
                .await?;
            let Some(screen) = screen.first() else {
                return Err(ApiError::bad_request(format!("there is no screen {}", body_ref.screen_id)));
            };
            let venue_id: String = screen.get("venue_id")?;
            let map: SeatMap = serde_json::from_str(&screen.get::<String>("layout")?).map_err(ApiError::internal)?;
            for category in map.sold_categories() {
                if !body_ref.prices.contains_key(category) {
                    return Err(ApiError::bad_request(format!(
                        "prices has no price for the category {category}, which has seats for sale on this screen"
                    )));
                }
            }
            for category in body_ref.prices.keys() {
                if !map.categories.iter().any(|c| &c.id == category) {
                    return Err(ApiError::bad_request(format!(
                        "prices names the category {category}, which this screen's seat map does not have"
                    )));
                }
            }
            let overlapping = tx
                .query(
                    "SELECT id, starts_at FROM showtimes WHERE screen_id = ? AND starts_at < ? AND ends_at > ? LIMIT 1",
                    params![&body_ref.screen_id, ends_at, starts_at],
                )
                .await?;
            if let Some(other) = overlapping.first() {
                return Err(ApiError::conflict(format!(
                    "the screen already shows the showtime {} at {}; showtimes on a screen may not overlap",
                    other.get::<String>("id")?,
                    format_time(other.get("starts_at")?)
                )));
            }
            tx.execute(
                "INSERT INTO showtimes (id, screen_id, venue_id, title_id, title_name, starts_at, ends_at, \
                 runtime_minutes, language, subtitles, format, currency, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    id_ref, &body_ref.screen_id, &venue_id, &body_ref.title_id, name_ref.clone(), starts_at, ends_at,
                    runtime, language_ref.clone(), subtitles_ref.clone(), format_ref.clone(), currency_ref, now_ms()
                ],
            )
            .await?;
            for category in &map.categories {
                if let Some(amount) = body_ref.prices.get(&category.id) {
                    tx.execute(
                        "INSERT INTO showtime_prices (showtime_id, category, name, amount) VALUES (?, ?, ?, ?)",
                        params![id_ref, &category.id, &category.name, *amount],
                    )
                    .await?;
                }
            }
            crate::venues::copy_seats(&tx, &body_ref.screen_id, id_ref).await?;
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(load(&app, &id).await?)))
}

#[derive(Deserialize, IntoParams)]
pub struct ShowtimeQuery {
    title_id: Option<String>,
    venue_id: Option<String>,
    screen_id: Option<String>,
    /// A day, `YYYY-MM-DD`, in the zone of `utc_offset_minutes`; without it,
    /// the showtimes that have not ended.
    day: Option<String>,
    /// The day's zone as minutes east of UTC (60 for CET), default 0.
    utc_offset_minutes: Option<i64>,
    /// 1-200, default 50.
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingShowtimePage)]
pub struct ShowtimePage {
    items: Vec<Showtime>,
    next_cursor: Option<String>,
}

fn day_range(day: &str, offset_minutes: i64) -> Result<(i64, i64), ApiError> {
    let format =
        time::format_description::parse_borrowed::<2>("[year]-[month]-[day]").map_err(ApiError::internal)?;
    let date = time::Date::parse(day, &format).map_err(|_| {
        ApiError::bad_request(format!(
            "day must be YYYY-MM-DD, not {:?}",
            day.chars().take(20).collect::<String>()
        ))
    })?;
    if !(-14 * 60..=14 * 60).contains(&offset_minutes) {
        return Err(ApiError::bad_request("utc_offset_minutes must be -840..=840"));
    }
    let midnight_utc = date.midnight().assume_utc().unix_timestamp() * 1000;
    let start = midnight_utc - offset_minutes * 60_000;
    Ok((start, start + 86_400_000))
}

/// Showtimes by start time, filtered by title, venue, screen or day.
#[utoipa::path(get, path = "/showtimes", params(ShowtimeQuery), responses((status = 200, body = ShowtimePage)))]
pub async fn list_showtimes(
    State(app): State<App>,
    Query(query): Query<ShowtimeQuery>,
) -> Result<Json<ShowtimePage>, ApiError> {
    let limit = page_size(query.limit)?;
    let mut sql = String::from("SELECT * FROM showtimes WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    for (column, value) in
        [("title_id", &query.title_id), ("venue_id", &query.venue_id), ("screen_id", &query.screen_id)]
    {
        if let Some(value) = value {
            check_id(column, value)?;
            sql.push_str(&format!(" AND {column} = ?"));
            values.push(value.as_str().into());
        }
    }
    match &query.day {
        Some(day) => {
            let (from, to) = day_range(day, query.utc_offset_minutes.unwrap_or(0))?;
            sql.push_str(" AND starts_at >= ? AND starts_at < ?");
            values.extend([from.into(), to.into()]);
        }
        None => {
            sql.push_str(" AND ends_at > ?");
            values.push(now_ms().into());
        }
    }
    if let Some(cursor) = &query.cursor {
        let (at, id) = cursor
            .split_once('.')
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
            .ok_or_else(|| ApiError::bad_request("cursor is not one this API gave out"))?;
        sql.push_str(" AND (starts_at > ? OR (starts_at = ? AND id > ?))");
        values.extend([at.into(), at.into(), id.into()]);
    }
    sql.push_str(" ORDER BY starts_at, id LIMIT ?");
    values.push(((limit + 1) as i64).into());
    let mut items: Vec<Showtime> = app.db().query_as(&sql, &values).await?;
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        let last = &items[limit - 1];
        format!("{}.{}", last.starts_at_ms, last.id)
    });
    for item in &mut items {
        item.prices = app
            .db()
            .query_as(
                "SELECT category, name, amount FROM showtime_prices WHERE showtime_id = ? ORDER BY amount",
                params![&item.id],
            )
            .await?;
    }
    Ok(Json(ShowtimePage { items, next_cursor }))
}

/// One showtime with its prices.
#[utoipa::path(get, path = "/showtimes/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = Showtime), (status = 404, description = "no such showtime", body = ApiError)))]
pub async fn get_showtime(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Showtime>, ApiError> {
    Ok(Json(load(&app, &id).await?))
}

/// A seat of a showtime as a UI draws it.
#[derive(Serialize, ToSchema)]
#[schema(as = BookingSeatState)]
pub struct SeatState {
    id: String,
    row: String,
    label: String,
    category: String,
    accessible: bool,
    x: i64,
    y: i64,
    /// `available`, `held`, `sold` or `blocked`; an expired hold is `available`.
    status: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingShowtimeSeats)]
pub struct ShowtimeSeats {
    showtime_id: String,
    currency: String,
    prices: Vec<Price>,
    available: usize,
    seats: Vec<SeatState>,
}

/// The showtime's seats with their status, for the seat picker.
#[utoipa::path(get, path = "/showtimes/{id}/seats", params(("id" = String, Path)), responses(
    (status = 200, body = ShowtimeSeats), (status = 404, description = "no such showtime", body = ApiError)))]
pub async fn showtime_seats(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<ShowtimeSeats>, ApiError> {
    let showtime = load(&app, &id).await?;
    let rows = app
        .db()
        .query(
            "SELECT s.seat_id, s.row_label, s.seat_label, s.category, s.blocked, s.is_accessible, s.x, s.y, \
             c.state, c.expires_at FROM showtime_seats s LEFT JOIN seat_claims c \
             ON c.showtime_id = s.showtime_id AND c.seat_id = s.seat_id WHERE s.showtime_id = ? ORDER BY s.y, s.x",
            params![&id],
        )
        .await?;
    let now = now_ms();
    let mut seats = Vec::with_capacity(rows.len());
    for row in &rows {
        let state: Option<String> = row.get("state")?;
        let expires_at: Option<i64> = row.get("expires_at")?;
        let status = if row.get::<bool>("blocked")? {
            "blocked"
        } else {
            match state.as_deref() {
                Some("sold") => "sold",
                Some(_) if expires_at.is_some_and(|e| e >= now) => "held",
                _ => "available",
            }
        };
        seats.push(SeatState {
            id: row.get("seat_id")?,
            row: row.get("row_label")?,
            label: row.get("seat_label")?,
            category: row.get("category")?,
            accessible: row.get("is_accessible")?,
            x: row.get("x")?,
            y: row.get("y")?,
            status: status.into(),
        });
    }
    let available = seats.iter().filter(|s| s.status == "available").count();
    Ok(Json(ShowtimeSeats {
        showtime_id: id,
        currency: showtime.currency,
        prices: showtime.prices,
        available,
        seats,
    }))
}
