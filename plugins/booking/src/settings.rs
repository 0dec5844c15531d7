//! The `[plugins.booking]` section: every field has a default and is
//! checked at start, so a mistake stops the server with a sentence.

use serde::Deserialize;

/// How long a seat hold lasts unless configured.
pub const DEFAULT_HOLD_SECONDS: u64 = 600;
/// How often the sweeper releases expired holds and expires orders.
pub const DEFAULT_SWEEP_SECONDS: u64 = 5;
pub const DEFAULT_MAX_SEATS_PER_HOLD: usize = 10;
/// The most seats one hold may take, whatever the config says.
pub const MAX_SEATS_PER_HOLD_LIMIT: usize = 50;
/// A paid order can be canceled (and refunded) until this long before the showtime.
pub const DEFAULT_REFUND_CUTOFF_MINUTES: u64 = 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Seconds a hold keeps its seats (default 600, ten minutes).
    #[serde(default = "default_hold")]
    pub hold_seconds: u64,
    /// Seconds between sweeps of expired holds, orders and owed refunds.
    #[serde(default = "default_sweep")]
    pub sweep_seconds: u64,
    /// The most seats one hold may take (1..=50).
    #[serde(default = "default_max_seats")]
    pub max_seats_per_hold: usize,
    /// Minutes before the start until which a paid order may be canceled.
    #[serde(default = "default_refund_cutoff")]
    pub refund_cutoff_minutes: u64,
    /// The key that signs ticket QR codes, hex (at least 32 bytes). When
    /// absent, one is generated once and kept in the plugin's store.
    #[serde(default)]
    pub ticket_key: Option<String>,
    /// TEST only: every billing period and trial lasts this many seconds
    /// instead of a month, a year or its days, so that renewals can be
    /// watched in a test. Never set it in production.
    #[serde(default)]
    pub test_period_seconds: Option<u64>,
    /// Seconds between charges of a renewal that failed (default 86400).
    #[serde(default = "default_renewal_retry")]
    pub renewal_retry_seconds: u64,
    /// Charges of one renewal before the subscription ends unpaid (default 3).
    #[serde(default = "default_renewal_attempts")]
    pub renewal_attempts: u32,
    /// Where ticket e-mails go.
    #[serde(default)]
    pub delivery: DeliverySettings,
    /// The payment provider; without it checkout creates orders but paying
    /// answers 503.
    #[serde(default)]
    pub payments: Option<PaymentSettings>,
}

/// The `[plugins.booking.delivery]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// The maildir ticket messages are written to (a mail server's or a
    /// mail client's); default `{data_dir}/plugins/booking/mail`.
    #[serde(default)]
    pub maildir: Option<String>,
    /// The From: of ticket messages.
    #[serde(default = "default_from")]
    pub from: String,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings { maildir: None, from: default_from() }
    }
}

fn default_from() -> String {
    "cdlc tickets <tickets@cdlc.invalid>".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// `test`: the TEST provider process (`cdlc-test-payments`); the only
    /// provider of this build, because no real gateway can run here.
    pub provider: String,
    /// Where the provider's API listens, e.g. `http://127.0.0.1:4242`.
    pub url: String,
    /// The secret key the provider's API wants as a bearer token.
    pub api_key: String,
    /// The secret that signs the provider's webhooks (HMAC-SHA256).
    pub webhook_secret: String,
    /// Seconds a signed webhook stays acceptable (default 300).
    #[serde(default = "default_tolerance")]
    pub webhook_tolerance_seconds: u64,
}

fn default_hold() -> u64 {
    DEFAULT_HOLD_SECONDS
}
fn default_sweep() -> u64 {
    DEFAULT_SWEEP_SECONDS
}
fn default_max_seats() -> usize {
    DEFAULT_MAX_SEATS_PER_HOLD
}
fn default_refund_cutoff() -> u64 {
    DEFAULT_REFUND_CUTOFF_MINUTES
}
fn default_renewal_retry() -> u64 {
    86_400
}
fn default_renewal_attempts() -> u32 {
    3
}
fn default_tolerance() -> u64 {
    300
}

impl Settings {
    /// The checks serde cannot make; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.hold_seconds) {
            return Err(format!("hold_seconds must be 1..=86400, not {}", self.hold_seconds));
        }
        if !(1..=3600).contains(&self.sweep_seconds) {
            return Err(format!("sweep_seconds must be 1..=3600, not {}", self.sweep_seconds));
        }
        if !(1..=MAX_SEATS_PER_HOLD_LIMIT).contains(&self.max_seats_per_hold) {
            return Err(format!(
                "max_seats_per_hold must be 1..={MAX_SEATS_PER_HOLD_LIMIT}, not {}",
                self.max_seats_per_hold
            ));
        }
        if let Some(seconds) = self.test_period_seconds {
            if !(1..=86_400).contains(&seconds) {
                return Err(format!("test_period_seconds must be 1..=86400, not {seconds}"));
            }
        }
        if !(1..=2_592_000).contains(&self.renewal_retry_seconds) {
            return Err(format!(
                "renewal_retry_seconds must be 1..=2592000, not {}",
                self.renewal_retry_seconds
            ));
        }
        if !(1..=10).contains(&self.renewal_attempts) {
            return Err(format!("renewal_attempts must be 1..=10, not {}", self.renewal_attempts));
        }
        if self.delivery.from.is_empty()
            || self.delivery.from.len() > 200
            || self.delivery.from.chars().any(char::is_control)
        {
            return Err(
                "delivery.from must be 1-200 characters on one line, e.g. \"Kino <tickets@kino.example>\""
                    .into(),
            );
        }
        if let Some(key) = &self.ticket_key {
            match hex::decode(key) {
                Ok(bytes) if bytes.len() >= 32 => {}
                _ => return Err("ticket_key must be at least 32 bytes written as hex (64 hex digits)".into()),
            }
        }
        if let Some(payments) = &self.payments {
            if payments.provider != "test" {
                return Err(format!(
                    "payments.provider {:?} is not built in: the only provider is \"test\" (the TEST provider process cdlc-test-payments)",
                    payments.provider
                ));
            }
            if !(payments.url.starts_with("http://") || payments.url.starts_with("https://")) {
                return Err(format!("payments.url must be an http(s) URL, not {:?}", payments.url));
            }
            if payments.webhook_secret.len() < 16 {
                return Err("payments.webhook_secret must be at least 16 characters".into());
            }
            if payments.api_key.is_empty() {
                return Err("payments.api_key must not be empty".into());
            }
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            hold_seconds: DEFAULT_HOLD_SECONDS,
            sweep_seconds: DEFAULT_SWEEP_SECONDS,
            max_seats_per_hold: DEFAULT_MAX_SEATS_PER_HOLD,
            refund_cutoff_minutes: DEFAULT_REFUND_CUTOFF_MINUTES,
            ticket_key: None,
            test_period_seconds: None,
            delivery: DeliverySettings::default(),
            renewal_retry_seconds: default_renewal_retry(),
            renewal_attempts: default_renewal_attempts(),
            payments: None,
        }
    }
}
