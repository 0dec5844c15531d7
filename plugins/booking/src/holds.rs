//! Seat holds: a buyer's seats of a showtime, kept for `hold_seconds`.
//!
//! Race-free by construction: each seat held or sold is a row of
//! `seat_claims` whose primary key is (showtime_id, seat_id), and all the
//! seats of a hold go in with one multi-row INSERT, so of concurrent buyers
//! exactly one gets each seat and a hold gets all its seats or none. A claim
//! past its `expires_at` is free: reads show it available, and the next
//! hold on that seat deletes it in its own transaction with a conditional
//! `DELETE … WHERE state = 'held' AND expires_at < now` before inserting.

use std::collections::BTreeSet;

use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::StatusCode;
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{params, ApiError, Json, Principal, Role, Sql, StoreError};
use serde::{Deserialize, Serialize};

use crate::{check_id, format_time, money, new_id, now_ms, App};

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingNewHold)]
pub struct NewHold {
    /// Seat ids of the showtime (`F-12`), 1 to `max_seats_per_hold`.
    seats: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingHeldSeat)]
pub struct HeldSeat {
    id: String,
    category: String,
    amount: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingHold)]
pub struct Hold {
    id: String,
    showtime_id: String,
    seats: Vec<HeldSeat>,
    /// The sum of the seats' prices, minor units.
    total: i64,
    currency: String,
    /// After this the seats are free again unless checked out and paid.
    expires_at: String,
    /// Whether its seats are still its own (not expired, not released).
    active: bool,
    /// The order made from it, if any.
    order_id: Option<String>,
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Holds seats of a showtime for the signed-in buyer.
#[utoipa::path(post, path = "/showtimes/{id}/holds", params(("id" = String, Path)), request_body = NewHold, responses(
    (status = 201, body = Hold), (status = 400, description = "a seat is not on this showtime's screen", body = ApiError),
    (status = 404, description = "no such showtime", body = ApiError),
    (status = 409, description = "a seat is taken or blocked, or the showtime has started", body = ApiError)))]
pub async fn create_hold(
    State(app): State<App>,
    principal: Principal,
    Path(showtime_id): Path<String>,
    Json(body): Json<NewHold>,
) -> Result<(StatusCode, Json<Hold>), ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    check_id("the showtime id", &showtime_id)?;
    let max = app.settings.max_seats_per_hold;
    let seats: BTreeSet<String> = body.seats.iter().cloned().collect();
    if seats.is_empty() || seats.len() > max || seats.len() != body.seats.len() {
        return Err(ApiError::bad_request(format!(
            "seats must list 1 to {max} different seat ids (each once), e.g. [\"F-12\"]"
        )));
    }
    if let Some(bad) = seats.iter().find(|s| s.len() > 20 || !s.contains('-')) {
        return Err(ApiError::bad_request(format!("{bad:?} is not a seat id such as F-12")));
    }
    let seats: Vec<String> = seats.into_iter().collect();
    let hold_id = new_id();
    let ttl_ms = app.settings.hold_seconds as i64 * 1000;
    let (user_id, showtime, seats_ref, hold_ref) = (&user.user_id, &showtime_id, &seats, &hold_id);
    let expires_at = app
        .db()
        .transaction(|tx| async move {
            let now = now_ms();
            let found = tx.query("SELECT starts_at FROM showtimes WHERE id = ?", params![showtime]).await?;
            let Some(found) = found.first() else {
                return Err(ApiError::not_found(format!("there is no showtime {showtime}")));
            };
            let starts_at: i64 = found.get("starts_at")?;
            if starts_at <= now {
                return Err(ApiError::conflict(format!(
                    "the showtime started at {}; seats can be held only before it starts",
                    format_time(starts_at)
                )));
            }
            let mut values: Vec<Value> = vec![showtime.as_str().into()];
            values.extend(seats_ref.iter().map(|s| Value::from(s.as_str())));
            let known = tx
                .query(
                    &format!(
                        "SELECT seat_id, blocked FROM showtime_seats WHERE showtime_id = ? AND seat_id IN ({})",
                        placeholders(seats_ref.len())
                    ),
                    &values,
                )
                .await?;
            for seat in seats_ref {
                match known.iter().find(|r| r.get::<String>("seat_id").ok().as_deref() == Some(seat)) {
                    None => {
                        return Err(ApiError::bad_request(format!(
                            "the seat {seat} is not on this showtime's screen; GET /showtimes/{showtime}/seats lists them"
                        )))
                    }
                    Some(row) if row.get::<bool>("blocked")? => {
                        return Err(ApiError::conflict(format!("the seat {seat} is blocked and not for sale")))
                    }
                    Some(_) => {}
                }
            }
            let mut expired = values.clone();
            expired.push(now.into());
            tx.execute(
                &format!(
                    "DELETE FROM seat_claims WHERE showtime_id = ? AND seat_id IN ({}) AND state = 'held' AND expires_at < ?",
                    placeholders(seats_ref.len())
                ),
                &expired,
            )
            .await?;
            let expires_at = now + ttl_ms;
            tx.execute(
                "INSERT INTO holds (id, showtime_id, user_id, seat_count, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                params![hold_ref, showtime, user_id, seats_ref.len() as i64, expires_at, now],
            )
            .await?;
            let mut sql = String::from(
                "INSERT INTO seat_claims (showtime_id, seat_id, hold_id, order_id, state, expires_at, created_at) VALUES ",
            );
            let mut claims: Vec<Value> = Vec::new();
            for (i, seat) in seats_ref.iter().enumerate() {
                sql.push_str(if i == 0 { "(?, ?, ?, NULL, 'held', ?, ?)" } else { ", (?, ?, ?, NULL, 'held', ?, ?)" });
                claims.extend([
                    showtime.as_str().into(),
                    seat.as_str().into(),
                    hold_ref.as_str().into(),
                    expires_at.into(),
                    now.into(),
                ]);
            }
            match tx.execute(&sql, &claims).await {
                Ok(_) => Ok(expires_at),
                Err(StoreError::Conflict(_)) => {
                    let taken = tx
                        .query(
                            &format!(
                                "SELECT seat_id FROM seat_claims WHERE showtime_id = ? AND seat_id IN ({}) ORDER BY seat_id",
                                placeholders(seats_ref.len())
                            ),
                            &values,
                        )
                        .await?
                        .iter()
                        .map(|r| r.get::<String>("seat_id"))
                        .collect::<Result<Vec<_>, _>>()?;
                    Err(ApiError::conflict(format!(
                        "the seat {} is taken; choose another seat",
                        if taken.is_empty() { "you chose".to_owned() } else { taken.join(", ") }
                    )))
                }
                Err(other) => Err(other.into()),
            }
        })
        .await?;
    tracing::debug!(plugin = "booking", hold = %hold_id, expires_at, "seats held");
    Ok((StatusCode::CREATED, Json(load(&app, &hold_id, &principal).await?)))
}

