//! Subscriptions: plans (monthly or yearly, an optional trial), a
//! subscription per user paid by a card saved at the provider, renewals
//! charged by the sweeper, `past_due` after a failed renewal, cancel at
//! period end; and the entitlement it grants: assets marked premium play,
//! through signed URLs, only for users whose subscription is live.
//!
//! States: `trialing` | `incomplete` → `active` → `past_due` → `active` |
//! `canceled`; any live state → `canceled` (at period end when asked, at
//! once when the first payment fails or the account is deleted). One live
//! subscription per user is the store's job: `subscription_locks` has the
//! user as primary key, so of two concurrent subscribes one INSERT wins.
//! A renewal is one `invoices` row per (subscription, period), unique, so
//! of several sweepers (servers) exactly one charges a period.

use std::time::Duration;

use cdlc_plugin_api::axum::extract::{Path, State};
use cdlc_plugin_api::axum::http::{HeaderMap, HeaderValue, StatusCode};
use cdlc_plugin_api::axum::response::{IntoResponse, Response};
use cdlc_plugin_api::utoipa::{self, ToSchema};
use cdlc_plugin_api::{
    params, ApiError, AssetsError, Db, FromRow, Json, Playback, Principal, Role, Row, Sql, StoreError, Tx,
};
use serde::{Deserialize, Serialize};

use crate::orders::{idempotency_key, provider_error};
use crate::payments::{CreateIntent, Intent, IntentStatus};
use crate::{check_id, format_time, money, new_id, now_ms, text, App};

/// How long a first payment that waits for the buyer's confirmation keeps
/// the subscription `incomplete` before it is given up.
const INCOMPLETE_FOR_MS: i64 = 3_600_000;
/// The longest a signed playback URL handed to a subscriber lasts.
const PLAYBACK_TTL: Duration = Duration::from_secs(4 * 3600);

const LIVE: &str = "('trialing', 'incomplete', 'active', 'past_due')";

pub(crate) struct PlanRow {
    id: String,
    name: String,
    billing_interval: String,
    amount: i64,
    currency: String,
    trial_days: i64,
    active: bool,
}

impl FromRow for PlanRow {
    fn from_row(row: &Row) -> Result<PlanRow, StoreError> {
        Ok(PlanRow {
            id: row.get("id")?,
            name: row.get("name")?,
            billing_interval: row.get("billing_interval")?,
            amount: row.get("amount")?,
            currency: row.get("currency")?,
            trial_days: row.get("trial_days")?,
            active: row.get("active")?,
        })
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingPlan)]
pub struct Plan {
    id: String,
    name: String,
    /// `month` or `year`.
    interval: String,
    /// Minor units of `currency` per interval.
    amount: i64,
    currency: String,
    /// Days free before the first charge (0: charged at once).
    trial_days: i64,
    /// Archived plans take no new subscribers; existing ones renew.
    active: bool,
}

impl From<PlanRow> for Plan {
    fn from(row: PlanRow) -> Plan {
        Plan {
            id: row.id,
            name: row.name,
            interval: row.billing_interval,
            amount: row.amount,
            currency: row.currency,
            trial_days: row.trial_days,
            active: row.active,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingNewPlan)]
pub struct NewPlan {
    /// 1-100 characters, e.g. "Premium monthly".
    name: String,
    /// `month` or `year`.
    interval: String,
    /// Minor units per interval, 0..=100000000.
    amount: i64,
    /// ISO 4217, e.g. EUR.
    currency: String,
    /// 0..=90 (default 0).
    #[serde(default)]
    trial_days: i64,
}

/// Lists the plans that take subscribers (archived ones too with `?all`).
#[utoipa::path(get, path = "/plans", responses((status = 200, body = [Plan])))]
pub async fn list_plans(State(app): State<App>) -> Result<Json<Vec<Plan>>, ApiError> {
    let rows: Vec<PlanRow> =
        app.db().query_as("SELECT * FROM plans WHERE active = ? ORDER BY amount, id", params![true]).await?;
    Ok(Json(rows.into_iter().map(Plan::from).collect()))
}

/// Creates a plan (admin).
#[utoipa::path(post, path = "/plans", request_body = NewPlan, responses(
    (status = 201, body = Plan), (status = 400, description = "a field out of range", body = ApiError),
    (status = 401, description = "not signed in", body = ApiError), (status = 403, description = "not an admin", body = ApiError)))]
pub async fn create_plan(
    State(app): State<App>,
    principal: Principal,
    Json(body): Json<NewPlan>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    principal.require_role(Role::Admin)?;
    let name = text("name", &body.name, 100)?;
    if !matches!(body.interval.as_str(), "month" | "year") {
        return Err(ApiError::bad_request(format!(
            "interval must be month or year, not {:?}",
            body.interval.chars().take(20).collect::<String>()
        )));
    }
    let amount = money::price("the plan", body.amount)?;
    let currency = money::currency(&body.currency)?;
    if !(0..=90).contains(&body.trial_days) {
        return Err(ApiError::bad_request(format!("trial_days must be 0..=90, not {}", body.trial_days)));
    }
    let row = PlanRow {
        id: new_id(),
        name,
        billing_interval: body.interval,
        amount,
        currency,
        trial_days: body.trial_days,
        active: true,
    };
    app.db()
        .execute(
            "INSERT INTO plans (id, name, billing_interval, amount, currency, trial_days, active, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![&row.id, &row.name, &row.billing_interval, row.amount, &row.currency, row.trial_days, true, now_ms()],
        )
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Archives a plan (admin): it takes no new subscribers; its subscribers renew.
#[utoipa::path(delete, path = "/plans/{id}", params(("id" = String, Path)), responses(
    (status = 204, description = "archived"), (status = 403, description = "not an admin", body = ApiError),
    (status = 404, description = "no such plan", body = ApiError)))]
