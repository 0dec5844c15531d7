//! The TEST payment provider: an HTTP process (`cdlc-test-payments`) shaped
//! like Stripe's PaymentIntents API, for tests and demos only. It moves no
//! money and knows four cards:
//!
//! - `4242424242424242` succeeds;
//! - `4000000000000002` is declined (the intent goes back to
//!   `requires_payment_method` with `last_error`);
//! - `4000002500003155` requires an action: the buyer opens
//!   `next_action_url` and approves (`POST` with `action=approve`) or fails it;
//! - `4000000000000341` can be saved (`POST /v1/payment_methods`) but every
//!   charge of it is declined (a renewal that fails).
//!
//! Saved cards (payment methods) let a subscription renew without the buyer.
//!
//! Every outcome is also sent, signed (see `signature`), to the webhook URL,
//! retried with backoff until it is answered 2xx. State is in memory.
//!
//! API (bearer `--api-key`): `POST /v1/payment_intents` (Idempotency-Key),
//! `GET /v1/payment_intents/{id}`, `GET /v1/payment_intents?order_id=`,
//! `POST /v1/payment_intents/{id}/confirm|cancel`, `POST /v1/refunds`
//! (Idempotency-Key), `GET /v1/events`, `POST /v1/events/{id}/resend`
//! (delivers an event again, as a provider retrying would).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdlc_plugin_api::axum::extract::{Form, Path, Query, Request, State};
use cdlc_plugin_api::axum::http::{HeaderMap, StatusCode};
use cdlc_plugin_api::axum::middleware::{self, Next};
use cdlc_plugin_api::axum::response::{Html, IntoResponse, Response};
use cdlc_plugin_api::axum::routing::{get, post};
use cdlc_plugin_api::axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::payments::{Intent, IntentStatus, Refund};
use crate::signature;

pub const CARD_SUCCEEDS: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_REQUIRES_ACTION: &str = "4000002500003155";
/// Saved fine, but every charge of it is declined (a card that lapsed
/// after a trial began).
pub const CARD_CHARGES_FAIL: &str = "4000000000000341";

/// How the TEST provider runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The public base URL of this process (for `next_action_url`).
    pub base_url: String,
    pub api_key: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
}

#[derive(Default)]
struct Ledger {
    intents: HashMap<String, StoredIntent>,
    /// Idempotency key → intent id or refund id.
    keys: HashMap<String, String>,
    refunds: HashMap<String, Refund>,
    /// Saved cards (payment method id → card number): only the provider
    /// keeps card numbers; cdlc keeps the id and the last four digits.
    methods: HashMap<String, String>,
    events: Vec<StoredEvent>,
    next: u64,
}

struct StoredIntent {
    intent: Intent,
    charges: u32,
    amount_refunded: i64,
}

#[derive(Clone)]
struct StoredEvent {
    id: String,
    body: Vec<u8>,
    deliveries: Vec<u16>,
}

#[derive(Clone)]
struct Provider {
    options: Arc<Options>,
    ledger: Arc<Mutex<Ledger>>,
    http: reqwest::Client,
}

type Answer = Result<Response, (StatusCode, Json<Value>)>;

fn refuse(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "error": { "code": "test_provider", "message": message.into() } })))
}

impl Provider {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn intent_json(stored: &StoredIntent) -> Value {
        let mut value = serde_json::to_value(&stored.intent).unwrap_or_default();
        value["charges"] = json!(stored.charges);
        value["amount_refunded"] = json!(stored.amount_refunded);
        value
    }

    /// Records an event and delivers it in the background.
    fn emit(&self, ledger: &mut Ledger, kind: &str, intent: &Intent) {
        ledger.next += 1;
        let id = format!("evt_test_{:06}", ledger.next);
        let created = crate::now_ms() / 1000;
        let body = serde_json::to_vec(
            &json!({ "id": id, "type": kind, "created": created, "data": { "object": intent } }),
        )
        .unwrap_or_default();
        ledger.events.push(StoredEvent { id: id.clone(), body, deliveries: Vec::new() });
        let provider = self.clone();
        tokio::spawn(async move {
            for attempt in 0..8u32 {
                if let Some(status) = provider.deliver(&id).await {
                    if (200..300).contains(&status) {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100u64 << attempt.min(6))).await;
            }
        });
    }

