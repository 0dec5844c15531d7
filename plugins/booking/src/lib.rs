//! The booking plugin: venues, screens and seat maps, showtimes of catalog
//! titles, seat holds that expire, orders with idempotent checkout,
//! payments through a `PaymentProvider` (the TEST provider process is the
//! one of this build), tickets with signed QR codes and staff check-in.
//!
//! Never selling a seat twice is the store's job, not Rust's: a seat of a
//! showtime is one row of `seat_claims` (primary key `showtime_id, seat_id`),
//! so of any number of concurrent buyers exactly one INSERT wins; an
//! expired claim is deleted by a conditional DELETE in the next buyer's own
//! transaction (and by the sweeper), and reads treat it as free. Never taking
//! money without a ticket: an order turns `paid` and gets its tickets in one
//! transaction, and only if all its claims were still its own; otherwise it
//! is refunded with the reason written on it. See docs/architecture.md,
//! "Booking".

mod delivery;
mod holds;
mod layout;
pub mod money;
mod orders;
pub mod payments;
mod settings;
mod showtimes;
pub mod signature;
mod subscriptions;
pub mod test_provider;
mod tickets;
mod venues;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdlc_plugin_api::utoipa_axum::router::OpenApiRouter;
use cdlc_plugin_api::{
    async_trait, params, routes, ApiError, ApiRouter, DeletedUser, Migration, Plugin, PluginContext,
    PluginError, Sql,
};
// `routes!` names `axum` and `utoipa` by their bare names.
#[allow(unused_imports)]
use cdlc_plugin_api::{axum, utoipa};

use payments::{PaymentProvider, TestProvider};
pub use settings::Settings;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct App {
    pub ctx: PluginContext,
    pub settings: Arc<Settings>,
    pub provider: Option<Arc<dyn PaymentProvider>>,
    pub ticket_key: Arc<[u8]>,
}

impl App {
    pub fn db(&self) -> &cdlc_plugin_api::Db {
        self.ctx.db()
    }

    pub fn provider(&self) -> Result<&Arc<dyn PaymentProvider>, ApiError> {
        self.provider.as_ref().ok_or_else(|| {
            ApiError::unavailable(
                "no payment provider is configured: set [plugins.booking.payments]",
                Duration::from_secs(60),
            )
        })
    }
}

/// The plugin, for the host's list of built-in plugins.
#[derive(Default)]
pub struct Booking {
    app: Mutex<Option<App>>,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Booking {
    pub fn new() -> Booking {
        Booking::default()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Unix milliseconds as RFC 3339 in UTC.
pub(crate) fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// RFC 3339 (`2026-12-01T20:00:00Z`, `…+01:00`) as Unix milliseconds.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|_| {
            ApiError::bad_request(format!(
                "{field} must be an RFC 3339 time such as 2026-12-01T20:00:00Z, not {:?}",
                text.chars().take(40).collect::<String>()
            ))
        })?;
    Ok((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Ids in paths: what this plugin makes (UUIDs) and what the catalog makes.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} {:?} is not an id",
            id.chars().take(70).collect::<String>()
        )))
    }
}

pub(crate) const DEFAULT_PAGE: usize = 50;
pub(crate) const MAX_PAGE: usize = 200;

/// A page size asked for: 1..=`MAX_PAGE`, default `DEFAULT_PAGE`.
pub(crate) fn page_size(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!("limit must be 1..={MAX_PAGE}, not {n}"))),
    }
}

/// A bounded free-text field.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1-{max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

