//! Orders: checkout of a hold with an idempotency key, payment through the
//! provider, cancellation and refunds, the webhook, the sweeper and what a
//! deleted user leaves behind.
//!
//! States: `pending` → `paid` | `expired` | `canceled`; `paid` → `refunded`
//! (canceled by the buyer before the cutoff); `expired` or `canceled` →
//! `refunded` when a payment still succeeds (the reason says so). Every
//! move is a conditional `UPDATE … WHERE status = ?`, so concurrent moves
//! (the confirm answer and its webhook, the sweeper and a late payment)
//! apply once. `paid` and its tickets are written in one transaction and
//! only when every claim of the order is still its own.

use std::time::Duration;

use cdlc_plugin_api::axum::body::Bytes;
use cdlc_plugin_api::axum::extract::{Path, Query, State};
use cdlc_plugin_api::axum::http::{HeaderMap, HeaderValue, StatusCode};
use cdlc_plugin_api::axum::response::{IntoResponse, Response};
use cdlc_plugin_api::store::Value;
use cdlc_plugin_api::utoipa::{self, IntoParams, ToSchema};
use cdlc_plugin_api::{params, ApiError, Db, FromRow, Json, Principal, Role, Row, Sql, StoreError, Tx};
use serde::{Deserialize, Serialize};

use crate::payments::{CreateIntent, Intent, IntentStatus, PaymentError};
use crate::tickets::{Ticket, TicketRow};
use crate::{check_id, format_time, money, new_id, now_ms, page_size, signature, App};

const MAX_IDEMPOTENCY_KEY: usize = 255;

pub(crate) struct OrderRow {
    pub id: String,
    pub user_id: Option<String>,
    pub hold_id: String,
    pub showtime_id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub expires_at: i64,
    pub provider: Option<String>,
    pub payment_intent: Option<String>,
    pub payment_status: Option<String>,
    pub payment_error: Option<String>,
    pub next_action_url: Option<String>,
    pub refund_state: Option<String>,
    pub refund_id: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

impl FromRow for OrderRow {
    fn from_row(row: &Row) -> Result<OrderRow, StoreError> {
        Ok(OrderRow {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            hold_id: row.get("hold_id")?,
            showtime_id: row.get("showtime_id")?,
            status: row.get("status")?,
            status_reason: row.get("status_reason")?,
            amount: row.get("amount")?,
            currency: row.get("currency")?,
            expires_at: row.get("expires_at")?,
            provider: row.get("provider")?,
            payment_intent: row.get("payment_intent")?,
            payment_status: row.get("payment_status")?,
            payment_error: row.get("payment_error")?,
            next_action_url: row.get("next_action_url")?,
            refund_state: row.get("refund_state")?,
            refund_id: row.get("refund_id")?,
            created_at: row.get("created_at")?,
            paid_at: row.get("paid_at")?,
        })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingOrderItem)]
pub struct OrderItem {
    seat_id: String,
    row: String,
    label: String,
    category: String,
    amount: i64,
}

impl FromRow for OrderItem {
    fn from_row(row: &Row) -> Result<OrderItem, StoreError> {
        Ok(OrderItem {
            seat_id: row.get("seat_id")?,
            row: row.get("row_label")?,
            label: row.get("seat_label")?,
            category: row.get("category")?,
            amount: row.get("amount")?,
        })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingPayment)]
pub struct Payment {
    provider: Option<String>,
    intent_id: Option<String>,
    /// The provider's intent status: `requires_payment_method`, `requires_action`, `succeeded`…
    status: Option<String>,
    /// Why the last attempt failed.
    error: Option<String>,
    /// Where the buyer completes a required action (3-D Secure).
    next_action_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingRefund)]
pub struct RefundInfo {
    /// `owed` until the provider confirms it, then `done`.
    state: String,
    id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingOrder)]
pub struct Order {
    id: String,
    /// `pending`, `paid`, `expired`, `canceled` or `refunded`.
    status: String,
    /// Why it is in that state, when it did not go as planned.
    status_reason: Option<String>,
    showtime_id: String,
    hold_id: String,
    /// Minor units of `currency`.
    amount: i64,
    currency: String,
    /// A pending order expires then, with its hold.
    expires_at: String,
    created_at: String,
    paid_at: Option<String>,
    items: Vec<OrderItem>,
    payment: Payment,
    refund: Option<RefundInfo>,
    tickets: Vec<Ticket>,
}

async fn order_row(db: &impl Sql, id: &str) -> Result<Option<OrderRow>, StoreError> {
    db.query_opt("SELECT * FROM orders WHERE id = ?", params![id]).await
}