    /// One delivery of event `id`; the status answered, `None` when the
    /// webhook URL could not be reached (or none is configured).
    async fn deliver(&self, id: &str) -> Option<u16> {
        let url = self.options.webhook_url.clone()?;
        let body = self.ledger().events.iter().find(|e| e.id == id)?.body.clone();
        let header = signature::sign(&self.options.webhook_secret, crate::now_ms() / 1000, &body);
        let answer = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(signature::HEADER, header)
            .body(body)
            .send()
            .await;
        let status = answer.map(|a| a.status().as_u16()).unwrap_or(0);
        if let Some(event) = self.ledger().events.iter_mut().find(|e| e.id == id) {
            event.deliveries.push(status);
        }
        (status != 0).then_some(status)
    }
}

async fn require_key(State(provider): State<Provider>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", provider.options.api_key);
    let given = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return refuse(StatusCode::UNAUTHORIZED, "send the provider's api key as Authorization: Bearer KEY")
            .into_response();
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct CreateBody {
    amount: i64,
    currency: String,
    order_id: String,
}

async fn create(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Json(body): Json<CreateBody>,
) -> Answer {
    if body.amount < 0 {
        return Err(refuse(StatusCode::BAD_REQUEST, "amount must be 0 or more minor units"));
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(|k| format!("pi:{k}"));
    let mut ledger = provider.ledger();
    if let Some(existing) = key.as_ref().and_then(|k| ledger.keys.get(k)).cloned() {
        let stored = &ledger.intents[&existing];
        return Ok(Json(Provider::intent_json(stored)).into_response());
    }
    ledger.next += 1;
    let id = format!("pi_test_{:06}", ledger.next);
    let intent = Intent {
        id: id.clone(),
        amount: body.amount,
        currency: body.currency.to_ascii_lowercase(),
        status: IntentStatus::RequiresPaymentMethod,
        order_id: body.order_id,
        next_action_url: None,
        last_error: None,
    };
    let stored = StoredIntent { intent, charges: 0, amount_refunded: 0 };
    let answer = Provider::intent_json(&stored);
    ledger.intents.insert(id.clone(), stored);
    if let Some(key) = key {
        ledger.keys.insert(key, id);
    }
    Ok((StatusCode::OK, Json(answer)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    order_id: Option<String>,
}

async fn list(State(provider): State<Provider>, Query(query): Query<ListQuery>) -> Json<Value> {
    let ledger = provider.ledger();
    let mut intents: Vec<&StoredIntent> = ledger
        .intents
        .values()
        .filter(|s| query.order_id.as_ref().is_none_or(|o| &s.intent.order_id == o))
        .collect();
    intents.sort_by(|a, b| a.intent.id.cmp(&b.intent.id));
    Json(json!({ "data": intents.into_iter().map(Provider::intent_json).collect::<Vec<_>>() }))
}

async fn retrieve(State(provider): State<Provider>, Path(id): Path<String>) -> Answer {
    let ledger = provider.ledger();
    let stored =
        ledger.intents.get(&id).ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no intent {id}")))?;
    Ok(Json(Provider::intent_json(stored)).into_response())
}

#[derive(Deserialize)]
struct ConfirmBody {
    /// A card typed by the buyer…
    #[serde(default)]
    card_number: Option<String>,
    /// …or a saved one (off-session renewals).
    #[serde(default)]
    payment_method: Option<String>,
}

fn known_card(number: &str) -> Result<String, (StatusCode, Json<Value>)> {
    let card: String = number.chars().filter(char::is_ascii_digit).collect();
    if [CARD_SUCCEEDS, CARD_DECLINED, CARD_REQUIRES_ACTION, CARD_CHARGES_FAIL].contains(&card.as_str()) {
        Ok(card)
    } else {
        Err(refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "the TEST provider knows only the cards {CARD_SUCCEEDS}, {CARD_DECLINED}, {CARD_REQUIRES_ACTION} and {CARD_CHARGES_FAIL}"
            ),
        ))
    }
}

#[derive(Deserialize)]
struct MethodBody {
    card_number: String,
}

/// Saves a card for later charges: `{id, last4}`.
async fn create_method(State(provider): State<Provider>, Json(body): Json<MethodBody>) -> Answer {
    let card = known_card(&body.card_number)?;
    let mut ledger = provider.ledger();
    ledger.next += 1;
    let id = format!("pm_test_{:06}", ledger.next);
    let last4 = card[card.len() - 4..].to_owned();
    ledger.methods.insert(id.clone(), card);
    Ok(Json(json!({ "id": id, "last4": last4 })).into_response())
}

fn status_of(ledger: &Ledger, id: &str) -> Result<IntentStatus, (StatusCode, Json<Value>)> {
    ledger
        .intents
        .get(id)
        .map(|s| s.intent.status)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no intent {id}")))
}

/// Changes an intent, announces it as `event` and answers it.
fn transition(
    provider: &Provider,
    ledger: &mut Ledger,
    id: &str,
    event: &str,
    change: impl FnOnce(&mut StoredIntent),
) -> Answer {
    let stored =
        ledger.intents.get_mut(id).ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no intent {id}")))?;
    change(stored);
    let intent = stored.intent.clone();
    let answer = Provider::intent_json(stored);
    provider.emit(ledger, event, &intent);
    Ok(Json(answer).into_response())
}

/// Moves an intent to succeeded; callers allow it only from a state a
/// success can follow, so an intent is charged at most once.
fn succeed(provider: &Provider, ledger: &mut Ledger, id: &str) -> Answer {
    transition(provider, ledger, id, "payment_intent.succeeded", |stored| {
        stored.intent.status = IntentStatus::Succeeded;
        stored.intent.next_action_url = None;
        stored.intent.last_error = None;
        stored.charges += 1;
    })
}

fn fail(provider: &Provider, ledger: &mut Ledger, id: &str, why: &str) -> Answer {
    transition(provider, ledger, id, "payment_intent.payment_failed", |stored| {
        stored.intent.status = IntentStatus::RequiresPaymentMethod;
        stored.intent.next_action_url = None;
        stored.intent.last_error = Some(why.into());
    })
}

async fn confirm(
    State(provider): State<Provider>,
    Path(id): Path<String>,
    Json(body): Json<ConfirmBody>,
) -> Answer {
    let mut ledger = provider.ledger();
    let status = status_of(&ledger, &id)?;
    if status != IntentStatus::RequiresPaymentMethod {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("the intent {id} is {} and cannot be confirmed again", status.as_str()),
        ));
    }
    let card = match (&body.card_number, &body.payment_method) {
        (Some(number), None) => known_card(number)?,
        (None, Some(method)) => ledger
            .methods
            .get(method)
            .cloned()
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no payment method {method}")))?,
        _ => return Err(refuse(StatusCode::BAD_REQUEST, "send either card_number or payment_method")),
    };
    match card.as_str() {
        CARD_SUCCEEDS => succeed(&provider, &mut ledger, &id),
        CARD_DECLINED => fail(&provider, &mut ledger, &id, "the card was declined; try another card"),
        CARD_CHARGES_FAIL => fail(&provider, &mut ledger, &id, "the card was declined (insufficient funds)"),
        CARD_REQUIRES_ACTION => {
            let url = format!("{}/authenticate/{id}", provider.options.base_url);
            transition(&provider, &mut ledger, &id, "payment_intent.requires_action", |stored| {
                stored.intent.status = IntentStatus::RequiresAction;
                stored.intent.next_action_url = Some(url);
                stored.intent.last_error = None;
            })
        }
        _ => Err(refuse(StatusCode::BAD_REQUEST, "unreachable: the card was checked")),
    }
}