/// A hold with its seats, prices and state, for its buyer (or an admin).
pub(crate) async fn load(app: &App, id: &str, principal: &Principal) -> Result<Hold, ApiError> {
    check_id("the hold id", id)?;
    let user = principal.require_user()?;
    let rows = app.db().query("SELECT * FROM holds WHERE id = ?", params![id]).await?;
    let row = rows.first().ok_or_else(|| ApiError::not_found(format!("there is no hold {id}")))?;
    let owner: Option<String> = row.get("user_id")?;
    if owner.as_deref() != Some(&user.user_id) && user.role < Role::Admin {
        return Err(ApiError::not_found(format!("there is no hold {id}")));
    }
    let showtime_id: String = row.get("showtime_id")?;
    let expires_at: i64 = row.get("expires_at")?;
    let seat_count: i64 = row.get("seat_count")?;
    let currency: String = app
        .db()
        .query("SELECT currency FROM showtimes WHERE id = ?", params![&showtime_id])
        .await?
        .first()
        .map(|r| r.get("currency"))
        .transpose()?
        .unwrap_or_default();
    let seats = app
        .db()
        .query(
            "SELECT c.seat_id, c.order_id, c.state, c.expires_at, s.category, p.amount FROM seat_claims c \
             JOIN showtime_seats s ON s.showtime_id = c.showtime_id AND s.seat_id = c.seat_id \
             JOIN showtime_prices p ON p.showtime_id = s.showtime_id AND p.category = s.category \
             WHERE c.hold_id = ? ORDER BY c.seat_id",
            params![id],
        )
        .await?;
    let now = now_ms();
    let mut held = Vec::new();
    let mut live = 0;
    let mut order_id = None;
    for seat in &seats {
        let state: String = seat.get("state")?;
        let until: Option<i64> = seat.get("expires_at")?;
        if state == "sold" || until.is_some_and(|u| u >= now) {
            live += 1;
        }
        order_id = order_id.or(seat.get::<Option<String>>("order_id")?);
        held.push(HeldSeat {
            id: seat.get("seat_id")?,
            category: seat.get("category")?,
            amount: seat.get("amount")?,
        });
    }
    if order_id.is_none() {
        order_id = app
            .db()
            .query("SELECT id FROM orders WHERE hold_id = ?", params![id])
            .await?
            .first()
            .map(|r| r.get("id"))
            .transpose()?;
    }
    let total = money::total(held.iter().map(|s| s.amount))?;
    Ok(Hold {
        id: id.to_owned(),
        showtime_id,
        seats: held,
        total,
        currency,
        expires_at: format_time(expires_at),
        active: live == seat_count,
        order_id,
    })
}

/// A hold of the signed-in buyer.
#[utoipa::path(get, path = "/holds/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = Hold), (status = 404, description = "no such hold of yours", body = ApiError)))]
pub async fn get_hold(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Hold>, ApiError> {
    Ok(Json(load(&app, &id, &principal).await?))
}

/// Releases a hold's seats now (before it expires).
#[utoipa::path(delete, path = "/holds/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "released"), (status = 404, description = "no such hold of yours", body = ApiError),
    (status = 409, description = "it was checked out: cancel the order instead", body = ApiError)))]
pub async fn release_hold(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hold = load(&app, &id, &principal).await?;
    if let Some(order) = hold.order_id {
        return Err(ApiError::conflict(format!(
            "the hold was checked out as the order {order}; cancel the order instead"
        )));
    }
    let hold_id = &id;
    app.db()
        .transaction(|tx| async move {
            tx.execute("DELETE FROM seat_claims WHERE hold_id = ? AND order_id IS NULL", params![hold_id])
                .await?;
            tx.execute("UPDATE holds SET expires_at = ? WHERE id = ?", params![now_ms() - 1, hold_id])
                .await?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