/// An order as its buyer (or an admin) sees it.
async fn view(app: &App, row: OrderRow) -> Result<Order, ApiError> {
    let items = app
        .db()
        .query_as("SELECT * FROM order_items WHERE order_id = ? ORDER BY seat_id", params![&row.id])
        .await?;
    let tickets: Vec<TicketRow> = app
        .db()
        .query_as("SELECT * FROM tickets WHERE order_id = ? ORDER BY seat_id", params![&row.id])
        .await?;
    Ok(Order {
        status: row.status,
        status_reason: row.status_reason,
        showtime_id: row.showtime_id,
        hold_id: row.hold_id,
        amount: row.amount,
        currency: row.currency,
        expires_at: format_time(row.expires_at),
        created_at: format_time(row.created_at),
        paid_at: row.paid_at.map(format_time),
        items,
        payment: Payment {
            provider: row.provider,
            intent_id: row.payment_intent,
            status: row.payment_status,
            error: row.payment_error,
            next_action_url: row.next_action_url,
        },
        refund: row.refund_state.map(|state| RefundInfo { state, id: row.refund_id }),
        tickets: tickets.iter().map(|t| t.public(&app.ticket_key)).collect(),
        id: row.id,
    })
}

/// The order `id` of the signed-in user (an admin sees every order).
async fn owned(app: &App, principal: &Principal, id: &str) -> Result<OrderRow, ApiError> {
    check_id("the order id", id)?;
    let user = principal.require_user()?;
    let row = order_row(app.db(), id).await?;
    match row {
        Some(row) if row.user_id.as_deref() == Some(&user.user_id) || user.role >= Role::Admin => Ok(row),
        _ => Err(ApiError::not_found(format!("there is no order {id} of yours"))),
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingCheckout)]
pub struct Checkout {
    /// The hold whose seats to buy.
    hold_id: String,
    /// Where the tickets are e-mailed once paid (optional).
    #[serde(default)]
    email: Option<String>,
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "send an Idempotency-Key header (1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters, e.g. a UUID), \
             and the same one when retrying this checkout"
        )));
    }
    Ok(key.to_owned())
}

enum Placed {
    New(String),
    Replay(String),
}

async fn by_key(db: &impl Sql, user_id: &str, key: &str) -> Result<Option<OrderRow>, StoreError> {
    db.query_opt("SELECT * FROM orders WHERE user_id = ? AND idempotency_key = ?", params![user_id, key])
        .await
}

fn replay_of(order: &OrderRow, hold_id: &str) -> Result<String, ApiError> {
    if order.hold_id == hold_id {
        Ok(order.id.clone())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            format!(
                "this Idempotency-Key was used for the checkout of another hold (order {}); use a new key for a new checkout",
                order.id
            ),
        ))
    }
}

/// Buys the seats of a hold: a `pending` order and its payment intent.
/// A retry with the same `Idempotency-Key` returns the same order (200,
/// `Idempotent-Replayed: true`) and never makes a second intent.
#[utoipa::path(post, path = "/orders", request_body = Checkout,
    params(("Idempotency-Key" = String, Header, description = "the same on every retry of one checkout")),
    responses(
        (status = 201, body = Order), (status = 200, body = Order, description = "a replay"),
        (status = 400, description = "no Idempotency-Key", body = ApiError), (status = 404, description = "no such hold of yours", body = ApiError),
        (status = 409, description = "the hold expired or was checked out", body = ApiError),
        (status = 422, description = "the key was used for another hold", body = ApiError),
        (status = 503, description = "the payment provider cannot be reached; retry with the same key", body = ApiError)))]