pub async fn archive_plan(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_role(Role::Admin)?;
    check_id("the plan id", &id)?;
    let changed = app.db().execute("UPDATE plans SET active = ? WHERE id = ?", params![false, &id]).await?;
    if changed == 0 {
        return Err(ApiError::not_found(format!("there is no plan {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn plan_row(db: &impl Sql, id: &str) -> Result<Option<PlanRow>, StoreError> {
    db.query_opt("SELECT * FROM plans WHERE id = ?", params![id]).await
}

pub(crate) struct SubscriptionRow {
    id: String,
    user_id: Option<String>,
    plan_id: String,
    status: String,
    status_reason: Option<String>,
    payment_method: Option<String>,
    card_last4: Option<String>,
    period_index: i64,
    current_period_start: i64,
    current_period_end: i64,
    cancel_at_period_end: bool,
    created_at: i64,
}

impl FromRow for SubscriptionRow {
    fn from_row(row: &Row) -> Result<SubscriptionRow, StoreError> {
        Ok(SubscriptionRow {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            plan_id: row.get("plan_id")?,
            status: row.get("status")?,
            status_reason: row.get("status_reason")?,
            payment_method: row.get("payment_method")?,
            card_last4: row.get("card_last4")?,
            period_index: row.get("period_index")?,
            current_period_start: row.get("current_period_start")?,
            current_period_end: row.get("current_period_end")?,
            cancel_at_period_end: row.get("cancel_at_period_end")?,
            created_at: row.get("created_at")?,
        })
    }
}

impl SubscriptionRow {
    /// Whether it entitles its user now: trialing or active (a renewal
    /// being charged keeps `active` until it fails).
    fn entitles(&self) -> bool {
        matches!(self.status.as_str(), "trialing" | "active")
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingInvoice)]
pub struct Invoice {
    id: String,
    /// 0 for the first period, then one per renewal.
    period_index: i64,
    /// `open`, `paid`, `failed` or `void`.
    status: String,
    amount: i64,
    currency: String,
    period_start: String,
    period_end: String,
    /// Why the last charge failed.
    error: Option<String>,
    /// Where the subscriber confirms a charge the bank wants confirmed.
    next_action_url: Option<String>,
    attempts: i64,
}

struct InvoiceRow {
    id: String,
    subscription_id: String,
    period_index: i64,
    status: String,
    amount: i64,
    currency: String,
    period_start: i64,
    period_end: i64,
    payment_intent: Option<String>,
    payment_error: Option<String>,
    next_action_url: Option<String>,
    attempts: i64,
    refund_state: Option<String>,
}

impl FromRow for InvoiceRow {
    fn from_row(row: &Row) -> Result<InvoiceRow, StoreError> {
        Ok(InvoiceRow {
            id: row.get("id")?,
            subscription_id: row.get("subscription_id")?,
            period_index: row.get("period_index")?,
            status: row.get("status")?,
            amount: row.get("amount")?,
            currency: row.get("currency")?,
            period_start: row.get("period_start")?,
            period_end: row.get("period_end")?,
            payment_intent: row.get("payment_intent")?,
            payment_error: row.get("payment_error")?,
            next_action_url: row.get("next_action_url")?,
            attempts: row.get("attempts")?,
            refund_state: row.get("refund_state")?,
        })
    }
}

impl From<InvoiceRow> for Invoice {
    fn from(row: InvoiceRow) -> Invoice {
        Invoice {
            id: row.id,
            period_index: row.period_index,
            status: row.status,
            amount: row.amount,
            currency: row.currency,
            period_start: format_time(row.period_start),
            period_end: format_time(row.period_end),
            error: row.payment_error,
            next_action_url: row.next_action_url,
            attempts: row.attempts,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingSubscription)]
pub struct Subscription {
    id: String,
    plan: Plan,
    /// `trialing`, `incomplete`, `active`, `past_due` or `canceled`.
    status: String,
    /// Why it is in that state, when it did not go as planned.
    status_reason: Option<String>,
    /// Whether it plays premium assets now.
    entitled: bool,
    current_period_start: String,
    current_period_end: String,
    /// Ends (instead of renewing) at `current_period_end`.
    cancel_at_period_end: bool,
    /// The saved card's last four digits.
    card_last4: Option<String>,
    created_at: String,
    /// Newest first.
    invoices: Vec<Invoice>,
}

async fn subscription_row(db: &impl Sql, id: &str) -> Result<Option<SubscriptionRow>, StoreError> {
    db.query_opt("SELECT * FROM subscriptions WHERE id = ?", params![id]).await
}

async fn view(app: &App, row: SubscriptionRow) -> Result<Subscription, ApiError> {
    let plan =
        plan_row(app.db(), &row.plan_id).await?.ok_or_else(|| ApiError::internal("a plan vanished"))?;
    let invoices: Vec<InvoiceRow> = app
        .db()
        .query_as(
            "SELECT * FROM invoices WHERE subscription_id = ? ORDER BY period_index DESC LIMIT 24",
            params![&row.id],
        )
        .await?;
    Ok(Subscription {
        entitled: row.entitles(),
        plan: plan.into(),
        status: row.status,
        status_reason: row.status_reason,
        current_period_start: format_time(row.current_period_start),
        current_period_end: format_time(row.current_period_end),
        cancel_at_period_end: row.cancel_at_period_end,
        card_last4: row.card_last4,
        created_at: format_time(row.created_at),
        invoices: invoices.into_iter().map(Invoice::from).collect(),
        id: row.id,
    })
}

/// The subscription `id` of the signed-in user (an admin sees every one).
async fn owned(app: &App, principal: &Principal, id: &str) -> Result<SubscriptionRow, ApiError> {
    check_id("the subscription id", id)?;
    let user = principal.require_user()?;
    match subscription_row(app.db(), id).await? {
        Some(row) if row.user_id.as_deref() == Some(&user.user_id) || user.role >= Role::Admin => Ok(row),
        _ => Err(ApiError::not_found(format!("there is no subscription {id} of yours"))),
    }
}

/// The length of one billing period of `interval`, or of a test period when
/// `test_period_seconds` is set (see `Settings`).
fn period_ms(app: &App, interval: &str) -> i64 {
    if let Some(seconds) = app.settings.test_period_seconds {
        return seconds as i64 * 1000;
    }
    let days = if interval == "year" { 365 } else { 30 };
    days * 86_400_000
}

fn trial_ms(app: &App, trial_days: i64) -> i64 {
    if trial_days == 0 {
        return 0;
    }
    match app.settings.test_period_seconds {
        Some(seconds) => seconds as i64 * 1000,
        None => trial_days * 86_400_000,
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BookingSubscribe)]
pub struct Subscribe {
    plan_id: String,
    /// A TEST card (see `POST /orders/{id}/pay`); saved at the provider for renewals.
    card_number: String,
}

enum Started {
    New(String),
    Replay(String),
}

async fn by_key(db: &impl Sql, user_id: &str, key: &str) -> Result<Option<SubscriptionRow>, StoreError> {
    db.query_opt(
        "SELECT * FROM subscriptions WHERE user_id = ? AND idempotency_key = ?",
        params![user_id, key],
    )
    .await
}

/// Subscribes the signed-in user to a plan, paying the first period now
/// (or after the trial) with a card saved at the provider. A retry with the
/// same `Idempotency-Key` returns the same subscription and charges once.
#[utoipa::path(post, path = "/subscriptions", request_body = Subscribe,
    params(("Idempotency-Key" = String, Header, description = "the same on every retry of one subscribe")),
    responses(
        (status = 201, body = Subscription), (status = 200, body = Subscription, description = "a replay"),
        (status = 400, description = "no Idempotency-Key, or not a card", body = ApiError),
        (status = 401, description = "not signed in", body = ApiError),
        (status = 402, description = "the first payment was declined", body = ApiError),
        (status = 404, description = "no such plan", body = ApiError),
        (status = 409, description = "the user already has a live subscription", body = ApiError),
        (status = 503, description = "no payment provider, or it cannot be reached; retry with the same key", body = ApiError)))]
pub async fn subscribe(
    State(app): State<App>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<Subscribe>,
) -> Result<Response, ApiError> {
    let user = principal.require_role(Role::Viewer)?;
    let key = idempotency_key(&headers)?;
    check_id("plan_id", &body.plan_id)?;
    let provider = app.provider()?.clone();
    if let Some(existing) = by_key(app.db(), &user.user_id, &key).await? {
        return answer(&app, existing, StatusCode::OK).await;
    }
    let plan = plan_row(app.db(), &body.plan_id).await?.filter(|p| p.active).ok_or_else(|| {
        ApiError::not_found(format!("there is no plan {} taking subscribers", body.plan_id))
    })?;
    let card: String = body.card_number.chars().filter(|c| !c.is_whitespace()).collect();
    if !(12..=19).contains(&card.len()) || !card.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("card_number must be 12-19 digits"));
    }
    let method = provider.save_card(&card).await.map_err(|e| match e {
        crate::payments::PaymentError::Refused(message) => ApiError::bad_request(message),
        other => provider_error(other),
    })?;
    let now = now_ms();
    let trial = trial_ms(&app, plan.trial_days);
    let period = period_ms(&app, &plan.billing_interval);
    let id = new_id();
    let invoice_id = new_id();
    let (user_id, key_ref, id_ref, plan_ref, method_ref, invoice_ref) =
        (&user.user_id, &key, &id, &plan, &method, &invoice_id);
    let started = app
        .db()
        .transaction(|tx| async move {
            if let Some(existing) = by_key(&tx, user_id, key_ref).await? {
                return Ok(Started::Replay(existing.id));
            }
            let locked = tx
                .execute(
                    "INSERT INTO subscription_locks (user_id, subscription_id) VALUES (?, ?)",
                    params![user_id, id_ref],
                )
                .await;
            match locked {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => {
                    let other: Option<String> = tx
                        .query("SELECT subscription_id FROM subscription_locks WHERE user_id = ?", params![user_id])
                        .await?
                        .first()
                        .map(|r| r.get("subscription_id"))
                        .transpose()?;
                    return Err(ApiError::conflict(format!(
                        "you already have the subscription {}; cancel it before subscribing to another plan",
                        other.unwrap_or_default()
                    )));
                }
                Err(other) => return Err(other.into()),
            }
            let (status, end) = if trial > 0 { ("trialing", now + trial) } else { ("incomplete", now + period) };
            tx.execute(
                "INSERT INTO subscriptions (id, user_id, plan_id, idempotency_key, status, payment_method, card_last4, \
                 period_index, current_period_start, current_period_end, cancel_at_period_end, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                params![id_ref, user_id, &plan_ref.id, key_ref, status, &method_ref.id, &method_ref.last4, now, end, false, now, now],
            )
            .await?;
            if trial == 0 {
                insert_invoice(&tx, invoice_ref, id_ref, 0, plan_ref, now, now + period).await?;
            }
            Ok::<_, ApiError>(Started::New(id_ref.clone()))
        })
        .await;
    let started = match started {
        Ok(started) => started,
        // Two replays raced past the first look-up: the unique key let one in.
        Err(error) if error.status() == StatusCode::INTERNAL_SERVER_ERROR => {
            match by_key(app.db(), &user.user_id, &key).await? {
                Some(existing) => Started::Replay(existing.id),
                None => return Err(error),
            }
        }
        Err(error) => return Err(error),
    };
    let id = match started {
        Started::Replay(id) => {
            let row = subscription_row(app.db(), &id).await?.ok_or_else(|| ApiError::internal("vanished"))?;
            return answer(&app, row, StatusCode::OK).await;
        }
        Started::New(id) => id,
    };
    if trial == 0 {
        let intent = charge(&app, &invoice_id, &method.id).await?;
        if intent.status == IntentStatus::RequiresPaymentMethod {
            return Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                format!(
                    "{}; the subscription was not started, subscribe again with another card",
                    intent.last_error.unwrap_or_else(|| "the card was declined".into())
                ),
            ));
        }
    }
    let row = subscription_row(app.db(), &id).await?.ok_or_else(|| ApiError::internal("vanished"))?;
    answer(&app, row, StatusCode::CREATED).await
}