const MIGRATIONS: &[Migration] = &[Migration {
    name: "0001_booking",
    statements: &[
        "CREATE TABLE venues (id VARCHAR(36) PRIMARY KEY, name VARCHAR(200) NOT NULL, city VARCHAR(200), \
         created_at BIGINT NOT NULL)",
        "CREATE TABLE screens (id VARCHAR(36) PRIMARY KEY, venue_id VARCHAR(36) NOT NULL, name VARCHAR(200) NOT NULL, \
         layout TEXT NOT NULL, seat_count BIGINT NOT NULL, map_version BIGINT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE INDEX screens_by_venue ON screens (venue_id)",
        "CREATE TABLE seats (screen_id VARCHAR(36) NOT NULL, seat_id VARCHAR(20) NOT NULL, \
         row_label VARCHAR(8) NOT NULL, seat_label VARCHAR(8) NOT NULL, category VARCHAR(32) NOT NULL, \
         blocked BOOLEAN NOT NULL, is_accessible BOOLEAN NOT NULL, x BIGINT NOT NULL, y BIGINT NOT NULL, \
         PRIMARY KEY (screen_id, seat_id))",
        "CREATE TABLE showtimes (id VARCHAR(36) PRIMARY KEY, screen_id VARCHAR(36) NOT NULL, \
         venue_id VARCHAR(36) NOT NULL, title_id VARCHAR(64) NOT NULL, title_name TEXT, starts_at BIGINT NOT NULL, \
         ends_at BIGINT NOT NULL, runtime_minutes BIGINT NOT NULL, language VARCHAR(16), subtitles VARCHAR(16), \
         format VARCHAR(32), currency VARCHAR(3) NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE INDEX showtimes_by_start ON showtimes (starts_at, id)",
        "CREATE INDEX showtimes_by_title ON showtimes (title_id, starts_at)",
        "CREATE INDEX showtimes_by_venue ON showtimes (venue_id, starts_at)",
        "CREATE INDEX showtimes_by_screen ON showtimes (screen_id, starts_at)",
        "CREATE TABLE showtime_prices (showtime_id VARCHAR(36) NOT NULL, category VARCHAR(32) NOT NULL, \
         name VARCHAR(64) NOT NULL, amount BIGINT NOT NULL, PRIMARY KEY (showtime_id, category))",
        "CREATE TABLE showtime_seats (showtime_id VARCHAR(36) NOT NULL, seat_id VARCHAR(20) NOT NULL, \
         row_label VARCHAR(8) NOT NULL, seat_label VARCHAR(8) NOT NULL, category VARCHAR(32) NOT NULL, \
         blocked BOOLEAN NOT NULL, is_accessible BOOLEAN NOT NULL, x BIGINT NOT NULL, y BIGINT NOT NULL, \
         PRIMARY KEY (showtime_id, seat_id))",
        "CREATE TABLE holds (id VARCHAR(36) PRIMARY KEY, showtime_id VARCHAR(36) NOT NULL, user_id VARCHAR(36), \
         seat_count BIGINT NOT NULL, expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE INDEX holds_by_user ON holds (user_id)",
        "CREATE INDEX holds_by_expiry ON holds (expires_at)",
        // The seat lock: one row per taken seat of a showtime, so one INSERT wins.
        "CREATE TABLE seat_claims (showtime_id VARCHAR(36) NOT NULL, seat_id VARCHAR(20) NOT NULL, \
         hold_id VARCHAR(36) NOT NULL, order_id VARCHAR(36), state VARCHAR(8) NOT NULL, expires_at BIGINT, \
         created_at BIGINT NOT NULL, PRIMARY KEY (showtime_id, seat_id), \
         FOREIGN KEY (showtime_id, seat_id) REFERENCES showtime_seats (showtime_id, seat_id))",
        "CREATE INDEX seat_claims_by_hold ON seat_claims (hold_id)",
        "CREATE INDEX seat_claims_by_order ON seat_claims (order_id)",
        "CREATE INDEX seat_claims_by_expiry ON seat_claims (state, expires_at)",
        "CREATE TABLE orders (id VARCHAR(36) PRIMARY KEY, user_id VARCHAR(36), idempotency_key VARCHAR(255) NOT NULL, \
         hold_id VARCHAR(36) NOT NULL, showtime_id VARCHAR(36) NOT NULL, status VARCHAR(16) NOT NULL, \
         status_reason TEXT, amount BIGINT NOT NULL, currency VARCHAR(3) NOT NULL, expires_at BIGINT NOT NULL, \
         provider VARCHAR(32), payment_intent VARCHAR(64), payment_status VARCHAR(32), payment_error TEXT, \
         next_action_url TEXT, refund_state VARCHAR(8), refund_id VARCHAR(64), created_at BIGINT NOT NULL, \
         paid_at BIGINT, updated_at BIGINT NOT NULL)",
        "CREATE UNIQUE INDEX orders_by_key ON orders (user_id, idempotency_key)",
        "CREATE UNIQUE INDEX orders_by_hold ON orders (hold_id)",
        "CREATE INDEX orders_by_status ON orders (status, expires_at)",
        "CREATE INDEX orders_by_intent ON orders (payment_intent)",
        "CREATE INDEX orders_by_user ON orders (user_id, id)",
        "CREATE INDEX orders_by_refund ON orders (refund_state)",
        "CREATE TABLE order_items (order_id VARCHAR(36) NOT NULL, seat_id VARCHAR(20) NOT NULL, \
         row_label VARCHAR(8) NOT NULL, seat_label VARCHAR(8) NOT NULL, category VARCHAR(32) NOT NULL, \
         amount BIGINT NOT NULL, PRIMARY KEY (order_id, seat_id))",
        "CREATE TABLE tickets (id VARCHAR(36) PRIMARY KEY, order_id VARCHAR(36) NOT NULL, \
         showtime_id VARCHAR(36) NOT NULL, seat_id VARCHAR(20) NOT NULL, user_id VARCHAR(36), \
         status VARCHAR(8) NOT NULL, used_at BIGINT, used_by VARCHAR(36), created_at BIGINT NOT NULL)",
        "CREATE INDEX tickets_by_order ON tickets (order_id)",
        "CREATE INDEX tickets_by_seat ON tickets (showtime_id, seat_id)",
        "CREATE TABLE webhook_events (id VARCHAR(255) PRIMARY KEY, kind VARCHAR(64) NOT NULL, \
         intent VARCHAR(64), received_at BIGINT NOT NULL)",
        "CREATE TABLE staff (user_id VARCHAR(36) PRIMARY KEY, added_by VARCHAR(36), added_at BIGINT NOT NULL)",
        "CREATE TABLE secrets (name VARCHAR(64) PRIMARY KEY, secret_hex TEXT NOT NULL)",
    ],
}, Migration {
    name: "0002_subscriptions",
    statements: &[
        "CREATE TABLE plans (id VARCHAR(36) PRIMARY KEY, name VARCHAR(200) NOT NULL, \
         billing_interval VARCHAR(8) NOT NULL, amount BIGINT NOT NULL, currency VARCHAR(3) NOT NULL, \
         trial_days BIGINT NOT NULL, active BOOLEAN NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE TABLE subscriptions (id VARCHAR(36) PRIMARY KEY, user_id VARCHAR(36), plan_id VARCHAR(36) NOT NULL, \
         idempotency_key VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL, status_reason TEXT, \
         payment_method VARCHAR(64), card_last4 VARCHAR(4), period_index BIGINT NOT NULL, \
         current_period_start BIGINT NOT NULL, current_period_end BIGINT NOT NULL, \
         cancel_at_period_end BOOLEAN NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
        "CREATE UNIQUE INDEX subscriptions_by_key ON subscriptions (user_id, idempotency_key)",
        "CREATE INDEX subscriptions_by_due ON subscriptions (status, current_period_end)",
        // One live subscription per user: of two concurrent subscribes one INSERT wins.
        "CREATE TABLE subscription_locks (user_id VARCHAR(36) PRIMARY KEY, subscription_id VARCHAR(36) NOT NULL)",
        "CREATE INDEX subscription_locks_by_subscription ON subscription_locks (subscription_id)",
        // One charge per period: of several sweepers one INSERT wins.
        "CREATE TABLE invoices (id VARCHAR(36) PRIMARY KEY, subscription_id VARCHAR(36) NOT NULL, \
         period_index BIGINT NOT NULL, status VARCHAR(8) NOT NULL, amount BIGINT NOT NULL, currency VARCHAR(3) NOT NULL, \
         period_start BIGINT NOT NULL, period_end BIGINT NOT NULL, payment_intent VARCHAR(64), payment_error TEXT, \
         next_action_url TEXT, attempts BIGINT NOT NULL, refund_state VARCHAR(8), created_at BIGINT NOT NULL, \
         paid_at BIGINT, updated_at BIGINT NOT NULL)",
        "CREATE UNIQUE INDEX invoices_by_period ON invoices (subscription_id, period_index)",
        "CREATE INDEX invoices_by_status ON invoices (status, updated_at)",
        "CREATE INDEX invoices_by_refund ON invoices (refund_state)",
        "CREATE TABLE premium_assets (asset_id VARCHAR(64) PRIMARY KEY, added_by VARCHAR(36), added_at BIGINT NOT NULL)",
    ],
}, Migration {
    name: "0003_ticket_delivery",
    statements: &[
        // The outbox: written with the tickets, one row per paid order.
        "CREATE TABLE deliveries (order_id VARCHAR(36) PRIMARY KEY, status VARCHAR(16) NOT NULL, \
         attempts BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL, claimed_until BIGINT NOT NULL, \
         last_error TEXT, created_at BIGINT NOT NULL, delivered_at BIGINT)",
        "CREATE INDEX deliveries_by_due ON deliveries (status, next_attempt_at)",
        "CREATE TABLE order_contacts (order_id VARCHAR(36) PRIMARY KEY, email VARCHAR(254) NOT NULL)",
    ],
}];