pub async fn checkout(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<Checkout>,
) -> Result<Response, ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    let key = idempotency_key(&headers)?;
    check_id("hold_id", &body.hold_id)?;
    let email = body.email.as_deref().map(crate::delivery::check_email).transpose()?;
    let email_ref = &email;
    let order_id = new_id();
    let (user_id, key_ref, hold_id, order_ref) = (&user.user_id, &key, &body.hold_id, &order_id);
    let placed = app
        .db()
        .transaction(|tx| async move {
            if let Some(existing) = by_key(&tx, user_id, key_ref).await? {
                return Ok(Placed::Replay(replay_of(&existing, hold_id)?));
            }
            let now = now_ms();
            let hold = tx
                .query("SELECT seat_count, expires_at FROM holds WHERE id = ? AND user_id = ?", params![hold_id, user_id])
                .await?;
            let Some(hold) = hold.first() else {
                return Err(ApiError::not_found(format!("there is no hold {hold_id} of yours")));
            };
            let (seat_count, expires_at): (i64, i64) = (hold.get("seat_count")?, hold.get("expires_at")?);
            if let Some(other) = tx.query("SELECT id FROM orders WHERE hold_id = ?", params![hold_id]).await?.first() {
                return Err(ApiError::conflict(format!(
                    "the hold was already checked out as the order {} (with another Idempotency-Key)",
                    other.get::<String>("id")?
                )));
            }
            let attached = tx
                .execute(
                    "UPDATE seat_claims SET order_id = ? WHERE hold_id = ? AND order_id IS NULL AND state = 'held' \
                     AND expires_at >= ?",
                    params![order_ref, hold_id, now],
                )
                .await?;
            if attached as i64 != seat_count {
                return Err(ApiError::conflict(format!(
                    "the hold expired at {} and its seats are free again; hold the seats again",
                    format_time(expires_at)
                )));
            }
            let items = tx
                .query(
                    "SELECT c.seat_id, s.row_label, s.seat_label, s.category, p.amount, h.currency FROM seat_claims c \
                     JOIN showtime_seats s ON s.showtime_id = c.showtime_id AND s.seat_id = c.seat_id \
                     JOIN showtime_prices p ON p.showtime_id = s.showtime_id AND p.category = s.category \
                     JOIN showtimes h ON h.id = c.showtime_id WHERE c.order_id = ?",
                    params![order_ref],
                )
                .await?;
            if items.len() as i64 != seat_count {
                return Err(ApiError::conflict(
                    "a seat of the hold has no price any more (the showtime changed); hold the seats again",
                ));
            }
            let amounts = items.iter().map(|r| r.get::<i64>("amount")).collect::<Result<Vec<_>, _>>()?;
            let amount = money::total(amounts)?;
            let currency: String = items[0].get("currency")?;
            let showtime: String = tx
                .query("SELECT showtime_id FROM holds WHERE id = ?", params![hold_id])
                .await?
                .first()
                .map(|r| r.get("showtime_id"))
                .transpose()?
                .unwrap_or_default();
            tx.execute(
                "INSERT INTO orders (id, user_id, idempotency_key, hold_id, showtime_id, status, amount, currency, \
                 expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                params![order_ref, user_id, key_ref, hold_id, showtime, amount, currency, expires_at, now, now],
            )
            .await?;
            let mut sql = String::from(
                "INSERT INTO order_items (order_id, seat_id, row_label, seat_label, category, amount) VALUES ",
            );
            let mut values: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?, ?)" });
                values.push(order_ref.as_str().into());
                for column in ["seat_id", "row_label", "seat_label", "category"] {
                    values.push(item.get::<String>(column)?.into());
                }
                values.push(item.get::<i64>("amount")?.into());
            }
            tx.execute(&sql, &values).await?;
            if let Some(email) = email_ref {
                crate::delivery::set_contact(&tx, order_ref, email).await?;
            }
            Ok(Placed::New(order_ref.clone()))
        })
        .await;
    let placed = match placed {
        Ok(placed) => placed,
        // Two replays raced past the first look-up: the unique key let one in.
        Err(error)
            if error.status() == StatusCode::INTERNAL_SERVER_ERROR
                || error.status() == StatusCode::CONFLICT =>
        {
            match by_key(app.db(), &user.user_id, &key).await? {
                Some(existing) => Placed::Replay(replay_of(&existing, &body.hold_id)?),
                None => return Err(error),
            }
        }
        Err(error) => return Err(error),
    };
    let (status, id) = match placed {
        Placed::New(id) => (StatusCode::CREATED, id),
        Placed::Replay(id) => (StatusCode::OK, id),
    };
    let row = ensure_intent(&app, &id).await?;
    let mut response = (status, Json(view(&app, row).await?)).into_response();
    if status == StatusCode::OK {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub(crate) fn provider_error(error: PaymentError) -> ApiError {
    match error {
        PaymentError::Unavailable(cause) => {
            tracing::warn!(plugin = "booking", %cause, "the payment provider failed");
            ApiError::unavailable(
                "the payment provider cannot be reached; retry with the same Idempotency-Key (nothing is charged twice)",
                Duration::from_secs(5),
            )
        }
        PaymentError::Refused(message) => {
            ApiError::conflict(format!("the payment provider refused: {message}"))
        }
        PaymentError::BadSignature(message) => ApiError::bad_request(message),
    }
}

/// Gives a pending order its payment intent, once: the provider's
/// idempotency key is the order id, and the intent is recorded only where
/// none is.
async fn ensure_intent(app: &App, order_id: &str) -> Result<OrderRow, ApiError> {
    let row = order_row(app.db(), order_id).await?.ok_or_else(|| ApiError::internal("the order vanished"))?;
    let Some(provider) = &app.provider else { return Ok(row) };
    if row.payment_intent.is_some() || row.status != "pending" {
        return Ok(row);
    }
    let intent = provider
        .create_intent(&CreateIntent {
            amount: row.amount,
            currency: row.currency.clone(),
            order_id: row.id.clone(),
        })
        .await
        .map_err(provider_error)?;
    app.db()
        .execute(
            "UPDATE orders SET provider = ?, payment_intent = ?, payment_status = ?, updated_at = ? \
             WHERE id = ? AND payment_intent IS NULL",
            params![provider.name(), &intent.id, intent.status.as_str(), now_ms(), order_id],
        )
        .await?;
    order_row(app.db(), order_id).await?.ok_or_else(|| ApiError::internal("the order vanished"))
}

/// What applying an intent's state did.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Applied {
    Paid,
    /// The payment succeeded but the order could not take it: refund it.
    RefundOwed,
    /// The same, for a subscription's invoice.
    InvoiceRefundOwed,
    Updated,
    Nothing,
}