async fn answer(app: &App, row: SubscriptionRow, status: StatusCode) -> Result<Response, ApiError> {
    let mut response = (status, Json(view(app, row).await?)).into_response();
    if status == StatusCode::OK {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn insert_invoice(
    tx: &Tx,
    id: &str,
    subscription_id: &str,
    period_index: i64,
    plan: &PlanRow,
    start: i64,
    end: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO invoices (id, subscription_id, period_index, status, amount, currency, period_start, period_end, \
         attempts, created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, 0, ?, ?)",
        params![id, subscription_id, period_index, plan.amount, &plan.currency, start, end, now_ms(), now_ms()],
    )
    .await?;
    Ok(())
}

/// Charges an open invoice with the saved card: its intent is made once
/// (the provider's idempotency key is the invoice id) and the outcome applied.
async fn charge(app: &App, invoice_id: &str, payment_method: &str) -> Result<Intent, ApiError> {
    let provider = app.provider()?.clone();
    let invoice =
        invoice_row(app.db(), invoice_id).await?.ok_or_else(|| ApiError::internal("an invoice vanished"))?;
    let intent = provider
        .create_intent(&CreateIntent {
            amount: invoice.amount,
            currency: invoice.currency.clone(),
            order_id: invoice.id.clone(),
        })
        .await
        .map_err(provider_error)?;
    app.db()
        .execute(
            "UPDATE invoices SET payment_intent = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
            params![&intent.id, now_ms(), invoice_id],
        )
        .await?;
    let intent = if intent.status == IntentStatus::RequiresPaymentMethod {
        provider.confirm_saved(&intent.id, payment_method).await.map_err(provider_error)?
    } else {
        intent
    };
    apply(app, &intent).await?;
    Ok(intent)
}

async fn invoice_row(db: &impl Sql, id: &str) -> Result<Option<InvoiceRow>, StoreError> {
    db.query_opt("SELECT * FROM invoices WHERE id = ?", params![id]).await
}

/// Whether an intent pays an invoice (the orders' intents pay orders).
pub(crate) async fn is_invoice(db: &impl Sql, id: &str) -> Result<bool, StoreError> {
    Ok(invoice_row(db, id).await?.is_some())
}

/// Applies the provider's view of an invoice's intent, in `tx`; `true` when
/// a refund is owed (a payment that arrived for a canceled subscription).
pub(crate) async fn apply_in(tx: &Tx, intent: &Intent) -> Result<bool, ApiError> {
    let Some(invoice) = invoice_row(tx, &intent.order_id).await? else { return Ok(false) };
    if invoice.payment_intent.as_deref().is_some_and(|known| known != intent.id) {
        return Ok(false);
    }
    let Some(subscription) = subscription_row(tx, &invoice.subscription_id).await? else { return Ok(false) };
    let now = now_ms();
    match intent.status {
        IntentStatus::Succeeded => {
            let paid = tx
                .execute(
                    "UPDATE invoices SET status = 'paid', payment_intent = ?, payment_error = NULL, next_action_url = NULL, \
                     paid_at = ?, updated_at = ? WHERE id = ? AND status IN ('open', 'failed')",
                    params![&intent.id, now, now, &invoice.id],
                )
                .await?;
            if paid == 0 {
                return Ok(false);
            }
            let advanced = tx
                .execute(
                    &format!(
                        "UPDATE subscriptions SET status = 'active', status_reason = NULL, period_index = ?, \
                         current_period_start = ?, current_period_end = ?, updated_at = ? \
                         WHERE id = ? AND period_index <= ? AND status IN {LIVE}"
                    ),
                    params![
                        invoice.period_index,
                        invoice.period_start,
                        invoice.period_end,
                        now,
                        &subscription.id,
                        invoice.period_index
                    ],
                )
                .await?;
            if advanced == 0 {
                tx.execute(
                    "UPDATE invoices SET refund_state = 'owed', payment_error = ? WHERE id = ?",
                    params![
                        "the payment arrived after the subscription ended; it is refunded in full",
                        &invoice.id
                    ],
                )
                .await?;
                return Ok(true);
            }
            Ok(false)
        }
        IntentStatus::RequiresAction => {
            tx.execute(
                "UPDATE invoices SET next_action_url = ?, payment_error = NULL, updated_at = ? WHERE id = ? AND status = 'open'",
                params![intent.next_action_url.clone(), now, &invoice.id],
            )
            .await?;
            if subscription.status != "incomplete" {
                past_due(tx, &subscription.id, "the bank asks the subscriber to confirm the renewal charge")
                    .await?;
            }
            Ok(false)
        }
        IntentStatus::RequiresPaymentMethod if intent.last_error.is_some() => {
            let why = intent.last_error.clone().unwrap_or_default();
            tx.execute(
                "UPDATE invoices SET status = 'failed', payment_error = ?, next_action_url = NULL, updated_at = ? \
                 WHERE id = ? AND status = 'open'",
                params![&why, now, &invoice.id],
            )
            .await?;
            if subscription.status == "incomplete" {
                end(tx, &subscription.id, &format!("the first payment failed: {why}")).await?;
            } else {
                past_due(tx, &subscription.id, &format!("the renewal charge failed: {why}")).await?;
            }
            Ok(false)
        }
        _ => Ok(false),
    }
}

async fn past_due(tx: &Tx, id: &str, why: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE subscriptions SET status = 'past_due', status_reason = ?, updated_at = ? \
         WHERE id = ? AND status IN ('active', 'trialing', 'past_due')",
        params![why, now_ms(), id],
    )
    .await?;
    Ok(())
}

