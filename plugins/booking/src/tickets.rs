//! Tickets: one per seat of a paid order, each with a signed QR payload,
//! and the staff check-in that marks a ticket used once.
//!
//! The payload is `CDLC1.{ticket_id}.{mac}`, `mac` the first 16 bytes of
//! HMAC-SHA256(ticket key, `ticket:{ticket_id}`) in hex: short enough for a
//! small QR code, unforgeable without the key, and checked in constant
//! time. Check-in is one conditional `UPDATE … WHERE used_at IS NULL AND
//! status = 'valid'`, so of two scans of the same ticket exactly one wins.

use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::{header, StatusCode};
use cdlc_plugin_api::axum::response::{IntoResponse, Response};
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{
    params, ApiError, FromRow, Identity, Json, Principal, Role, Row, Scope, Sql, StoreError,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{check_id, format_time, now_ms, App};

const PREFIX: &str = "CDLC1";

fn mac(key: &[u8], ticket_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"ticket:");
    mac.update(ticket_id.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The QR payload of a ticket.
pub(crate) fn payload(key: &[u8], ticket_id: &str) -> String {
    format!("{PREFIX}.{ticket_id}.{}", mac(key, ticket_id))
}

/// The ticket id a payload names, if its signature checks.
pub(crate) fn verify(key: &[u8], payload: &str) -> Option<String> {
    let mut parts = payload.trim().split('.');
    let (Some(PREFIX), Some(id), Some(given), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    bool::from(mac(key, id).as_bytes().ct_eq(given.as_bytes())).then(|| id.to_owned())
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingTicket)]
pub struct Ticket {
    pub id: String,
    pub seat_id: String,
    /// `valid`, or `void` once its order was refunded.
    pub status: String,
    pub used_at: Option<String>,
    /// What the QR code encodes.
    pub qr_payload: String,
    /// The QR code as SVG.
    pub qr_svg: String,
}

pub(crate) struct TicketRow {
    pub id: String,
    pub order_id: String,
    pub showtime_id: String,
    pub seat_id: String,
    pub user_id: Option<String>,
    pub status: String,
    pub used_at: Option<i64>,
}

impl FromRow for TicketRow {
    fn from_row(row: &Row) -> Result<TicketRow, StoreError> {
        Ok(TicketRow {
            id: row.get("id")?,
            order_id: row.get("order_id")?,
            showtime_id: row.get("showtime_id")?,
            seat_id: row.get("seat_id")?,
            user_id: row.get("user_id")?,
            status: row.get("status")?,
            used_at: row.get("used_at")?,
        })
    }
}

impl TicketRow {
    pub fn public(&self, key: &[u8]) -> Ticket {
        Ticket {
            id: self.id.clone(),
            seat_id: self.seat_id.clone(),
            status: self.status.clone(),
            used_at: self.used_at.map(format_time),
            qr_payload: payload(key, &self.id),
            qr_svg: format!("/api/v1/booking/tickets/{}/qr.svg", self.id),
        }
    }
}

/// The scope an API key needs to check tickets in (a scanner's key).
pub fn checkin_scope() -> Scope {
    Scope::new("booking:checkin").unwrap_or(Scope::ASSETS_READ)
}

/// Staff: an admin, or a user an admin added to the booking staff; an API
/// key also needs the scope `booking:checkin`.
pub(crate) async fn require_staff<'p>(app: &App, principal: &'p Principal) -> Result<&'p Identity, ApiError> {
    let user = principal.require_user()?;
    let staff = user.role >= Role::Admin
        || !app
            .db()
            .query("SELECT user_id FROM staff WHERE user_id = ?", params![&user.user_id])
            .await?
            .is_empty();
    if !staff {
        return Err(ApiError::forbidden(format!(
            "checking tickets in is for booking staff and {} is not; an admin adds staff with PUT /api/v1/booking/staff/{{user_id}}",
            user.handle
        )));
    }
    principal.require_scope(&checkin_scope())
}

/// A ticket's QR code as SVG, for its buyer, staff or an admin.
#[utoipa::path(get, path = "/tickets/{id}/qr.svg", params(("id" = String, Path)), responses(
    (status = 200, description = "image/svg+xml"), (status = 404, description = "no such ticket of yours", body = ApiError)))]
pub async fn ticket_qr(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_id("the ticket id", &id)?;
    let user = principal.require_user()?;
    let ticket: TicketRow = app
        .db()
        .query_opt("SELECT * FROM tickets WHERE id = ?", params![&id])
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no ticket {id}")))?;
    if ticket.user_id.as_deref() != Some(&user.user_id) && require_staff(&app, &principal).await.is_err() {
        return Err(ApiError::not_found(format!("there is no ticket {id}")));
    }
    let code =
        qrcode::QrCode::new(payload(&app.ticket_key, &ticket.id).as_bytes()).map_err(ApiError::internal)?;
    let svg = code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(256, 256).build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, max-age=300")], svg)
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingCheckIn)]
pub struct CheckIn {
    /// What the scanner read from the QR code.
    payload: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingCheckedIn)]