/// Applies the provider's view of an intent to its order, in `tx`.
async fn apply_in(tx: &Tx, intent: &Intent) -> Result<Applied, ApiError> {
    let Some(order) = order_row(tx, &intent.order_id).await? else { return Ok(Applied::Nothing) };
    if order.payment_intent.as_deref().is_some_and(|known| known != intent.id) {
        return Ok(Applied::Nothing);
    }
    let now = now_ms();
    match intent.status {
        IntentStatus::Succeeded => {
            tx.execute(
                "UPDATE orders SET payment_intent = ?, payment_status = 'succeeded', payment_error = NULL, \
                 next_action_url = NULL, updated_at = ? WHERE id = ?",
                params![&intent.id, now, &order.id],
            )
            .await?;
            let paid = tx
                .execute(
                    "UPDATE orders SET status = 'paid', paid_at = ? WHERE id = ? AND status = 'pending'",
                    params![now, &order.id],
                )
                .await?;
            if paid == 1 {
                let seats = tx
                    .query("SELECT COUNT(*) AS n FROM order_items WHERE order_id = ?", params![&order.id])
                    .await?[0]
                    .get::<i64>("n")?;
                let sold = tx
                    .execute(
                        "UPDATE seat_claims SET state = 'sold', expires_at = NULL WHERE order_id = ? \
                         AND state = 'held' AND expires_at >= ?",
                        params![&order.id, now],
                    )
                    .await?;
                if sold as i64 == seats {
                    issue_tickets(tx, &order, now).await?;
                    return Ok(Applied::Paid);
                }
                tx.execute("DELETE FROM seat_claims WHERE order_id = ?", params![&order.id]).await?;
                tx.execute(
                    "UPDATE orders SET status = 'refunded', refund_state = 'owed', paid_at = NULL, status_reason = ? WHERE id = ?",
                    params![late_reason(order.expires_at), &order.id],
                )
                .await?;
                return Ok(Applied::RefundOwed);
            }
            let owed = tx
                .execute(
                    "UPDATE orders SET status = 'refunded', refund_state = 'owed', status_reason = ? \
                     WHERE id = ? AND status IN ('expired', 'canceled')",
                    params![late_reason(order.expires_at), &order.id],
                )
                .await?;
            Ok(if owed == 1 { Applied::RefundOwed } else { Applied::Nothing })
        }
        status => {
            // Never step back from a success that was already applied.
            let changed = tx
                .execute(
                    "UPDATE orders SET payment_intent = ?, payment_status = ?, payment_error = ?, next_action_url = ?, \
                     updated_at = ? WHERE id = ? AND (payment_status IS NULL OR payment_status <> 'succeeded')",
                    params![
                        &intent.id,
                        status.as_str(),
                        intent.last_error.clone(),
                        intent.next_action_url.clone(),
                        now,
                        &order.id
                    ],
                )
                .await?;
            Ok(if changed == 1 { Applied::Updated } else { Applied::Nothing })
        }
    }
}

fn late_reason(expires_at: i64) -> String {
    format!(
        "the payment succeeded after the seat hold expired at {}, so the seats were no longer this order's; \
         the payment is refunded in full",
        format_time(expires_at)
    )
}