/// Ends a subscription now and frees its user to subscribe again.
async fn end(tx: &Tx, id: &str, why: &str) -> Result<(), StoreError> {
    let ended = tx
        .execute(
            &format!("UPDATE subscriptions SET status = 'canceled', status_reason = ?, updated_at = ? WHERE id = ? AND status IN {LIVE}"),
            params![why, now_ms(), id],
        )
        .await?;
    if ended == 1 {
        tx.execute("DELETE FROM subscription_locks WHERE subscription_id = ?", params![id]).await?;
        tx.execute(
            "UPDATE invoices SET status = 'void' WHERE subscription_id = ? AND status = 'open'",
            params![id],
        )
        .await?;
    }
    Ok(())
}

/// `end` in a transaction of its own.
async fn end_now(db: &Db, id: &str, why: &str) -> Result<(), StoreError> {
    db.transaction(|tx| async move { end(&tx, id, why).await }).await
}

/// Applies an intent in a transaction of its own, then pays out an owed refund.
pub(crate) async fn apply(app: &App, intent: &Intent) -> Result<(), ApiError> {
    let owed = app.db().transaction(|tx| async move { apply_in(&tx, intent).await }).await?;
    if owed {
        settle_refund(app, &intent.order_id).await;
    }
    Ok(())
}