fn router(app: App) -> ApiRouter {
    OpenApiRouter::new()
        .routes(routes!(venues::create_venue, venues::list_venues))
        .routes(routes!(venues::get_venue))
        .routes(routes!(venues::create_screen))
        .routes(routes!(venues::get_screen))
        .routes(routes!(venues::put_seat_map))
        .routes(routes!(showtimes::create_showtime, showtimes::list_showtimes))
        .routes(routes!(showtimes::get_showtime))
        .routes(routes!(showtimes::showtime_seats))
        .routes(routes!(holds::create_hold))
        .routes(routes!(holds::get_hold, holds::release_hold))
        .routes(routes!(orders::checkout, orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::pay))
        .routes(routes!(orders::cancel))
        .routes(routes!(orders::webhook))
        .routes(routes!(tickets::ticket_qr))
        .routes(routes!(tickets::check_in))
        .routes(routes!(tickets::add_staff, tickets::remove_staff))
        .routes(routes!(subscriptions::list_plans, subscriptions::create_plan))
        .routes(routes!(subscriptions::archive_plan))
        .routes(routes!(subscriptions::subscribe, subscriptions::list_subscriptions))
        .routes(routes!(subscriptions::get_subscription))
        .routes(routes!(subscriptions::cancel_subscription))
        .routes(routes!(subscriptions::resume_subscription))
        .routes(routes!(subscriptions::list_premium))
        .routes(routes!(subscriptions::add_premium, subscriptions::remove_premium))
        .routes(routes!(subscriptions::watch))
        .with_state(app)
}