async fn cancel(State(provider): State<Provider>, Path(id): Path<String>) -> Answer {
    let mut ledger = provider.ledger();
    let stored = ledger
        .intents
        .get_mut(&id)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no intent {id}")))?;
    if stored.intent.status == IntentStatus::Succeeded {
        return Err(refuse(StatusCode::BAD_REQUEST, "a succeeded intent cannot be canceled; refund it"));
    }
    stored.intent.status = IntentStatus::Canceled;
    stored.intent.next_action_url = None;
    Ok(Json(Provider::intent_json(stored)).into_response())
}

async fn authenticate_page(Path(id): Path<String>) -> Html<String> {
    Html(format!(
        "<!doctype html><title>TEST 3-D Secure</title><h1>TEST provider: authenticate {id}</h1>\
         <form method=post><button name=action value=approve>Approve</button>\
         <button name=action value=fail>Fail</button></form>"
    ))
}

#[derive(Deserialize)]
struct AuthenticateForm {
    action: String,
}

async fn authenticate(
    State(provider): State<Provider>,
    Path(id): Path<String>,
    Form(form): Form<AuthenticateForm>,
) -> Answer {
    let mut ledger = provider.ledger();
    if status_of(&ledger, &id)? != IntentStatus::RequiresAction {
        return Err(refuse(StatusCode::BAD_REQUEST, format!("the intent {id} needs no action now")));
    }
    match form.action.as_str() {
        "approve" => succeed(&provider, &mut ledger, &id),
        "fail" => fail(
            &provider,
            &mut ledger,
            &id,
            "the card's authentication failed; try again or use another card",
        ),
        other => {
            Err(refuse(StatusCode::BAD_REQUEST, format!("action must be approve or fail, not {other:?}")))
        }
    }
}