pub struct CheckedIn {
    ticket_id: String,
    order_id: String,
    seat_id: String,
    used_at: String,
}

/// Checks a ticket in at the door (staff): the first scan admits, any later
/// one is refused with when the ticket was used.
#[utoipa::path(post, path = "/showtimes/{id}/check-ins", params(("id" = String, Path)), request_body = CheckIn, responses(
    (status = 200, body = CheckedIn), (status = 400, description = "not a ticket of this server", body = ApiError),
    (status = 403, description = "not staff", body = ApiError), (status = 409, description = "already used, void, or for another showtime", body = ApiError)))]
pub async fn check_in(
    State(app): State<App>,
    principal: Principal,
    Path(showtime_id): Path<String>,
    Json(body): Json<CheckIn>,
) -> Result<Json<CheckedIn>, ApiError> {
    let staff = require_staff(&app, &principal).await?;
    check_id("the showtime id", &showtime_id)?;
    let ticket_id = verify(&app.ticket_key, &body.payload).ok_or_else(|| {
        ApiError::bad_request("this QR code is not a ticket of this server: its signature does not check")
    })?;
    let ticket: TicketRow =
        app.db().query_opt("SELECT * FROM tickets WHERE id = ?", params![&ticket_id]).await?.ok_or_else(
            || ApiError::not_found(format!("the ticket {ticket_id} does not exist (any more)")),
        )?;
    if ticket.showtime_id != showtime_id {
        let starts: Option<i64> = app
            .db()
            .query("SELECT starts_at FROM showtimes WHERE id = ?", params![&ticket.showtime_id])
            .await?
            .first()
            .map(|r| r.get("starts_at"))
            .transpose()?;
        return Err(ApiError::conflict(format!(
            "the ticket is for another showtime ({}, starting {}); it does not admit to this one",
            ticket.showtime_id,
            starts.map(format_time).unwrap_or_default()
        )));
    }
    let at = now_ms();
    let admitted = app
        .db()
        .execute(
            "UPDATE tickets SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL AND status = 'valid'",
            params![at, &staff.user_id, &ticket_id],
        )
        .await?;
    if admitted == 1 {
        return Ok(Json(CheckedIn {
            ticket_id,
            order_id: ticket.order_id,
            seat_id: ticket.seat_id,
            used_at: format_time(at),
        }));
    }
    let now: TicketRow =
        app.db().query_opt("SELECT * FROM tickets WHERE id = ?", params![&ticket_id]).await?.ok_or_else(
            || ApiError::not_found(format!("the ticket {ticket_id} does not exist (any more)")),
        )?;
    Err(match now.used_at {
        Some(used) => ApiError::conflict(format!(
            "the ticket for seat {} was already used at {}; it admits once",
            now.seat_id,
            format_time(used)
        )),
        None => ApiError::conflict(format!(
            "the ticket for seat {} is {}: its order was refunded, so it admits no one",
            now.seat_id, now.status
        )),
    })
}

/// Adds a user to the booking staff (admin): they may check tickets in.
#[utoipa::path(put, path = "/staff/{user_id}", params(("user_id" = String, Path)), responses(
    (status = 204, description = "the user is staff"), (status = 403, description = "not an admin", body = ApiError)))]
pub async fn add_staff(
    State(app): State<App>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = principal.require_role(Role::Admin)?;
    check_id("the user id", &user_id)?;
    match app
        .db()
        .execute(
            "INSERT INTO staff (user_id, added_by, added_at) VALUES (?, ?, ?)",
            params![&user_id, &admin.user_id, now_ms()],
        )
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(StatusCode::NO_CONTENT),
        Err(other) => Err(other.into()),
    }
}

/// Removes a user from the booking staff (admin).
#[utoipa::path(delete, path = "/staff/{user_id}", params(("user_id" = String, Path)), responses(
    (status = 204, description = "the user is not staff")))]
pub async fn remove_staff(
    State(app): State<App>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_role(Role::Admin)?;
    check_id("the user id", &user_id)?;
    app.db().execute("DELETE FROM staff WHERE user_id = ?", params![&user_id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_checks_only_with_its_key_and_id() {
        let key = [7u8; 32];
        let good = payload(&key, "0190-ab");
        assert_eq!(verify(&key, &good).as_deref(), Some("0190-ab"));
        assert_eq!(verify(&[8u8; 32], &good), None);
        assert_eq!(verify(&key, &good.replace("0190-ab", "0190-ac")), None);
        assert_eq!(verify(&key, "CDLC1.x"), None);
    }
}