async fn issue_tickets(tx: &Tx, order: &OrderRow, now: i64) -> Result<(), StoreError> {
    let items = tx.query("SELECT seat_id FROM order_items WHERE order_id = ?", params![&order.id]).await?;
    let mut sql = String::from(
        "INSERT INTO tickets (id, order_id, showtime_id, seat_id, user_id, status, created_at) VALUES ",
    );
    let mut values: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, 'valid', ?)" } else { ", (?, ?, ?, ?, ?, 'valid', ?)" });
        values.extend([
            new_id().into(),
            order.id.as_str().into(),
            order.showtime_id.as_str().into(),
            item.get::<String>("seat_id")?.into(),
            order.user_id.clone().into(),
            now.into(),
        ]);
    }
    tx.execute(&sql, &values).await?;
    crate::delivery::enqueue(tx, &order.id, now).await?;
    Ok(())
}

/// Applies an intent in a transaction of its own, then pays out an owed refund.
async fn apply(app: &App, intent: &Intent) -> Result<Applied, ApiError> {
    let applied = app.db().transaction(|tx| async move { apply_in(&tx, intent).await }).await?;
    if applied == Applied::RefundOwed {
        settle_refund(app, &intent.order_id).await;
    }
    if applied == Applied::Paid {
        announce_paid(app, &intent.order_id).await;
    }
    Ok(applied)
}

/// Publishes `booking.order_paid` (for analytics' revenue per showtime)
/// once an order turned paid; a failure is logged, the order is paid.
async fn announce_paid(app: &App, order_id: &str) {
    let published = match order_row(app.db(), order_id).await {
        Ok(Some(order)) => {
            let payload = serde_json::json!({
                "order_id": order.id, "showtime_id": order.showtime_id,
                "amount": order.amount, "currency": order.currency,
            });
            app.ctx.publish("order_paid", payload).await.map_err(|e| e.to_string())
        }
        Ok(None) => Ok(()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = published {
        tracing::warn!(plugin = "booking", order_id, %error, "cannot announce a paid order");
    }
}

/// Asks the provider for an owed refund; on failure the sweeper asks again
/// (the provider's idempotency key makes a repeat pay out nothing more).
pub(crate) async fn settle_refund(app: &App, order_id: &str) {
    let Some(provider) = &app.provider else { return };
    let row = match order_row(app.db(), order_id).await {
        Ok(Some(row)) if row.refund_state.as_deref() == Some("owed") => row,
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(plugin = "booking", order_id, %error, "cannot read an order owed a refund");
            return;
        }
    };
    let Some(intent) = row.payment_intent else { return };
    match provider.refund(&intent, &format!("refund-{order_id}")).await {
        Ok(refund) => {
            let done = app
                .db()
                .execute(
                    "UPDATE orders SET refund_state = 'done', refund_id = ?, updated_at = ? WHERE id = ? AND refund_state = 'owed'",
                    params![&refund.id, now_ms(), order_id],
                )
                .await;
            if let Err(error) = done {
                tracing::warn!(plugin = "booking", order_id, %error, "a refund was paid but not recorded; the sweeper retries");
            }
        }
        Err(error) => {
            tracing::warn!(plugin = "booking", order_id, %error, "a refund failed; the sweeper retries")
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingPay)]
pub struct Pay {
    /// A TEST card: 4242424242424242 succeeds, 4000000000000002 is declined,
    /// 4000002500003155 needs a confirmation step.
    card_number: String,
}

/// Pays a pending order with a card. A card that needs an action answers
/// 200 with `payment.next_action_url`; a declined card answers 402 and the
/// order stays pending for another card until it expires.
#[utoipa::path(post, path = "/orders/{id}/pay", params(("id" = String, Path)), request_body = Pay, responses(
    (status = 200, body = Order), (status = 402, description = "the card was declined", body = ApiError),
    (status = 404, description = "no such order of yours", body = ApiError),
    (status = 409, description = "the order is not pending or has expired", body = ApiError),
    (status = 503, description = "no payment provider, or it cannot be reached", body = ApiError)))]
pub async fn pay(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<Pay>,
) -> Result<Json<Order>, ApiError> {
    let row = owned(&app, &principal, &id).await?;
    let provider = app.provider()?.clone();
    if row.status != "pending" {
        return Err(ApiError::conflict(format!(
            "the order is {}{}; only a pending order can be paid",
            row.status,
            row.status_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        )));
    }
    if row.expires_at < now_ms() {
        return Err(ApiError::conflict(format!(
            "the order expired at {} with its seat hold; hold the seats again",
            format_time(row.expires_at)
        )));
    }
    if row.payment_status.as_deref() == Some("requires_action") {
        return Err(ApiError::conflict(format!(
            "the payment waits for the buyer's confirmation at {}",
            row.next_action_url.unwrap_or_default()
        )));
    }
    let card: String = body.card_number.chars().filter(|c| !c.is_whitespace()).collect();
    if !(12..=19).contains(&card.len()) || !card.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("card_number must be 12-19 digits"));
    }
    let row = ensure_intent(&app, &id).await?;
    let intent_id = row.payment_intent.ok_or_else(|| ApiError::internal("an order without an intent"))?;
    let intent = provider.confirm(&intent_id, &card).await.map_err(provider_error)?;
    apply(&app, &intent).await?;
    if intent.status == IntentStatus::RequiresPaymentMethod {
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_declined",
            intent.last_error.unwrap_or_else(|| "the card was declined; try another card".into()),
        ));
    }
    let row = owned(&app, &principal, &id).await?;
    Ok(Json(view(&app, row).await?))
}