struct Secret {
    secret_hex: String,
}

impl cdlc_plugin_api::FromRow for Secret {
    fn from_row(row: &cdlc_plugin_api::Row) -> Result<Secret, cdlc_plugin_api::StoreError> {
        Ok(Secret { secret_hex: row.get("secret_hex")? })
    }
}

async fn read_secret(ctx: &PluginContext) -> Result<Option<Secret>, cdlc_plugin_api::StoreError> {
    ctx.db().query_opt::<Secret>("SELECT secret_hex FROM secrets WHERE name = ?", params!["ticket_key"]).await
}

/// The ticket key from config, or the one kept in the store (generated by
/// the first server to start; a second racing server reads the winner's).
async fn ticket_key(ctx: &PluginContext, settings: &Settings) -> Result<Vec<u8>, PluginError> {
    if let Some(hex_key) = &settings.ticket_key {
        return hex::decode(hex_key).map_err(|e| PluginError::Failed(e.to_string()));
    }
    if let Some(secret) = read_secret(ctx).await? {
        return hex::decode(secret.secret_hex)
            .map_err(|e| PluginError::Failed(format!("the stored ticket key: {e}")));
    }
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh)
        .map_err(|e| PluginError::Failed(format!("no randomness for the ticket key: {e}")))?;
    match ctx
        .db()
        .execute(
            "INSERT INTO secrets (name, secret_hex) VALUES (?, ?)",
            params!["ticket_key", hex::encode(fresh)],
        )
        .await
    {
        Ok(_) => Ok(fresh.to_vec()),
        Err(cdlc_plugin_api::StoreError::Conflict(_)) => {
            let secret = read_secret(ctx)
                .await?
                .ok_or_else(|| PluginError::Failed("the ticket key vanished".into()))?;
            hex::decode(secret.secret_hex).map_err(|e| PluginError::Failed(e.to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

#[async_trait]
impl Plugin for Booking {
    fn name(&self) -> &'static str {
        "booking"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let settings: Settings = ctx.config()?;
        settings.check().map_err(|message| PluginError::Config { plugin: "booking".into(), message })?;
        let provider =
            settings.payments.as_ref().map(|p| Arc::new(TestProvider::new(p)) as Arc<dyn PaymentProvider>);
        let key = ticket_key(ctx, &settings).await?;
        let app = App { ctx: ctx.clone(), settings: Arc::new(settings), provider, ticket_key: key.into() };
        let sweeper = tokio::spawn(orders::sweep_forever(app.clone()));
        *self.sweeper.lock().unwrap_or_else(|e| e.into_inner()) = Some(sweeper);
        *self.app.lock().unwrap_or_else(|e| e.into_inner()) = Some(app);
        Ok(())
    }

    fn router(&self, ctx: PluginContext) -> ApiRouter {
        let app = self.app.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // `start` always runs first; without it the routes still answer, with defaults.
        let app = app.unwrap_or_else(|| App {
            ctx,
            settings: Arc::new(Settings::default()),
            provider: None,
            ticket_key: {
                let mut key = vec![0u8; 32];
                let _ = getrandom::fill(&mut key);
                Arc::from(key)
            },
        });
        router(app)
    }

    async fn user_deleted(&self, ctx: &PluginContext, user: &DeletedUser) -> Result<(), PluginError> {
        orders::forget_user(ctx.db(), &user.user_id).await?;
        subscriptions::forget_user(ctx.db(), &user.user_id).await?;
        Ok(())
    }

    async fn stop(&self, _ctx: &PluginContext) {
        if let Some(sweeper) = self.sweeper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            sweeper.abort();
        }
    }
}

impl Drop for Booking {
    fn drop(&mut self) {
        if let Some(sweeper) = self.sweeper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            sweeper.abort();
        }
    }
}