/// Asks the provider for an invoice's owed refund; the sweeper retries.
pub(crate) async fn settle_refund(app: &App, invoice_id: &str) {
    let Some(provider) = &app.provider else { return };
    let Ok(Some(invoice)) = invoice_row(app.db(), invoice_id).await else { return };
    let (Some("owed"), Some(intent)) = (invoice.refund_state.as_deref(), invoice.payment_intent) else {
        return;
    };
    match provider.refund(&intent, &format!("refund-{invoice_id}")).await {
        Ok(_) => {
            let _ = app
                .db()
                .execute(
                    "UPDATE invoices SET refund_state = 'done' WHERE id = ? AND refund_state = 'owed'",
                    params![invoice_id],
                )
                .await;
        }
        Err(error) => {
            tracing::warn!(plugin = "booking", invoice_id, %error, "a refund failed; the sweeper retries")
        }
    }
}

/// The signed-in user's subscriptions, newest first.
#[utoipa::path(get, path = "/subscriptions", responses(
    (status = 200, body = [Subscription]), (status = 401, description = "not signed in", body = ApiError)))]
pub async fn list_subscriptions(
    State(app): State<App>,
    principal: Principal,
) -> Result<Json<Vec<Subscription>>, ApiError> {
    let user = principal.require_user()?;
    let rows: Vec<SubscriptionRow> = app
        .db()
        .query_as(
            "SELECT * FROM subscriptions WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT 50",
            params![&user.user_id],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(view(&app, row).await?);
    }
    Ok(Json(out))
}