/// Cancels an order: a pending one releases its seats; a paid one is
/// refunded in full (until `refund_cutoff_minutes` before the showtime, and
/// only while no ticket of it was used).
#[utoipa::path(post, path = "/orders/{id}/cancel", params(("id" = String, Path)), responses(
    (status = 200, body = Order), (status = 404, description = "no such order of yours", body = ApiError),
    (status = 409, description = "too late, a ticket was used, or nothing to cancel", body = ApiError)))]
pub async fn cancel(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let row = owned(&app, &principal, &id).await?;
    match row.status.as_str() {
        "pending" => {
            let order_id = &id;
            app.db()
                .transaction(|tx| async move {
                    let changed = tx
                        .execute(
                            "UPDATE orders SET status = 'canceled', status_reason = 'canceled by the buyer', updated_at = ? \
                             WHERE id = ? AND status = 'pending'",
                            params![now_ms(), order_id],
                        )
                        .await?;
                    if changed == 1 {
                        tx.execute("DELETE FROM seat_claims WHERE order_id = ?", params![order_id]).await?;
                    }
                    Ok::<_, ApiError>(())
                })
                .await?;
            if let (Some(provider), Some(intent)) = (&app.provider, &row.payment_intent) {
                // A payment that succeeds anyway is refunded through its webhook.
                if let Err(error) = provider.cancel(intent).await {
                    tracing::info!(plugin = "booking", order_id = %id, %error, "the intent could not be canceled");
                }
            }
        }
        "paid" => {
            let starts_at: i64 = app
                .db()
                .query("SELECT starts_at FROM showtimes WHERE id = ?", params![&row.showtime_id])
                .await?
                .first()
                .map(|r| r.get("starts_at"))
                .transpose()?
                .unwrap_or(0);
            let cutoff = starts_at - app.settings.refund_cutoff_minutes as i64 * 60_000;
            if now_ms() > cutoff {
                return Err(ApiError::conflict(format!(
                    "a paid order can be canceled until {} minutes before the showtime ({}); it is too late now",
                    app.settings.refund_cutoff_minutes,
                    format_time(starts_at)
                )));
            }
            let order_id = &id;
            app.db()
                .transaction(|tx| async move {
                    let changed = tx
                        .execute(
                            "UPDATE orders SET status = 'refunded', refund_state = 'owed', \
                             status_reason = 'canceled by the buyer; refunded in full', updated_at = ? \
                             WHERE id = ? AND status = 'paid'",
                            params![now_ms(), order_id],
                        )
                        .await?;
                    if changed == 0 {
                        return Err(ApiError::conflict("the order changed meanwhile; look at it again"));
                    }
                    let tickets = tx
                        .query("SELECT COUNT(*) AS n FROM tickets WHERE order_id = ?", params![order_id])
                        .await?[0]
                        .get::<i64>("n")?;
                    let voided = tx
                        .execute(
                            "UPDATE tickets SET status = 'void' WHERE order_id = ? AND status = 'valid' AND used_at IS NULL",
                            params![order_id],
                        )
                        .await?;
                    if voided as i64 != tickets {
                        return Err(ApiError::conflict(
                            "a ticket of this order was already used at the door, so it cannot be refunded",
                        ));
                    }
                    tx.execute("DELETE FROM seat_claims WHERE order_id = ?", params![order_id]).await?;
                    Ok(())
                })
                .await?;
            settle_refund(&app, &id).await;
        }
        other => {
            return Err(ApiError::conflict(format!(
                "the order is {other}{}; there is nothing to cancel",
                row.status_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            )))
        }
    }
    let row = owned(&app, &principal, &id).await?;
    Ok(Json(view(&app, row).await?))
}