#[derive(Deserialize)]
struct RefundBody {
    payment_intent: String,
}

async fn refund(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Json(body): Json<RefundBody>,
) -> Answer {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(|k| format!("re:{k}"));
    let mut ledger = provider.ledger();
    if let Some(existing) = key.as_ref().and_then(|k| ledger.keys.get(k)).cloned() {
        return Ok(Json(ledger.refunds[&existing].clone()).into_response());
    }
    let id = body.payment_intent;
    let stored =
        ledger.intents.get(&id).ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no intent {id}")))?;
    if stored.intent.status != IntentStatus::Succeeded {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("the intent {id} has not succeeded; nothing to refund"),
        ));
    }
    let remaining = stored.intent.amount - stored.amount_refunded;
    if remaining <= 0 {
        return Err(refuse(StatusCode::BAD_REQUEST, format!("the intent {id} is already refunded in full")));
    }
    ledger.next += 1;
    let refund = Refund {
        id: format!("re_test_{:06}", ledger.next),
        payment_intent: id.clone(),
        amount: remaining,
        status: "succeeded".into(),
    };
    let intent = {
        let stored = ledger.intents.get_mut(&id).ok_or_else(|| refuse(StatusCode::NOT_FOUND, "gone"))?;
        stored.amount_refunded += remaining;
        stored.intent.clone()
    };
    ledger.refunds.insert(refund.id.clone(), refund.clone());
    if let Some(key) = key {
        ledger.keys.insert(key, refund.id.clone());
    }
    provider.emit(&mut ledger, "charge.refunded", &intent);
    Ok(Json(refund).into_response())
}

async fn events(State(provider): State<Provider>) -> Json<Value> {
    let ledger = provider.ledger();
    let list: Vec<Value> = ledger
        .events
        .iter()
        .map(|e| {
            let body: Value = serde_json::from_slice(&e.body).unwrap_or_default();
            json!({ "id": e.id, "type": body["type"], "intent": body["data"]["object"]["id"], "deliveries": e.deliveries })
        })
        .collect();
    Json(json!({ "data": list }))
}

async fn resend(State(provider): State<Provider>, Path(id): Path<String>) -> Answer {
    if !provider.ledger().events.iter().any(|e| e.id == id) {
        return Err(refuse(StatusCode::NOT_FOUND, format!("no event {id}")));
    }
    let status = provider.deliver(&id).await;
    Ok(Json(json!({ "id": id, "status": status })).into_response())
}

/// The provider's routes.
pub fn router(options: Options) -> Router {
    let provider = Provider {
        options: Arc::new(options),
        ledger: Arc::default(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default(),
    };
    let api = Router::new()
        .route("/v1/payment_intents", post(create).get(list))
        .route("/v1/payment_intents/{id}", get(retrieve))
        .route("/v1/payment_intents/{id}/confirm", post(confirm))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
        .route("/v1/payment_methods", post(create_method))
        .route("/v1/refunds", post(refund))
        .route("/v1/events", get(events))
        .route("/v1/events/{id}/resend", post(resend))
        .layer(middleware::from_fn_with_state(provider.clone(), require_key));
    Router::new()
        .merge(api)
        .route("/authenticate/{id}", get(authenticate_page).post(authenticate))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(provider)
}