/// One subscription of the signed-in user, with its invoices.
#[utoipa::path(get, path = "/subscriptions/{id}", params(("id" = String, Path)), responses(
    (status = 200, body = Subscription), (status = 404, description = "no such subscription of yours", body = ApiError)))]
pub async fn get_subscription(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let row = owned(&app, &principal, &id).await?;
    Ok(Json(view(&app, row).await?))
}

/// Cancels at the end of the current period (it entitles until then); a
/// subscription whose first payment waits for confirmation ends at once.
#[utoipa::path(post, path = "/subscriptions/{id}/cancel", params(("id" = String, Path)), responses(
    (status = 200, body = Subscription), (status = 404, description = "no such subscription of yours", body = ApiError),
    (status = 409, description = "it has ended already", body = ApiError)))]
pub async fn cancel_subscription(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let row = owned(&app, &principal, &id).await?;
    match row.status.as_str() {
        "canceled" => return Err(ApiError::conflict(format!("the subscription {id} has ended already"))),
        "incomplete" | "past_due" => {
            end_now(app.db(), &id, "canceled by the subscriber").await?;
        }
        _ => {
            app.db()
                .execute(
                    "UPDATE subscriptions SET cancel_at_period_end = ?, updated_at = ? WHERE id = ?",
                    params![true, now_ms(), &id],
                )
                .await?;
        }
    }
    let row = owned(&app, &principal, &id).await?;
    Ok(Json(view(&app, row).await?))
}

/// Takes back a cancel at period end, before the period ends.
#[utoipa::path(post, path = "/subscriptions/{id}/resume", params(("id" = String, Path)), responses(
    (status = 200, body = Subscription), (status = 404, description = "no such subscription of yours", body = ApiError),
    (status = 409, description = "it has ended already", body = ApiError)))]
pub async fn resume_subscription(
    State(app): State<App>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    let row = owned(&app, &principal, &id).await?;
    if !row.entitles() {
        return Err(ApiError::conflict(format!(
            "the subscription {id} is {}; only a trialing or active one can be resumed",
            row.status
        )));
    }
    app.db()
        .execute(
            "UPDATE subscriptions SET cancel_at_period_end = ?, updated_at = ? WHERE id = ?",
            params![false, now_ms(), &id],
        )
        .await?;
    let row = owned(&app, &principal, &id).await?;
    Ok(Json(view(&app, row).await?))
}

/// One renewal sweep: ends subscriptions canceled at period end, opens the
/// next period's invoice of each due one (once: unique per period) and
/// charges it, retries failed renewals, gives up stale first payments.
pub(crate) async fn sweep_once(app: &App) -> Result<(), ApiError> {
    let now = now_ms();
    let due: Vec<SubscriptionRow> = app
        .db()
        .query_as(
            "SELECT * FROM subscriptions WHERE status IN ('trialing', 'active') AND current_period_end <= ? \
             ORDER BY current_period_end LIMIT 50",
            params![now],
        )
        .await?;
    for sub in due {
        if sub.cancel_at_period_end {
            end_now(app.db(), &sub.id, "canceled at the end of the period").await?;
            continue;
        }
        let Some(plan) = plan_row(app.db(), &sub.plan_id).await? else { continue };
        let next = sub.period_index + i64::from(sub.status != "trialing");
        let start = sub.current_period_end;
        let invoice_id = new_id();
        let (id, plan_ref, invoice_ref) = (&sub.id, &plan, &invoice_id);
        let period = period_ms(app, &plan.billing_interval);
        let opened = app
            .db()
            .transaction(|tx| async move {
                match insert_invoice(&tx, invoice_ref, id, next, plan_ref, start, start + period).await {
                    Ok(()) => Ok(true),
                    Err(StoreError::Conflict(_)) => Ok(false),
                    Err(other) => Err(ApiError::from(other)),
                }
            })
            .await?;
        if opened {
            if let Some(method) = &sub.payment_method {
                if let Err(error) = charge(app, &invoice_id, method).await {
                    tracing::warn!(plugin = "booking", subscription = %sub.id, %error, "a renewal charge failed; retried");
                }
            }
        }
    }
    retry_failed(app, now).await?;
    reconcile(app, now).await?;
    let stale = app
        .db()
        .query(
            "SELECT id FROM subscriptions WHERE status = 'incomplete' AND created_at < ? LIMIT 50",
            params![now - INCOMPLETE_FOR_MS],
        )
        .await?;
    for row in &stale {
        let id: String = row.get("id")?;
        end_now(app.db(), &id, "the first payment was never confirmed").await?;
    }
    let owed =
        app.db().query("SELECT id FROM invoices WHERE refund_state = 'owed' LIMIT 50", params![]).await?;
    for row in &owed {
        settle_refund(app, &row.get::<String>("id")?).await;
    }
    Ok(())
}

/// How long after its last change an open invoice is looked after.
const RECONCILE_AFTER_MS: i64 = 3_000;