/// One order of the signed-in user.
#[utoipa::path(get, path = "/orders/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = Order), (status = 404, description = "no such order of yours", body = ApiError)))]
pub async fn get_order(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let row = owned(&app, &principal, &id).await?;
    Ok(Json(view(&app, row).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct OrdersQuery {
    /// 1-200, default 50.
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingOrderPage)]
pub struct OrderPage {
    items: Vec<Order>,
    next_cursor: Option<String>,
}

/// The signed-in user's orders, newest first.
#[utoipa::path(get, path = "/orders", params(OrdersQuery), responses((status = 200, body = OrderPage)))]
pub async fn list_orders(
    State(app): State<App>,
    principal: Principal,
    Query(query): Query<OrdersQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let user = principal.require_user()?;
    let limit = page_size(query.limit)?;
    let before = query.cursor.unwrap_or_else(|| "~".into());
    let mut rows: Vec<OrderRow> = app
        .db()
        .query_as(
            "SELECT * FROM orders WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            params![&user.user_id, before, (limit + 1) as i64],
        )
        .await?;
    let next_cursor = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows[limit - 1].id.clone()
    });
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(view(&app, row).await?);
    }
    Ok(Json(OrderPage { items, next_cursor }))
}

/// What the webhook answers.
#[derive(Serialize, ToSchema)]
#[schema(as = BookingWebhookReceipt)]
pub struct Receipt {
    received: bool,
    /// An event id seen before: acknowledged, not applied again.
    duplicate: bool,
}

/// The payment provider's webhook: signed (HMAC, timestamped) and
/// deduplicated by event id (the event is recorded in the transaction that
/// applies it, so it is applied once however often it is delivered).
#[utoipa::path(post, path = "/payments/webhook", request_body = String, responses(
    (status = 200, body = Receipt), (status = 400, description = "the signature does not check", body = ApiError),
    (status = 503, description = "no payment provider is configured", body = ApiError)))]
pub async fn webhook(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    let provider = app.provider()?.clone();
    let header = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    let event = provider.verify_webhook(header, &body, now_ms() / 1000).map_err(provider_error)?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(ApiError::bad_request("the event id must be 1-255 characters"));
    }
    let event_ref = &event;
    let outcome = app
        .db()
        .transaction(|tx| async move {
            let recorded = tx
                .execute(
                    "INSERT INTO webhook_events (id, kind, intent, received_at) VALUES (?, ?, ?, ?)",
                    params![&event_ref.id, &event_ref.kind, &event_ref.data.object.id, now_ms()],
                )
                .await;
            match recorded {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => return Ok(None),
                Err(other) => return Err(other.into()),
            }
            let intent = &event_ref.data.object;
            let applied = if !event_ref.kind.starts_with("payment_intent.") {
                Applied::Nothing
            } else if crate::subscriptions::is_invoice(&tx, &intent.order_id).await? {
                match crate::subscriptions::apply_in(&tx, intent).await? {
                    true => Applied::InvoiceRefundOwed,
                    false => Applied::Updated,
                }
            } else {
                apply_in(&tx, intent).await?
            };
            Ok::<_, ApiError>(Some(applied))
        })
        .await?;
    tracing::info!(plugin = "booking", event = %event.id, kind = %event.kind, ?outcome, "webhook");
    match outcome {
        Some(Applied::RefundOwed) => settle_refund(&app, &event.data.object.order_id).await,
        Some(Applied::InvoiceRefundOwed) => {
            crate::subscriptions::settle_refund(&app, &event.data.object.order_id).await
        }
        _ => {}
    }
    if outcome == Some(Applied::Paid) {
        announce_paid(&app, &event.data.object.order_id).await;
    }
    Ok(Json(Receipt { received: true, duplicate: outcome.is_none() }))
}

/// One sweep: frees expired held seats, expires pending orders past their
/// hold, cancels their intents, and pays out owed refunds.
pub(crate) async fn sweep_once(app: &App) -> Result<(), ApiError> {
    let now = now_ms();
    let db = app.db();
    db.execute("DELETE FROM seat_claims WHERE state = 'held' AND expires_at < ?", params![now]).await?;
    db.execute(
        "UPDATE orders SET status = 'expired', status_reason = 'the seat hold expired before the payment succeeded', \
         updated_at = ? WHERE status = 'pending' AND expires_at < ?",
        params![now, now],
    )
    .await?;
    if let Some(provider) = &app.provider {
        let stale = db
            .query(
                "SELECT id, payment_intent, payment_status FROM orders WHERE status = 'expired' \
                 AND payment_status = 'requires_payment_method' LIMIT 50",
                params![],
            )
            .await?;
        for row in &stale {
            let (id, intent, status): (String, Option<String>, String) =
                (row.get("id")?, row.get("payment_intent")?, row.get("payment_status")?);
            let Some(intent) = intent else { continue };
            if provider.cancel(&intent).await.is_ok() {
                db.execute(
                    "UPDATE orders SET payment_status = 'canceled' WHERE id = ? AND payment_status = ?",
                    params![&id, &status],
                )
                .await?;
            }
        }
        reconcile(app, now).await?;
        let owed = db.query("SELECT id FROM orders WHERE refund_state = 'owed' LIMIT 50", params![]).await?;
        for row in &owed {
            settle_refund(app, &row.get::<String>("id")?).await;
        }
    }
    Ok(())
}

