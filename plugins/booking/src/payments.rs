//! Payments through a provider shaped like Stripe's PaymentIntents: an
//! intent per order (created with the order's id as idempotency key, so a
//! replayed checkout never makes a second one), confirmed with a card,
//! perhaps needing an action (3-D Secure), then `succeeded` or back to
//! `requires_payment_method` when declined; refunds by intent. Outcomes
//! arrive both in the confirm answer and in signed webhooks; the order
//! applies each once (see `orders::apply_intent`).
//!
//! The one provider of this build is `TestProvider`, a client of the TEST
//! provider process (`cdlc-test-payments`, see `test_provider`): no real
//! gateway can run here, and the trait is where a real one plugs in.

use cdlc_plugin_api::async_trait;
use serde::{Deserialize, Serialize};

use crate::settings::PaymentSettings;
use crate::signature;

/// Where a payment intent is, as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresAction,
    Processing,
    Succeeded,
    Canceled,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::RequiresPaymentMethod => "requires_payment_method",
            IntentStatus::RequiresAction => "requires_action",
            IntentStatus::Processing => "processing",
            IntentStatus::Succeeded => "succeeded",
            IntentStatus::Canceled => "canceled",
        }
    }
}

/// A payment intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: IntentStatus,
    /// The order the intent pays.
    pub order_id: String,
    /// Where the buyer completes a required action (3-D Secure).
    #[serde(default)]
    pub next_action_url: Option<String>,
    /// Why the last confirmation failed ("your card was declined").
    #[serde(default)]
    pub last_error: Option<String>,
}

/// What an order asks the provider to collect.
#[derive(Debug, Clone, Serialize)]
pub struct CreateIntent {
    pub amount: i64,
    pub currency: String,
    pub order_id: String,
}

/// A card saved at the provider for later charges (renewals): cdlc keeps
/// only its id and last four digits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub last4: String,
}

/// A refund of an intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub status: String,
}

/// A verified webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Unique per event: a delivery of an id already seen is a duplicate.
    pub id: String,
    /// `payment_intent.succeeded`, `payment_intent.payment_failed`,
    /// `payment_intent.requires_action`, `charge.refunded`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub data: WebhookData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookData {
    pub object: Intent,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider could not be reached or failed: worth retrying.
    #[error("the payment provider cannot be reached: {0}")]
    Unavailable(String),
    /// The provider refused the call (an intent in the wrong state…).
    #[error("the payment provider refused: {0}")]
    Refused(String),
    /// A webhook whose signature does not check.
    #[error("{0}")]
    BadSignature(String),
}

/// A payment provider: a real one (Stripe) would implement the same calls.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The provider's name, recorded on each order.
    fn name(&self) -> &'static str;
    /// Creates the intent of an order, or returns the one created before
    /// for the same order (the provider's idempotency key is the order id).
    async fn create_intent(&self, request: &CreateIntent) -> Result<Intent, PaymentError>;
    /// Confirms with a card: `succeeded`, `requires_action` (with a URL)
    /// or `requires_payment_method` with `last_error` (declined).
    async fn confirm(&self, intent_id: &str, card_number: &str) -> Result<Intent, PaymentError>;
    /// Saves a card for charges made without the buyer (renewals).
    async fn save_card(&self, card_number: &str) -> Result<PaymentMethod, PaymentError>;
    /// Confirms with a saved card (off-session); the same outcomes as `confirm`.
    async fn confirm_saved(&self, intent_id: &str, payment_method: &str) -> Result<Intent, PaymentError>;
    async fn retrieve(&self, intent_id: &str) -> Result<Intent, PaymentError>;
    /// Cancels an intent that has not succeeded (an order canceled or expired).
    async fn cancel(&self, intent_id: &str) -> Result<Intent, PaymentError>;
    /// Refunds a succeeded intent in full; `idempotency_key` makes a retry
    /// return the first refund instead of paying out twice.
    async fn refund(&self, intent_id: &str, idempotency_key: &str) -> Result<Refund, PaymentError>;
    /// Checks a webhook's signature and reads it.
    fn verify_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<WebhookEvent, PaymentError>;
}

/// The client of the TEST provider process. Named so on purpose: it moves
/// no money and accepts only the documented test cards.
pub struct TestProvider {
    base: String,
    api_key: String,
    webhook_secret: String,
    tolerance_secs: i64,
    http: reqwest::Client,
}

impl TestProvider {
    pub fn new(settings: &PaymentSettings) -> TestProvider {
        TestProvider {
            base: settings.url.trim_end_matches('/').to_owned(),
            api_key: settings.api_key.clone(),
            webhook_secret: settings.webhook_secret.clone(),
            tolerance_secs: i64::try_from(settings.webhook_tolerance_seconds).unwrap_or(i64::MAX),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, PaymentError> {
        let response = request
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| PaymentError::Unavailable(format!("{} ({e})", self.base)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| PaymentError::Unavailable(format!("an answer of an unexpected shape: {e}")));
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        if status.is_server_error() {
            Err(PaymentError::Unavailable(format!("{status}: {message}")))
        } else {
            Err(PaymentError::Refused(message))
        }
    }
}

#[async_trait]
impl PaymentProvider for TestProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    async fn create_intent(&self, request: &CreateIntent) -> Result<Intent, PaymentError> {
        let call = self
            .http
            .post(format!("{}/v1/payment_intents", self.base))
            .header("idempotency-key", &request.order_id)
            .json(request);
        self.send(call).await
    }

    async fn confirm(&self, intent_id: &str, card_number: &str) -> Result<Intent, PaymentError> {
        let call = self
            .http
            .post(format!("{}/v1/payment_intents/{intent_id}/confirm", self.base))
            .json(&serde_json::json!({ "card_number": card_number }));
        self.send(call).await
    }

    async fn save_card(&self, card_number: &str) -> Result<PaymentMethod, PaymentError> {
        let call = self
            .http
            .post(format!("{}/v1/payment_methods", self.base))
            .json(&serde_json::json!({ "card_number": card_number }));
        self.send(call).await
    }

    async fn confirm_saved(&self, intent_id: &str, payment_method: &str) -> Result<Intent, PaymentError> {
        let call = self
            .http
            .post(format!("{}/v1/payment_intents/{intent_id}/confirm", self.base))
            .json(&serde_json::json!({ "payment_method": payment_method }));
        self.send(call).await
    }

    async fn retrieve(&self, intent_id: &str) -> Result<Intent, PaymentError> {
        self.send(self.http.get(format!("{}/v1/payment_intents/{intent_id}", self.base))).await
    }

    async fn cancel(&self, intent_id: &str) -> Result<Intent, PaymentError> {
        self.send(self.http.post(format!("{}/v1/payment_intents/{intent_id}/cancel", self.base))).await
    }

    async fn refund(&self, intent_id: &str, idempotency_key: &str) -> Result<Refund, PaymentError> {
        let call = self
            .http
            .post(format!("{}/v1/refunds", self.base))
            .header("idempotency-key", idempotency_key)
            .json(&serde_json::json!({ "payment_intent": intent_id }));
        self.send(call).await
    }

    fn verify_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<WebhookEvent, PaymentError> {
        let header = signature_header.ok_or_else(|| {
            PaymentError::BadSignature(format!("the webhook has no {} header", signature::HEADER))
        })?;
        signature::verify(&self.webhook_secret, header, body, now_secs, self.tolerance_secs)
            .map_err(PaymentError::BadSignature)?;
        serde_json::from_slice(body)
            .map_err(|e| PaymentError::BadSignature(format!("the webhook body is not an event: {e}")))
    }
}