/// Finishes charges whose outcome never arrived: an open invoice whose
/// intent was never made or confirmed (a crash, the provider down) is
/// charged; one whose intent moved on (a lost webhook, a confirmation the
/// subscriber made) gets the provider's word applied.
async fn reconcile(app: &App, now: i64) -> Result<(), ApiError> {
    let Some(provider) = app.provider.clone() else { return Ok(()) };
    let open: Vec<InvoiceRow> = app
        .db()
        .query_as(
            "SELECT * FROM invoices WHERE status = 'open' AND updated_at < ? AND created_at > ? \
             ORDER BY updated_at LIMIT 50",
            params![now - RECONCILE_AFTER_MS, now - 86_400_000],
        )
        .await?;
    for invoice in open {
        let Some(sub) = subscription_row(app.db(), &invoice.subscription_id).await? else { continue };
        let intent = match &invoice.payment_intent {
            Some(id) => match provider.retrieve(id).await {
                Ok(intent) => Some(intent),
                Err(error) => {
                    tracing::info!(plugin = "booking", %error, "cannot reconcile a renewal now");
                    continue;
                }
            },
            None => None,
        };
        let result = match (intent, &sub.payment_method) {
            (Some(intent), _)
                if intent.status != IntentStatus::RequiresPaymentMethod || intent.last_error.is_some() =>
            {
                apply(app, &intent).await
            }
            (_, Some(method)) if invoice.attempts < i64::from(app.settings.renewal_attempts) => {
                charge(app, &invoice.id, method).await.map(|_| ())
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::info!(plugin = "booking", invoice = %invoice.id, %error, "a renewal is still unsettled");
        }
        app.db()
            .execute(
                "UPDATE invoices SET updated_at = ? WHERE id = ? AND status = 'open'",
                params![now_ms(), &invoice.id],
            )
            .await?;
    }
    Ok(())
}

/// Charges failed renewals again every `renewal_retry_seconds`, at most
/// `renewal_attempts` times, then ends the subscription (unpaid).
async fn retry_failed(app: &App, now: i64) -> Result<(), ApiError> {
    let retry_ms = app.settings.renewal_retry_seconds as i64 * 1000;
    let failed: Vec<InvoiceRow> = app
        .db()
        .query_as(
            "SELECT i.* FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id \
             WHERE i.status = 'failed' AND s.status = 'past_due' \
             AND i.updated_at < ? ORDER BY i.updated_at LIMIT 50",
            params![now - retry_ms],
        )
        .await?;
    for invoice in failed {
        if invoice.attempts >= i64::from(app.settings.renewal_attempts) {
            let why = format!(
                "the renewal charge failed {} times: {}",
                invoice.attempts,
                invoice.payment_error.clone().unwrap_or_default()
            );
            end_now(app.db(), &invoice.subscription_id, &why).await?;
            continue;
        }
        let Some(sub) = subscription_row(app.db(), &invoice.subscription_id).await? else { continue };
        let Some(method) = sub.payment_method else { continue };
        // The same intent (its idempotency key is the invoice), confirmed again.
        let reopened = app
            .db()
            .execute(
                "UPDATE invoices SET status = 'open', updated_at = ? WHERE id = ? AND status = 'failed'",
                params![now_ms(), &invoice.id],
            )
            .await?;
        if reopened == 1 {
            if let Err(error) = charge(app, &invoice.id, &method).await {
                tracing::warn!(plugin = "booking", subscription = %sub.id, %error, "a renewal retry failed");
            }
        }
    }
    Ok(())
}

/// What a deleted user leaves: subscriptions end at once (no more charges),
/// kept anonymized for accounting.
pub(crate) async fn forget_user(db: &Db, user_id: &str) -> Result<(), StoreError> {
    let live = db
        .query(
            &format!("SELECT id FROM subscriptions WHERE user_id = ? AND status IN {LIVE}"),
            params![user_id],
        )
        .await?;
    for row in &live {
        let id: String = row.get("id")?;
        end_now(db, &id, "the subscriber's account was deleted").await?;
    }
    db.execute("UPDATE subscriptions SET user_id = NULL WHERE user_id = ?", params![user_id]).await?;
    Ok(())
}

// ---- premium assets: the entitlement ----

#[derive(Serialize, ToSchema)]
#[schema(as = BookingPremiumAsset)]
pub struct PremiumAsset {
    asset_id: String,
    added_at: String,
}

/// The assets that play only for subscribers.
#[utoipa::path(get, path = "/premium", responses((status = 200, body = [PremiumAsset])))]
pub async fn list_premium(State(app): State<App>) -> Result<Json<Vec<PremiumAsset>>, ApiError> {
    let rows = app
        .db()
        .query("SELECT asset_id, added_at FROM premium_assets ORDER BY added_at DESC LIMIT 500", params![])
        .await?;
    let list = rows
        .iter()
        .map(|r| Ok(PremiumAsset { asset_id: r.get("asset_id")?, added_at: format_time(r.get("added_at")?) }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Json(list))
}

fn assets_error(error: AssetsError) -> ApiError {
    match error {
        AssetsError::SigningDisabled => ApiError::unavailable(error.to_string(), Duration::from_secs(60)),
        AssetsError::Unavailable(_) => ApiError::unavailable(error.to_string(), Duration::from_secs(5)),
    }
}

/// Marks an asset premium (admin). It must be private, so that it plays
/// only through the signed URLs handed to subscribers.
#[utoipa::path(put, path = "/premium/{asset_id}", params(("asset_id" = String, Path)), responses(
    (status = 204, description = "premium"), (status = 403, description = "not an admin", body = ApiError),
    (status = 404, description = "no such asset", body = ApiError),
    (status = 409, description = "the asset is public", body = ApiError)))]