/// How long after its last change an unsettled payment is asked after.
const RECONCILE_AFTER_MS: i64 = 3_000;
/// Payments older than this are left alone (the buyer walked away).
const RECONCILE_FOR_MS: i64 = 86_400_000;

/// Asks the provider about payments whose outcome never arrived (a webhook
/// lost while the server was down, a crash between confirm and apply) and
/// applies what it says, so a payment taken always ends as tickets or a refund.
async fn reconcile(app: &App, now: i64) -> Result<(), ApiError> {
    let Some(provider) = &app.provider else { return Ok(()) };
    let unsettled = app
        .db()
        .query(
            "SELECT payment_intent FROM orders WHERE payment_intent IS NOT NULL \
             AND status IN ('pending', 'expired', 'canceled') \
             AND payment_status IN ('requires_payment_method', 'requires_action', 'processing') \
             AND updated_at < ? AND created_at > ? ORDER BY updated_at LIMIT 50",
            params![now - RECONCILE_AFTER_MS, now - RECONCILE_FOR_MS],
        )
        .await?;
    for row in &unsettled {
        let intent_id: String = row.get("payment_intent")?;
        match provider.retrieve(&intent_id).await {
            Ok(intent) => {
                apply(app, &intent).await?;
                // Asked again only after another pause.
                app.db()
                    .execute(
                        "UPDATE orders SET updated_at = ? WHERE payment_intent = ?",
                        params![now_ms(), &intent_id],
                    )
                    .await?;
            }
            Err(error) => tracing::info!(plugin = "booking", %error, "cannot reconcile a payment now"),
        }
    }
    Ok(())
}

/// Sweeps every `sweep_seconds` until the plugin stops.
pub(crate) async fn sweep_forever(app: App) {
    let every = Duration::from_secs(app.settings.sweep_seconds);
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = sweep_once(&app).await {
            tracing::warn!(plugin = "booking", %error, "a sweep failed");
        }
        if let Err(error) = crate::delivery::deliver_due(&app).await {
            tracing::warn!(plugin = "booking", %error, "a ticket delivery pass failed");
        }
        if app.provider.is_some() {
            if let Err(error) = crate::subscriptions::sweep_once(&app).await {
                tracing::warn!(plugin = "booking", %error, "a renewal sweep failed");
            }
        }
    }
}

/// What a deleted user leaves: their live holds and pending orders are
/// released (the seats go back on sale); paid, refunded, expired and
/// canceled orders and their tickets stay for accounting, with the user id
/// removed (anonymized); a paid ticket still admits whoever holds it.
pub(crate) async fn forget_user(db: &Db, user_id: &str) -> Result<(), StoreError> {
    db.transaction(|tx| async move {
        tx.execute(
            "DELETE FROM seat_claims WHERE order_id IS NULL AND hold_id IN (SELECT id FROM holds WHERE user_id = ?)",
            params![user_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM seat_claims WHERE order_id IN (SELECT id FROM orders WHERE user_id = ? AND status = 'pending')",
            params![user_id],
        )
        .await?;
        tx.execute(
            "UPDATE orders SET status = 'canceled', status_reason = 'the buyer''s account was deleted', updated_at = ? \
             WHERE user_id = ? AND status = 'pending'",
            params![now_ms(), user_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM holds WHERE user_id = ? AND id NOT IN (SELECT hold_id FROM orders)",
            params![user_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM order_contacts WHERE order_id IN (SELECT id FROM orders WHERE user_id = ?)",
            params![user_id],
        )
        .await?;
        tx.execute("UPDATE holds SET user_id = NULL WHERE user_id = ?", params![user_id]).await?;
        tx.execute("UPDATE orders SET user_id = NULL WHERE user_id = ?", params![user_id]).await?;
        tx.execute("UPDATE tickets SET user_id = NULL WHERE user_id = ?", params![user_id]).await?;
        tx.execute("DELETE FROM staff WHERE user_id = ?", params![user_id]).await?;
        Ok(())
    })
    .await
}