pub async fn add_premium(
    State(app): State<App>,
    principal: Principal,
    Path(asset_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = principal.require_role(Role::Admin)?;
    check_id("the asset id", &asset_id)?;
    let asset = app
        .ctx
        .assets()
        .get(&asset_id)
        .await
        .map_err(assets_error)?
        .ok_or_else(|| ApiError::not_found(format!("there is no asset {asset_id}")))?;
    if !asset.private {
        return Err(ApiError::conflict(format!(
            "the asset {asset_id} is public, so it would play for everyone: make it private \
             (upload with private=true) before marking it premium"
        )));
    }
    let added = app
        .db()
        .execute(
            "INSERT INTO premium_assets (asset_id, added_by, added_at) VALUES (?, ?, ?)",
            params![&asset_id, &admin.user_id, now_ms()],
        )
        .await;
    match added {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(StatusCode::NO_CONTENT),
        Err(other) => Err(other.into()),
    }
}

/// Makes a premium asset an ordinary private one again (admin).
#[utoipa::path(delete, path = "/premium/{asset_id}", params(("asset_id" = String, Path)), responses(
    (status = 204, description = "no longer premium"), (status = 403, description = "not an admin", body = ApiError),
    (status = 404, description = "not premium", body = ApiError)))]
pub async fn remove_premium(
    State(app): State<App>,
    principal: Principal,
    Path(asset_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_role(Role::Admin)?;
    check_id("the asset id", &asset_id)?;
    let removed =
        app.db().execute("DELETE FROM premium_assets WHERE asset_id = ?", params![&asset_id]).await?;
    if removed == 0 {
        return Err(ApiError::not_found(format!("the asset {asset_id} is not premium")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[schema(as = BookingWatch)]
pub struct Watch {
    asset_id: String,
    /// Signed for a premium asset (valid until `playback.expires`).
    #[schema(value_type = Object)]
    playback: Playback,
    /// The subscription that lets the user watch, for a premium asset.
    subscription_id: Option<String>,
}

/// Playback URLs of an asset for the signed-in user: a premium asset's are
/// signed for subscribers, others get 402 with the plans to buy; a
/// non-premium asset's are its public ones.
#[utoipa::path(get, path = "/watch/{asset_id}", params(("asset_id" = String, Path)), responses(
    (status = 200, body = Watch), (status = 401, description = "a premium asset, not signed in", body = ApiError),
    (status = 402, description = "a premium asset and no live subscription: the sentence names the plans", body = ApiError),
    (status = 404, description = "no such ready asset, or a private one that is not premium", body = ApiError),
    (status = 503, description = "signed URLs are not configured", body = ApiError)))]
pub async fn watch(
    State(app): State<App>,
    principal: Principal,
    Path(asset_id): Path<String>,
) -> Result<Json<Watch>, ApiError> {
    check_id("the asset id", &asset_id)?;
    let premium = !app
        .db()
        .query("SELECT asset_id FROM premium_assets WHERE asset_id = ?", params![&asset_id])
        .await?
        .is_empty();
    let assets = app.ctx.assets();
    if !premium {
        let playback = assets.playback(&asset_id).await.map_err(assets_error)?.ok_or_else(|| {
            ApiError::not_found(format!("there is no ready public asset {asset_id} (nor a premium one)"))
        })?;
        return Ok(Json(Watch { asset_id, playback, subscription_id: None }));
    }
    let Some(user) = principal.identity() else {
        return Err(ApiError::unauthorized(format!(
            "the asset {asset_id} is premium: sign in with a subscription to watch it"
        )));
    };
    let live: Option<SubscriptionRow> = app
        .db()
        .query_opt(
            "SELECT * FROM subscriptions WHERE user_id = ? AND status IN ('trialing', 'active') \
             ORDER BY current_period_end DESC LIMIT 1",
            params![&user.user_id],
        )
        .await?;
    let Some(subscription) = live else {
        let plans: Vec<PlanRow> =
            app.db().query_as("SELECT * FROM plans WHERE active = ? ORDER BY amount", params![true]).await?;
        let offer = if plans.is_empty() {
            "no plan is on sale yet".to_owned()
        } else {
            plans
                .iter()
                .map(|p| {
                    format!("{} ({} a {})", p.name, money::display(p.amount, &p.currency), p.billing_interval)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "subscription_required",
            format!(
                "the asset {asset_id} is premium: subscribe to a plan to watch it ({offer}; POST /api/v1/booking/subscriptions)"
            ),
        ));
    };
    let left = (subscription.current_period_end - now_ms()).max(60_000) as u64;
    let ttl = PLAYBACK_TTL.min(Duration::from_millis(left));
    let playback = assets
        .signed_playback(&asset_id, ttl)
        .await
        .map_err(assets_error)?
        .ok_or_else(|| ApiError::not_found(format!("the premium asset {asset_id} is not ready")))?;
    Ok(Json(Watch { asset_id, playback, subscription_id: Some(subscription.id) }))
}
